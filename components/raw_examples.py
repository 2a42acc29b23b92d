"""Raw tf.Examples of one split as a pandas DataFrame, the label computed as
preprocessing_fn computes it, and the frame as serving_default's inputs.

The model-quality components read the test, eval and train splits this way;
a missing number is NaN, a missing string None. They fit and score in memory
(pandas, scikit-learn), so a split larger than MAX_ROWS is read as a uniform
sample of MAX_ROWS rows: memory stays bounded whatever the data's size.
"""

import glob
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
# SipHash key (TensorFlow's keyed string hash), so that the sample is
# independent of the stratified split, which assigns rows by an unkeyed hash
# of their id.
_SAMPLE_KEY = (0x7261775F6578616D, 0x706C6573)  # b'raw_examples'
_HASH_BUCKETS = 2**63 - 1


def _value(feature: tf.train.Feature):
  kind = feature.WhichOneof('kind')
  values = getattr(feature, kind).value if kind else ()
  if not values:
    return None
  value = values[0]
  return value.decode('utf-8') if isinstance(value, bytes) else value


def _columns(serialized: bytes) -> dict:
  feature_map = tf.train.Example.FromString(serialized).features.feature
  return {
    key: _value(feature_map[key]) if key in feature_map else None
    for key in COLUMNS
  }


def _sample_key(serialized: bytes) -> bytes:
  """What a record's sample hash is of: its trip id when it has one string
  id; else the id feature's serialization, or the whole example's
  (deterministic, so the same whatever order its features were written in)."""
  example = tf.train.Example.FromString(serialized)
  trip_id = example.features.feature.get(features.TRIP_ID)
  if trip_id is None:
    return example.SerializeToString(deterministic=True)
  if (
    trip_id.WhichOneof('kind') == 'bytes_list'
    and len(trip_id.bytes_list.value) == 1
  ):
    return trip_id.bytes_list.value[0]
  return trip_id.SerializeToString()


def _sample_hashes(serialized: np.ndarray) -> np.ndarray:
  """A keyed 64-bit hash per record of its _sample_key. The string ids are
  parsed and hashed in TensorFlow for the whole batch: at millions of rows,
  parsing each record in Python only to throw most away cost ~50 us a row."""
  keys = np.empty(len(serialized), dtype=object)
  try:
    ids = tf.io.parse_example(
      serialized, {features.TRIP_ID: tf.io.VarLenFeature(tf.string)}
    )[features.TRIP_ID]
  except tf.errors.InvalidArgumentError:  # Some id is not a string.
    single = np.zeros(len(serialized), bool)
  else:
    rows = ids.indices.numpy()[:, 0]
    single = np.bincount(rows, minlength=len(serialized)) == 1
    keep = single[rows]
    keys[rows[keep]] = ids.values.numpy()[keep]
  for row in np.flatnonzero(~single):
    keys[row] = _sample_key(serialized[row])
  return tf.strings.to_hash_bucket_strong(
    list(keys), _HASH_BUCKETS, list(_SAMPLE_KEY)
  ).numpy()


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
  # A max-heap (by negated hash) of the kept records and their positions;
  # only the sample is parsed, and it comes out in file order.
  kept, total = [], 0
  batches = (
    tf.data.TFRecordDataset(files, compression_type='GZIP')
    .batch(READ_BATCH)
    .as_numpy_iterator()
  )
  for batch in batches:
    hashes = _sample_hashes(batch)
    candidates = range(len(batch))
    if len(kept) >= max_rows:
      # Only rows hashing below the largest kept hash can enter the sample
      # (the bound only tightens within the batch).
      candidates = np.flatnonzero(hashes <= -kept[0][0])
    for row in candidates:
      entry = (-int(hashes[row]), total + int(row) + 1, batch[row])
      if len(kept) < max_rows:
        heapq.heappush(kept, entry)
      elif entry[:2] > kept[0][:2]:
        heapq.heapreplace(kept, entry)
    total += len(batch)
  frame = as_frame(
    [
      _columns(serialized)
      for _, _, serialized in sorted(kept, key=lambda entry: entry[1])
    ]
  )
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
