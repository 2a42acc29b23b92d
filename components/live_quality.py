"""Live model quality and concept drift: the served version's predictions on
labelled serving rows, against that version's own evaluation.

- model_quality: AUC, F1 at the exported decision threshold, log loss and
  calibration error on the labelled rows (overall and per payment type);
  a finding when AUC or F1 is below the pipeline's quality gate, or has
  fallen from the version's own evaluation by more than MAX_AUC_DROP /
  MAX_F1_DROP.
- concept_drift: the label rate the model's scores stand for moved. Per
  bucket of score (buckets from the reference scores) and per payment type,
  the mean of (label - score) on the labelled rows against the same on the
  reference rows (the version's eval and test splits scored by the same
  model): a
  finding when the difference is above both Z_THRESHOLD standard errors
  (the sizes of both sides) and MIN_CALIBRATION_SHIFT. Input drift alone
  leaves this unchanged within a bucket; a changed rule does not.
"""

import dataclasses
import json
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from components.skew_detection import CONCEPT_DRIFT, MODEL_QUALITY, Finding
from models import features

MODEL_METADATA_FILE = os.path.join('assets.extra', 'model_metadata.json')
# Fewer labelled rows than this give no quality or calibration verdict.
MIN_LABELLED_ROWS = 200
MIN_BUCKET_ROWS = 30
SCORE_BUCKETS = 5
Z_THRESHOLD = 3.5
MIN_CALIBRATION_SHIFT = 0.05
MAX_AUC_DROP = 0.05
MAX_F1_DROP = 0.15
CALIBRATION_BINS = 10
SLICE_FEATURE = features.STRATIFY_GROUP


def model_metadata(model_dir: str) -> dict:
  with open(os.path.join(model_dir, MODEL_METADATA_FILE)) as f:
    return json.load(f)


def score_examples(model_dir: str, serialized: Sequence[bytes]) -> np.ndarray:
  """P(big tip) of serialized tf.Examples by the pushed model's tf.Example
  signature (the one the Evaluator scores with)."""
  if not serialized:
    return np.array([])
  signature = tf.saved_model.load(model_dir).signatures['serving_tf_example']
  return np.concatenate(
    [
      signature(examples=tf.constant(serialized[i : i + 512]))[
        'probability'
      ].numpy()
      for i in range(0, len(serialized), 512)
    ]
  )


def first_value(example: tf.train.Example, name: str):
  """The first value of a feature (bytes decoded), None when absent."""
  feature = example.features.feature.get(name)
  if feature is None:
    return None
  for kind in ('bytes_list', 'int64_list', 'float_list'):
    values = getattr(feature, kind).value
    if values:
      value = values[0]
      return value.decode('utf-8', 'replace') if kind == 'bytes_list' else value
  return None


