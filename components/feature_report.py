"""The feature report and the label-consistency check of a run.

Per raw feature: mutual information with the label (train split), the
candidate model's permutation importance (AUC lost on the eval split when
the column is shuffled) and a drop-one ablation: the simple baseline's trees
retrained on a train sample without the feature, AUC change on the eval
split with a paired bootstrap interval. Retraining the Keras model once per
feature would cost minutes per run; the trees take a second each, so the
ablation asks whether the raw column carries signal a learner cannot get
from the others.
"""

from typing import Callable, List, Sequence

import numpy as np
import pandas as pd
from sklearn.feature_selection import mutual_info_classif
from sklearn.metrics import roc_auc_score

from components import quality_analysis, simple_baseline
from models import features

SEED = 42
MI_ROWS = 5000
PERMUTATION_REPEATS = 3
ABLATION_ROWS = 6000
ABLATION_BOOTSTRAP = 200
# Below these a feature's signal is called nothing: mutual information in
# nats (the k-NN estimate of pure noise on 5,000 rows reaches ~0.003), AUC
# lost when it is shuffled.
MIN_MUTUAL_INFORMATION = 0.005
MIN_PERMUTATION_IMPORTANCE = 0.001
EXAMPLES_PER_SPLIT = 5


def mutual_information(
  frame: pd.DataFrame, labels, feature_names: Sequence[str]
) -> dict:
  """feature -> mutual information with the label, in nats; categories
  (strings, small integer sets) as discrete, a missing value as its own."""
  sample = frame.sample(min(MI_ROWS, len(frame)), random_state=SEED)
  y = np.asarray(labels)[frame.index.get_indexer(sample.index)]
  columns, discrete = [], []
  for key in feature_names:
    column = sample[key]
    if column.dtype == object:
      columns.append(pd.factorize(column.fillna('missing'))[0].astype(float))
      discrete.append(True)
    else:
      is_discrete = key in features.INTEGER_CATEGORY_FEATURES or key in (
        features.HOUR_FEATURE,
        'pickup_community_area',
        'dropoff_community_area',
      )
      columns.append(column.fillna(-1.0).to_numpy(float))
      discrete.append(is_discrete)
  values = mutual_info_classif(
    np.column_stack(columns), y, discrete_features=discrete, random_state=SEED
  )
  return {key: float(v) for key, v in zip(feature_names, values)}


def permutation_importance(
  predict: Callable[[pd.DataFrame], np.ndarray],
  frame: pd.DataFrame,
  labels,
  feature_names: Sequence[str],
) -> dict:
  """feature -> (mean, std) AUC lost when its column is shuffled."""
  rng = np.random.default_rng(SEED)
  base = roc_auc_score(labels, predict(frame))
  importance = {}
  for key in feature_names:
    losses = []
    for _ in range(PERMUTATION_REPEATS):
      shuffled = frame.copy()
      shuffled[key] = frame[key].to_numpy()[rng.permutation(len(frame))]
      losses.append(base - roc_auc_score(labels, predict(shuffled)))
    importance[key] = (float(np.mean(losses)), float(np.std(losses)))
  return importance


def _paired_auc_deltas(labels, with_all, without, rng) -> np.ndarray:
  n = len(labels)
  draws = rng.integers(0, n, size=(ABLATION_BOOTSTRAP, n))
  deltas = quality_analysis.bootstrap_auc(
    labels, without, draws
  ) - quality_analysis.bootstrap_auc(labels, with_all, draws)
  # NaN on the draws of one class only, whose AUC is undefined.
  return deltas[~np.isnan(deltas)]


def ablation(
  train_frame: pd.DataFrame,
  train_labels,
  eval_frame: pd.DataFrame,
  eval_labels,
  feature_names: Sequence[str],
) -> dict:
  """feature -> (AUC without it - AUC with all, 95 % interval), the trees
  fitted on ABLATION_ROWS train rows."""
  sample = train_frame.sample(
    min(ABLATION_ROWS, len(train_frame)), random_state=SEED
  )
  y = np.asarray(train_labels)[train_frame.index.get_indexer(sample.index)]
  eval_labels = np.asarray(eval_labels)

  def fitted(names):
    # AUC needs no decision threshold: the trees alone.
    return simple_baseline.SimpleBaseline(names).fit_trees(sample, y)

  with_all = fitted(feature_names).predict(eval_frame)
  base = roc_auc_score(eval_labels, with_all)
  rng = np.random.default_rng(SEED)
  report = {}
  for key in feature_names:
    without = fitted([k for k in feature_names if k != key]).predict(eval_frame)
    deltas = _paired_auc_deltas(eval_labels, with_all, without, rng)
    report[key] = (
      float(roc_auc_score(eval_labels, without) - base),
      [float(v) for v in np.percentile(deltas, [2.5, 97.5])],
    )
  return report


def feature_rows(
  feature_names: Sequence[str], information: dict, importance: dict, dropped
) -> List[dict]:
  """One row per feature; carries_signal when shuffling it costs the model
  AUC beyond noise, or dropping it costs the trees AUC (interval below 0),
  or its mutual information is clearly above zero."""
  rows = []
  for key in feature_names:
    mean, std = importance[key]
    delta, interval = dropped[key]
    rows.append(
      {
        'feature': key,
        'mutual_information': information[key],
        'permutation_importance': mean,
        'permutation_std': std,
        'ablation_delta': delta,
        'ablation_ci95': interval,
        'carries_signal': bool(
          mean > 2 * std
          and mean > 0
          or interval[1] < 0
          or information[key] >= MIN_MUTUAL_INFORMATION
        ),
      }
    )
  return sorted(rows, key=lambda r: -r['permutation_importance'])


def label_consistency(
  frame: pd.DataFrame, labels, feature_names: Sequence[str]
) -> dict:
  """Rows whose raw features equal another row's but whose label differs,
  and rows whose label cannot be computed (missing fare or tips)."""
  labels = np.asarray(labels)
  uncomputable = frame[features.FARE].isna() | frame[features.TIPS].isna()
  keys = frame[list(feature_names)].astype(object)
  keys = keys.where(keys.notna(), 'missing').astype(str).agg('|'.join, axis=1)
  grouped = pd.DataFrame(
    {
      'key': keys.to_numpy(),
      'label': labels,
      'trip_id': frame[features.TRIP_ID],
    }
  )[~uncomputable.to_numpy()]
  distinct = grouped.groupby('key')['label'].transform('nunique')
  conflicting = grouped[distinct > 1]
  examples = []
  for _, group in list(conflicting.groupby('key'))[:EXAMPLES_PER_SPLIT]:
    examples.append(
      {
        'trip_id': group['trip_id'].iloc[0],
        'trip_ids': list(group['trip_id']),
        'labels': [int(v) for v in group['label']],
      }
    )
  return {
    'rows': int(len(frame)),
    'conflicting_rows': int(len(conflicting)),
    'conflicting_groups': int(conflicting['key'].nunique()),
    'uncomputable_labels': int(uncomputable.sum()),
    'uncomputable_trip_ids': list(
      frame.loc[uncomputable, features.TRIP_ID][:EXAMPLES_PER_SPLIT]
    ),
    'examples': examples,
  }
