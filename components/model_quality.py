"""Assembles model_analysis.json (layout: docs/model_quality.md): scores the
candidate, the production model, the simple baseline, the rule and
always-no on the test split, gates the candidate against them, and adds the
error analysis, the feature report and the label-consistency check."""

import dataclasses
import json
import os
import time
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import tensorflow as tf

from components import (
  feature_report,
  quality_analysis,
  raw_examples,
  simple_baseline,
)
from core import names
from models import features, slices

# Where the Trainer writes the decision threshold (models/trainer.py).
MODEL_METADATA = os.path.join('assets.extra', 'model_metadata.json')
SERVING_DIR = names.SERVING_MODEL_DIR  # A TFX Model artifact's SavedModel.
BATCH_ROWS = 4096


@dataclasses.dataclass(frozen=True)
class AnalysisSettings:
  """What model_analysis compares and gates on (PipelineConfig sets it)."""

  # The rule baseline: a big tip exactly when rule_feature == rule_value.
  rule_feature: str = 'payment_type'
  rule_value: str = 'Credit Card'
  # (metric, baseline) pairs the candidate must not lose.
  gate: Tuple[Tuple[str, str], ...] = quality_analysis.DEFAULT_GATE
  # How much worse than a baseline the candidate may be on a gated metric.
  tolerance: float = 0.0
  # The feature report retrains the trees once per feature (a few seconds).
  feature_report: bool = True

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self))

  @classmethod
  def from_json(cls, text: str) -> 'AnalysisSettings':
    values = json.loads(text)
    values['gate'] = tuple(tuple(check) for check in values['gate'])
    return cls(**values)


class SavedModelScorer:
  """P(big tipper) of raw rows through a pushed-style SavedModel's
  serving_default (raw features in, so no tf.Example round trip)."""

  def __init__(self, model_uri: str):
    directory = os.path.join(model_uri, SERVING_DIR)
    self._signature = tf.saved_model.load(directory).signatures[
      'serving_default'
    ]
    self._inputs = set(self._signature.structured_input_signature[1])
    with tf.io.gfile.GFile(os.path.join(directory, MODEL_METADATA)) as f:
      self.decision_threshold = float(json.load(f)['decision_threshold'])

  def __call__(self, frame: pd.DataFrame) -> np.ndarray:
    out = []
    for start in range(0, len(frame), BATCH_ROWS):
      inputs = raw_examples.serving_inputs(
        frame.iloc[start : start + BATCH_ROWS]
      )
      out.append(
        self._signature(
          **{k: v for k, v in inputs.items() if k in self._inputs}
        )['probability'].numpy()
      )
    return np.concatenate(out).astype(np.float64)


def _scored(name, description, labels, probabilities, decisions) -> dict:
  return {
    'name': name,
    'description': description,
    'metrics': quality_analysis.metrics(labels, probabilities, decisions),
  }


def analyse(
  read_split: Callable[[str], pd.DataFrame],
  candidate: Callable[[pd.DataFrame], np.ndarray],
  candidate_threshold: float,
  baseline: simple_baseline.SimpleBaseline,
  settings: AnalysisSettings,
  production: Optional[SavedModelScorer] = None,
  feature_names: Sequence[str] = features.SERVING_FEATURES,
) -> dict:
  """The whole model_analysis.json document."""
  timings = {}
  started = time.time()
  test, train = read_split(names.TEST_SPLIT), read_split(names.TRAIN_SPLIT)
  test_labels = raw_examples.labels(test)
  train_labels = raw_examples.labels(train)
  rule_p, rule_decisions = quality_analysis.rule_probabilities(
    train, train_labels, test, settings.rule_feature, settings.rule_value
  )
  candidate_p = candidate(test)
  simple_p = baseline.predict(test)
  no_p, no_decisions = quality_analysis.always_no(train_labels, len(test))
  scored = [
    _scored(
      names.CANDIDATE,
      'the model this run trained',
      test_labels,
      candidate_p,
      candidate_p >= candidate_threshold,
    )
  ]
  if production is not None:
    production_p = production(test)
    scored.append(
      _scored(
        names.PRODUCTION,
        'the model in production (the newest pushed version)',
        test_labels,
        production_p,
        production_p >= production.decision_threshold,
      )
    )
  scored += [
    _scored(
      names.SIMPLE_BASELINE,
      simple_baseline.DESCRIPTION,
      test_labels,
      simple_p,
      simple_p >= baseline.decision_threshold,
    ),
    _scored(
      names.RULE_BASELINE,
      f'a big tip exactly when {settings.rule_feature} is '
      f'{settings.rule_value!r}',
      test_labels,
      rule_p,
      rule_decisions,
    ),
    _scored(
      names.ALWAYS_NO,
      'never a big tip (probability: the train split label rate)',
      test_labels,
      no_p,
      no_decisions,
    ),
  ]
  table = {entry['name']: entry['metrics'] for entry in scored}
  timings['baselines'] = time.time() - started

  started = time.time()
  errors = quality_analysis.error_analysis(
    test,
    test_labels,
    candidate_p,
    simple_p,
    names.SIMPLE_BASELINE,
    slices.SLICES,
    slices.TAGS,
    search_frame=test[list(feature_names)],
    targets=slices.TARGETS,
  )
  timings['error_analysis'] = time.time() - started

  document = {
    'split': names.TEST_SPLIT,
    'decision_threshold': candidate_threshold,
    'baselines': scored,
    'gate': quality_analysis.gate(table, settings.gate, settings.tolerance),
    'error_analysis': errors,
    'calibration': quality_analysis.calibration(test_labels, candidate_p),
    'threshold_curve': quality_analysis.threshold_curve(
      test_labels, candidate_p
    ),
  }

  started = time.time()
  evaluation = read_split(names.EVAL_SPLIT)
  eval_labels = raw_examples.labels(evaluation)
  document['label_consistency'] = {
    split: feature_report.label_consistency(frame, labels, feature_names)
    for split, frame, labels in (
      (names.TRAIN_SPLIT, train, train_labels),
      (names.EVAL_SPLIT, evaluation, eval_labels),
      (names.TEST_SPLIT, test, test_labels),
    )
  }
  if settings.feature_report:
    document['features'] = feature_report.feature_rows(
      feature_names,
      feature_report.mutual_information(train, train_labels, feature_names),
      feature_report.permutation_importance(
        candidate, evaluation, eval_labels, feature_names
      ),
      feature_report.ablation(
        train, train_labels, evaluation, eval_labels, feature_names
      ),
    )
  timings['features_and_labels'] = time.time() - started
  document['rows_read'] = {
    split: {
      'rows': len(frame),
      'in_split': frame.attrs.get(raw_examples.ROWS_IN_SPLIT, len(frame)),
    }
    for split, frame in (
      (names.TRAIN_SPLIT, train),
      (names.EVAL_SPLIT, evaluation),
      (names.TEST_SPLIT, test),
    )
  }
  document['seconds'] = {k: round(v, 2) for k, v in timings.items()}
  return document
