"""The simple trained baseline: scikit-learn's gradient-boosted trees
(HistGradientBoostingClassifier, defaults) on the model's raw serving
features, no feature engineering. A candidate model has to beat it.

Strings are ordinal-encoded and treated as categories by the trees; missing
values stay missing (the trees route them). The decision threshold maximises
F1 on a held-out tenth of the train split, as the Trainer does on eval.
"""

import json
import os
from typing import Optional, Sequence

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.preprocessing import OrdinalEncoder
from threadpoolctl import threadpool_limits

from core import names
from models import features, threshold

SEED = 42
# OpenMP threads: on a busy 2-core machine two threads made a fit 80x slower
# (37 s against 0.5 s) by spinning against each other; one is plenty here.
THREADS = 1
# The trees take at most 255 bins, categories included; rarer companies and
# areas share one code.
MAX_CATEGORIES = 200
THRESHOLD_SHARE = 0.1
DESCRIPTION = (
  'gradient-boosted trees (scikit-learn HistGradientBoostingClassifier, '
  'defaults) on the raw features, fitted on the train split'
)


class SimpleBaseline:
  """Encoder + trees + decision threshold over named raw columns."""

  def __init__(self, feature_names: Sequence[str], max_iter: int = 100):
    self.feature_names = list(feature_names)
    self.string_features = [
      key for key in self.feature_names if key in features.STRING_FEATURES
    ]
    self.encoder = OrdinalEncoder(
      handle_unknown='use_encoded_value',
      unknown_value=np.nan,
      encoded_missing_value=np.nan,
      max_categories=MAX_CATEGORIES,
    )
    self.trees = HistGradientBoostingClassifier(
      max_iter=max_iter,
      categorical_features=[
        key in self.string_features for key in self.feature_names
      ],
      random_state=SEED,
    )
    self.decision_threshold = 0.5

  def _matrix(self, frame: pd.DataFrame, fit: bool = False) -> np.ndarray:
    matrix = frame[self.feature_names].copy()
    if self.string_features:
      strings = matrix[self.string_features].astype(object)
      strings = strings.where(strings.notna(), np.nan)
      matrix[self.string_features] = (
        self.encoder.fit_transform(strings)
        if fit
        else self.encoder.transform(strings)
      )
    return matrix.to_numpy(np.float64)

  def fit_trees(self, frame: pd.DataFrame, labels) -> 'SimpleBaseline':
    """Fits the encoder and trees on every row; the threshold stays."""
    with threadpool_limits(THREADS):
      self.trees.fit(self._matrix(frame, fit=True), np.asarray(labels))
    return self

  def fit(
    self, frame: pd.DataFrame, labels: np.ndarray, threshold_rows=None
  ) -> 'SimpleBaseline':
    """Fits on `frame`; picks the threshold on `threshold_rows` (a boolean
    mask held out of the fit), or on the fitted rows when None."""
    labels = np.asarray(labels)
    fit_rows = (
      np.ones(len(frame), bool) if threshold_rows is None else ~threshold_rows
    )
    self.fit_trees(frame[fit_rows], labels[fit_rows])
    held_out = fit_rows if threshold_rows is None else threshold_rows
    self.decision_threshold = threshold.best_f1_threshold(
      labels[held_out], self.predict(frame[held_out])
    )
    return self

  def predict(self, frame: pd.DataFrame) -> np.ndarray:
    """P(big tipper) per row."""
    with threadpool_limits(THREADS):
      return self.trees.predict_proba(self._matrix(frame))[:, 1]


def held_out_rows(n: int, share: float = THRESHOLD_SHARE, seed: int = SEED):
  """A random `share` of n rows (a boolean mask), for the threshold."""
  mask = np.zeros(n, bool)
  mask[np.random.default_rng(seed).permutation(n)[: max(1, int(share * n))]] = (
    True
  )
  return mask


def save(baseline: SimpleBaseline, directory: str, rows: int) -> None:
  os.makedirs(directory, exist_ok=True)
  joblib.dump(baseline, os.path.join(directory, names.BASELINE_MODEL_FILE))
  with open(os.path.join(directory, names.BASELINE_METADATA_FILE), 'w') as f:
    json.dump(
      {
        'description': DESCRIPTION,
        'features': baseline.feature_names,
        'decision_threshold': baseline.decision_threshold,
        'train_rows': rows,
      },
      f,
      indent=2,
    )


def load(directory: str) -> SimpleBaseline:
  return joblib.load(os.path.join(directory, names.BASELINE_MODEL_FILE))


def train(
  frame: pd.DataFrame,
  labels: np.ndarray,
  feature_names: Optional[Sequence[str]] = None,
) -> SimpleBaseline:
  """The baseline fitted on these rows, threshold on a held-out tenth."""
  return SimpleBaseline(feature_names or features.SERVING_FEATURES).fit(
    frame, labels, held_out_rows(len(frame))
  )
