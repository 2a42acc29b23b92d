"""Raw tf.Examples of one split as a pandas DataFrame, the label computed as
preprocessing_fn computes it, and the frame as serving_default's inputs.

The model-quality components read the test, eval and train splits this way
(15,000 rows fit in memory many times over); a missing number is NaN, a
missing string None.
"""

import glob
import os

import numpy as np
import pandas as pd
import tensorflow as tf

from core import artifacts
from models import features

# Raw columns the quality components use: the model's serving inputs, the
# trip id and what the label needs.
COLUMNS = (features.TRIP_ID, *features.SERVING_FEATURES, features.TIPS)


def _value(feature: tf.train.Feature):
  kind = feature.WhichOneof('kind')
  values = getattr(feature, kind).value if kind else ()
  if not values:
    return None
  value = values[0]
  return value.decode('utf-8') if isinstance(value, bytes) else value


def read_split(examples_artifact, split: str) -> pd.DataFrame:
  """Every raw example of `split`, one row each, columns COLUMNS."""
  pattern = os.path.join(artifacts.split_uri(examples_artifact, split), '*')
  files = sorted(glob.glob(pattern))
  if not files:
    raise ValueError(f'no examples in split {split!r} of {pattern}')
  rows = []
  for record in tf.data.TFRecordDataset(files, compression_type='GZIP'):
    example = tf.train.Example.FromString(record.numpy())
    feature_map = example.features.feature
    rows.append(
      {
        key: _value(feature_map[key]) if key in feature_map else None
        for key in COLUMNS
      }
    )
  return as_frame(rows)


def as_frame(rows) -> pd.DataFrame:
  """Rows (dicts by column name) as a typed frame: numbers float, NaN when
  missing; strings object, None when missing."""
  frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
  for key in (*features.NUMERIC_FEATURES, features.TIPS):
    frame[key] = pd.to_numeric(frame[key], errors='coerce').astype(float)
  for key in (features.TRIP_ID, *features.STRING_FEATURES):
    frame[key] = frame[key].astype(object).where(frame[key].notna(), None)
  return frame


def labels(frame: pd.DataFrame) -> np.ndarray:
  """The label (0/1), as preprocessing_fn computes it: 0 without a fare."""
  tips = frame[features.TIPS].fillna(0.0).to_numpy()
  fare = frame[features.FARE].to_numpy()
  with np.errstate(invalid='ignore'):
    return (~np.isnan(fare) & (tips > features.BIG_TIP_SHARE * fare)).astype(
      int
    )


def serving_inputs(frame: pd.DataFrame) -> dict:
  """serving_default's inputs: float32 with NaN, strings with ""."""
  inputs = {
    key: tf.constant(frame[key].to_numpy(np.float32))
    for key in features.NUMERIC_FEATURES
  }
  for key in features.STRING_FEATURES:
    inputs[key] = tf.constant(
      [value or '' for value in frame[key]], dtype=tf.string
    )
  return inputs
