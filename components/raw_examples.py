"""Raw tf.Examples of one split as a pandas DataFrame, the label computed as
preprocessing_fn computes it, and the frame as serving_default's inputs.

The model-quality components read the test, eval and train splits this way;
a missing number is NaN, a missing string None. They fit and score in memory
(pandas, scikit-learn), so a split larger than MAX_ROWS is read as a uniform
sample of MAX_ROWS rows: memory stays bounded whatever the data's size.
"""

import glob
import hashlib
import heapq
import os

import numpy as np
import pandas as pd
import tensorflow as tf

from core import artifacts
from models import features

# Raw columns the quality components use: the model's serving inputs, the
# trip id and what the label needs.
COLUMNS = (features.TRIP_ID, *features.SERVING_FEATURES, features.TIPS)
# 200k rows put the standard error of a test-split AUC near 0.001, below the
# differences the gate acts on, and fit a few hundred MB; the bundled data's
# splits are far smaller and are read whole.
MAX_ROWS = 200_000
# Records per step of the reader: one eager step per record costs 26 us,
# ten times the parse (measured on 200k trips).
READ_BATCH = 4096
# frame.attrs key: how many rows the split has (more than the frame's rows
# when it was sampled).
ROWS_IN_SPLIT = 'rows_in_split'
# Keyed so that the sample is independent of the stratified split, which
# assigns rows by an unkeyed hash of their id.
_SAMPLE_KEY = b'raw_examples'


def _value(feature: tf.train.Feature):
  kind = feature.WhichOneof('kind')
  values = getattr(feature, kind).value if kind else ()
  if not values:
    return None
  value = values[0]
  return value.decode('utf-8') if isinstance(value, bytes) else value


def _sample_hash(example: tf.train.Example) -> int:
  """A keyed hash of the trip id (of the whole example without one): the
  same whatever order the example's features were serialized in."""
  trip_id = example.features.feature.get(features.TRIP_ID)
  key = (
    trip_id.SerializeToString()
    if trip_id is not None
    else example.SerializeToString(deterministic=True)
  )
  digest = hashlib.blake2b(key, digest_size=8, key=_SAMPLE_KEY).digest()
  return int.from_bytes(digest, 'big')


def read_split(
  examples_artifact, split: str, max_rows: int = MAX_ROWS
) -> pd.DataFrame:
  """The raw examples of `split`, one row each, columns COLUMNS: all of them,
  or past `max_rows` the `max_rows` whose keyed hash of the trip id is
  smallest (a uniform sample that depends neither on file order nor on the
  runner).
  frame.attrs[ROWS_IN_SPLIT] is the split's full size."""
  pattern = os.path.join(artifacts.split_uri(examples_artifact, split), '*')
  files = sorted(glob.glob(pattern))
  if not files:
    raise ValueError(f'no examples in split {split!r} of {pattern}')
  # A max-heap (by negated hash) of the kept rows and their positions; the
  # rows come out in file order.
  kept, total = [], 0
  records = (
    tf.data.TFRecordDataset(files, compression_type='GZIP')
    .batch(READ_BATCH)
    .as_numpy_iterator()
  )
  for total, serialized in enumerate(
    (serialized for batch in records for serialized in batch), start=1
  ):
    example = tf.train.Example.FromString(serialized)
    sort_key = (-_sample_hash(example), total)
    if len(kept) >= max_rows and sort_key < kept[0][:2]:
      continue
    feature_map = example.features.feature
    row = {
      key: _value(feature_map[key]) if key in feature_map else None
      for key in COLUMNS
    }
    if len(kept) < max_rows:
      heapq.heappush(kept, (*sort_key, row))
    else:
      heapq.heapreplace(kept, (*sort_key, row))
  rows = [row for _, _, row in sorted(kept, key=lambda entry: entry[1])]
  frame = as_frame(rows)
  frame.attrs[ROWS_IN_SPLIT] = total
  return frame


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