def auc(labels: np.ndarray, scores: np.ndarray) -> Optional[float]:
  """Area under the ROC curve (rank statistic, ties averaged); None with
  one class only."""
  positives = labels.sum()
  negatives = len(labels) - positives
  if not positives or not negatives:
    return None
  order = np.argsort(scores, kind='mergesort')
  ranks = np.empty(len(scores))
  sorted_scores = scores[order]
  start = 0
  while start < len(scores):
    end = start
    while (
      end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]
    ):
      end += 1
    ranks[order[start : end + 1]] = (start + end) / 2 + 1
    start = end + 1
  rank_sum = ranks[labels == 1].sum()
  return float(
    (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
  )


def metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
  predicted = scores >= threshold
  true_positives = float(np.sum(predicted & (labels == 1)))
  precision = true_positives / predicted.sum() if predicted.sum() else 0.0
  recall = true_positives / labels.sum() if labels.sum() else 0.0
  f1 = (
    2 * precision * recall / (precision + recall) if precision + recall else 0.0
  )
  clipped = np.clip(scores, 1e-7, 1 - 1e-7)
  log_loss = -np.mean(
    labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped)
  )
  bins = np.minimum(
    (scores * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1
  )
  calibration_error = sum(
    abs(labels[bins == b].mean() - scores[bins == b].mean())
    * np.mean(bins == b)
    for b in range(CALIBRATION_BINS)
    if np.any(bins == b)
  )
  area = auc(labels, scores)
  return {
    'rows': int(len(labels)),
    'label_rate': round(float(labels.mean()), 4) if len(labels) else None,
    'auc': None if area is None else round(area, 4),
    'f1_score': round(f1, 4),
    'precision': round(precision, 4),
    'recall': round(recall, 4),
    'log_loss': round(float(log_loss), 4),
    'calibration_error': round(float(calibration_error), 4),
  }


@dataclasses.dataclass(frozen=True)
class Scored:
  """Labelled rows with the served model's scores."""

  labels: np.ndarray
  scores: np.ndarray
  slices: np.ndarray  # SLICE_FEATURE of each row.


def scored(rows: Sequence[dict], labels, scores) -> Scored:
  return Scored(
    np.asarray(labels, dtype=float),
    np.asarray(scores, dtype=float),
    np.array([str(row.get(SLICE_FEATURE) or '') for row in rows]),
  )


def quality_report(
  live: Scored, threshold: float, own_evaluation: dict
) -> dict:
  """The live metrics, overall and per slice, beside the version's own."""
  return {
    'decision_threshold': threshold,
    'overall': metrics(live.labels, live.scores, threshold),
    'slices': {
      f'{SLICE_FEATURE}={value}': metrics(
        live.labels[live.slices == value],
        live.scores[live.slices == value],
        threshold,
      )
      for value in sorted(set(live.slices))
    },
    'own_evaluation': own_evaluation,
  }


def quality_findings(
  overall: dict, own: dict, min_auc: float, min_f1: float
) -> List[Finding]:
  """Live AUC / F1 below the gate, or fallen from the version's own
  evaluation (`own`: its eval-split metrics) by more than the allowed drop.
  The eval split chose the threshold, so its F1 is optimistic: the F1 drop
  allowed is wide."""
  findings = []
  rows = overall['rows']
  for metric, live, gate, own_value, drop in (
    ('auc', overall['auc'], min_auc, own.get('auc'), MAX_AUC_DROP),
    ('f1_score', overall['f1_score'], min_f1, own.get('f1'), MAX_F1_DROP),
  ):
    if live is None:
      continue
    if live < gate:
      findings.append(
        Finding(
          'overall',
          MODEL_QUALITY,
          metric,
          live,
          gate,
          f'live {metric} {live:.3f} on {rows} labelled rows is below the '
          f'quality gate {gate:g}',
        )
      )
    elif own_value is not None and live < own_value - drop:
      findings.append(
        Finding(
          'overall',
          MODEL_QUALITY,
          metric,
          live,
          round(own_value - drop, 4),
          f'live {metric} {live:.3f} on {rows} labelled rows is more than '
          f"{drop:g} below the version's own evaluation ({own_value:.3f})",
        )
      )
  return findings


def _shift(
  name: str, live: np.ndarray, reference: np.ndarray
) -> Optional[Finding]:
  """A concept_drift finding when the mean residual (label - score) of the
  live rows differs from the reference rows' beyond the threshold."""
  if len(live) < MIN_BUCKET_ROWS or len(reference) < MIN_BUCKET_ROWS:
    return None
  difference = float(live.mean() - reference.mean())
  error = np.sqrt(
    live.var(ddof=1) / len(live) + reference.var(ddof=1) / len(reference)
  )
  threshold = max(Z_THRESHOLD * float(error), MIN_CALIBRATION_SHIFT)
  if abs(difference) <= threshold:
    return None
  return Finding(
    name,
    CONCEPT_DRIFT,
    'calibration_shift',
    round(difference, 4),
    round(threshold, 4),
    f'for {name} the label rate minus the score moved by {difference:+.3f} '
    f'({len(live)} labelled rows against {len(reference)} of the '
    "version's evaluation; threshold "
    f'{threshold:.3f}): the same inputs now get other labels',
  )


def concept_drift_findings(live: Scored, reference: Scored) -> List[Finding]:
  findings = []
  live_residual = live.labels - live.scores
  reference_residual = reference.labels - reference.scores
  edges = np.quantile(
    reference.scores, np.linspace(0, 1, SCORE_BUCKETS + 1)[1:-1]
  )
  live_buckets = np.searchsorted(edges, live.scores, side='right')
  reference_buckets = np.searchsorted(edges, reference.scores, side='right')
  bounds = [0.0, *edges, 1.0]
  for b in range(SCORE_BUCKETS):
    found = _shift(
      f'score {bounds[b]:.2f}-{bounds[b + 1]:.2f}',
      live_residual[live_buckets == b],
      reference_residual[reference_buckets == b],
    )
    if found:
      findings.append(found)
  for value in sorted(set(live.slices) & set(reference.slices)):
    found = _shift(
      f'{SLICE_FEATURE}={value}',
      live_residual[live.slices == value],
      reference_residual[reference.slices == value],
    )
    if found:
      findings.append(found)
  return findings


def label_rows_needed(rows: int) -> Optional[dict]:
  """The note of a quality check too few labelled rows kept from being made."""
  if rows >= MIN_LABELLED_ROWS:
    return None
  return {
    'feature': 'overall',
    'kind': MODEL_QUALITY,
    'rows': rows,
    'rows_needed': MIN_LABELLED_ROWS,
    'description': (
      f'model quality and concept drift not measured: {rows} labelled rows, '
      f'they need at least {MIN_LABELLED_ROWS}'
    ),
  }


def own_evaluation(metadata: dict) -> Dict[str, Optional[float]]:
  """The version's own eval-split metrics from its model_metadata.json."""
  return dict(metadata.get('eval_split_metrics') or {})
