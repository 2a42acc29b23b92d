"""The pushed model's signatures agree: raw tensors vs serialized tf.Example."""

import json
import math
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from core import model_versions
from models import features
from tests.conftest import PROJECT_DIR, read_rows

SCHEMA = text_format.Parse(
  (PROJECT_DIR / 'schema' / 'schema.pbtxt').read_text(), schema_pb2.Schema()
)
TYPES = {f.name: f.type for f in SCHEMA.feature}


def _example(row) -> bytes:
  """A CSV row as CsvExampleGen writes it: typed by column, empty if blank."""
  example = tf.train.Example()
  for name, text in row.items():
    feature = example.features.feature[name]
    if TYPES[name] == schema_pb2.INT:
      feature.int64_list.value.extend([int(text)] if text else [])
    elif TYPES[name] == schema_pb2.FLOAT:
      feature.float_list.value.extend([float(text)] if text else [])
    else:
      feature.bytes_list.value.extend([text.encode()] if text else [])
  return example.SerializeToString()


def _raw_tensors(rows) -> dict:
  """The same rows as serving_default inputs: NaN / "" for missing."""
  tensors = {}
  for name in features.NUMERIC_FEATURES:
    tensors[name] = tf.constant(
      [float(r[name]) if r[name] else math.nan for r in rows], tf.float32
    )
  for name in features.STRING_FEATURES:
    tensors[name] = tf.constant([r[name] for r in rows])
  return tensors


@pytest.fixture(scope='module')
def pushed_model_dir(trained_pipeline):
  return pathlib.Path(
    model_versions.latest_version_dir(str(trained_pipeline.serving_model_dir))
  )


@pytest.fixture(scope='module')
def model(pushed_model_dir):
  return tf.saved_model.load(str(pushed_model_dir))


def test_both_signatures_give_the_same_probabilities(model):
  rows = read_rows()[:200]  # includes rows with missing values
  assert any(not r['dropoff_latitude'] for r in rows)
  from_raw = model.signatures['serving_default'](**_raw_tensors(rows))
  from_examples = model.signatures['serving_tf_example'](
    examples=tf.constant([_example(r) for r in rows])
  )
  np.testing.assert_allclose(
    from_raw['probability'].numpy(),
    from_examples['probability'].numpy(),
    atol=1e-6,
  )


def test_decision_uses_the_exported_threshold(model, pushed_model_dir):
  metadata = json.loads(
    (pushed_model_dir / 'assets.extra' / 'model_metadata.json').read_text()
  )
  threshold = metadata['decision_threshold']
  assert 0 < threshold < 1
  assert metadata['label'] == features.LABEL
  rows = read_rows()[:200]
  out = model.signatures['serving_tf_example'](
    examples=tf.constant([_example(r) for r in rows])
  )
  np.testing.assert_array_equal(
    out[features.LABEL].numpy(),
    (out['probability'].numpy() >= np.float32(threshold)).astype(np.int64),
  )


def test_serving_default_takes_exactly_the_serving_features(model):
  _, inputs = model.signatures['serving_default'].structured_input_signature
  assert set(inputs) == set(features.SERVING_FEATURES)
  outputs = model.signatures['serving_default'].structured_outputs
  assert set(outputs) == {'probability'}


def test_classification_and_regression_signatures_for_tf_serving(
  model, pushed_model_dir
):
  """TF Serving's Classify/Regress APIs need these method names and keys."""
  from serving.servable import read_meta_graph

  signature_defs = read_meta_graph(str(pushed_model_dir)).signature_def
  assert {
    name: signature_defs[name].method_name
    for name in ('classification', 'regression', 'serving_default')
  } == {
    'classification': 'tensorflow/serving/classify',
    'regression': 'tensorflow/serving/regress',
    'serving_default': 'tensorflow/serving/predict',
  }
  assert set(signature_defs['classification'].inputs) == {'inputs'}
  assert set(signature_defs['classification'].outputs) == {'classes', 'scores'}
  assert set(signature_defs['regression'].outputs) == {'outputs'}

  examples = tf.constant([_example(r) for r in read_rows()[:50]])
  probability = model.signatures['serving_tf_example'](examples=examples)[
    'probability'
  ].numpy()
  classified = model.signatures['classification'](inputs=examples)
  assert classified['classes'].numpy().tolist() == [[b'0', b'1']] * 50
  np.testing.assert_allclose(
    classified['scores'].numpy(),
    np.stack([1 - probability, probability], 1),
    atol=1e-6,
  )
  np.testing.assert_allclose(
    model.signatures['regression'](inputs=examples)['outputs'].numpy(),
    probability,
    atol=1e-6,
  )


def test_serving_with_id_forwards_the_id_beside_the_same_probability(model):
  rows = read_rows()[:20]
  tensors = _raw_tensors(rows)
  expected = model.signatures['serving_default'](**tensors)['probability']
  ids = [r[features.TRIP_ID] for r in rows]
  outputs = model.signatures['serving_with_id'](
    **tensors, trip_id=tf.constant(ids)
  )
  np.testing.assert_allclose(outputs['probability'], expected, atol=1e-6)
  assert [i.decode() for i in outputs[features.TRIP_ID].numpy()] == ids
