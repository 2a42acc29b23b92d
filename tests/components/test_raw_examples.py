import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.v1.types import standard_artifacts

from components import raw_examples
from core import names
from models import features


def _example(number: int) -> bytes:
  feature = {
    features.TRIP_ID: tf.train.Feature(
      bytes_list=tf.train.BytesList(value=[f'trip-{number:05d}'.encode()])
    ),
    features.FARE: tf.train.Feature(
      float_list=tf.train.FloatList(value=[10.0])
    ),
    # Every third trip a big tipper.
    features.TIPS: tf.train.Feature(
      float_list=tf.train.FloatList(value=[5.0 if number % 3 == 0 else 0.0])
    ),
  }
  return tf.train.Example(
    features=tf.train.Features(feature=feature)
  ).SerializeToString()


def _examples(directory, files):
  """An Examples artifact whose train split holds `files`, each a list of
  trip numbers."""
  artifact = standard_artifacts.Examples()
  artifact.uri = str(directory)
  artifact.split_names = json.dumps([names.TRAIN_SPLIT])
  split_dir = os.path.join(artifact.uri, f'Split-{names.TRAIN_SPLIT}')
  os.makedirs(split_dir)
  options = tf.io.TFRecordOptions(compression_type='GZIP')
  for index, numbers in enumerate(files):
    path = os.path.join(split_dir, f'data-{index}.gz')
    with tf.io.TFRecordWriter(path, options) as writer:
      for number in numbers:
        writer.write(_example(number))
  return artifact


def _trip_ids(frame):
  return list(frame[features.TRIP_ID])


def test_a_split_within_the_limit_is_read_whole_in_file_order(tmp_path):
  artifact = _examples(tmp_path, [[5, 3, 9], [1, 7]])
  frame = raw_examples.read_split(artifact, names.TRAIN_SPLIT, max_rows=5)
  assert _trip_ids(frame) == [f'trip-{n:05d}' for n in (5, 3, 9, 1, 7)]
  assert frame.attrs[raw_examples.ROWS_IN_SPLIT] == 5
  assert list(raw_examples.labels(frame)) == [0, 1, 1, 0, 0]


def test_a_larger_split_is_a_sample_of_the_limit(tmp_path):
  numbers = list(range(3000))
  frame = raw_examples.read_split(
    _examples(tmp_path, [numbers]), names.TRAIN_SPLIT, max_rows=600
  )
  assert len(frame) == 600
  assert frame.attrs[raw_examples.ROWS_IN_SPLIT] == 3000
  ids = _trip_ids(frame)
  assert len(set(ids)) == 600
  assert ids == sorted(ids)  # File order.
  # Uniform: the label rate and the spread over the file match the whole.
  assert raw_examples.labels(frame).mean() == pytest.approx(1 / 3, abs=0.06)
  positions = [int(trip_id.split('-')[1]) for trip_id in ids]
  assert 0.4 * 3000 < sorted(positions)[300] < 0.6 * 3000


def test_the_sample_does_not_depend_on_file_order(tmp_path):
  numbers = list(range(1000))
  one_file = _examples(tmp_path / 'a', [numbers])
  shuffled = _examples(
    tmp_path / 'b', [numbers[700:], numbers[:300][::-1], numbers[300:700]]
  )
  first, second = (
    set(
      _trip_ids(
        raw_examples.read_split(artifact, names.TRAIN_SPLIT, max_rows=100)
      )
    )
    for artifact in (one_file, shuffled)
  )
  assert first == second and len(first) == 100


def test_the_sample_is_the_rows_of_smallest_hash_across_batches(
  tmp_path, monkeypatch
):
  monkeypatch.setattr(raw_examples, 'READ_BATCH', 64)  # 47 batches.
  numbers = list(range(3000))
  frame = raw_examples.read_split(
    _examples(tmp_path, [numbers]), names.TRAIN_SPLIT, max_rows=250
  )
  hashes = raw_examples._sample_hashes(
    np.array([_example(number) for number in numbers], dtype=object)
  )
  smallest = {f'trip-{numbers[i]:05d}' for i in np.argsort(hashes)[:250]}
  assert set(_trip_ids(frame)) == smallest


def _odd_example(number: int) -> bytes:
  """No trip id, or one that is a number: hashed by serialization."""
  feature = {
    features.FARE: tf.train.Feature(
      float_list=tf.train.FloatList(value=[float(number)])
    )
  }
  if number % 2:
    feature[features.TRIP_ID] = tf.train.Feature(
      int64_list=tf.train.Int64List(value=[number])
    )
  return tf.train.Example(
    features=tf.train.Features(feature=feature)
  ).SerializeToString()


def test_rows_without_a_string_id_are_sampled_too(tmp_path):
  artifact = _examples(tmp_path, [[1, 2, 3]])
  path = os.path.join(artifact.uri, f'Split-{names.TRAIN_SPLIT}', 'odd.gz')
  options = tf.io.TFRecordOptions(compression_type='GZIP')
  with tf.io.TFRecordWriter(path, options) as writer:
    for number in range(200):
      writer.write(_odd_example(number))
  frame = raw_examples.read_split(artifact, names.TRAIN_SPLIT, max_rows=50)
  assert len(frame) == 50
  assert frame.attrs[raw_examples.ROWS_IN_SPLIT] == 203
  # Both kinds of id-less row are in the sample, in proportion.
  fares = frame[features.FARE].dropna().astype(int)
  assert 5 < (fares % 2 == 1).sum() < 45
  # A string id hashes alike beside rows whose id is a number.
  alone = raw_examples._sample_hashes(np.array([_example(1)], dtype=object))
  mixed = raw_examples._sample_hashes(
    np.array([_example(1), _odd_example(1)], dtype=object)
  )
  assert alone[0] == mixed[0]
