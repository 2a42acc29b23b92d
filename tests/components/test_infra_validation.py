"""Infra validation on real SavedModels served by the project's server: a
good model is blessed with its warm-up file, one that answers NaN is not,
and TFX's Pusher reads the blessing as it reads the InfraValidator's."""

import json
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import prediction_log_pb2  # noqa: E402
from tfx.types import standard_artifacts  # noqa: E402

from components import atomic_pusher, infra_validation  # noqa: E402
from core import names  # noqa: E402
from models import features  # noqa: E402
from tests.serving import toy_model  # noqa: E402

ROWS = 6


def _example(index: int) -> tf.train.Example:
  """A test-split row as the toy model parses it (numbers as floats); one
  row lacks its fare and company, as real rows may."""
  example = tf.train.Example()
  feature = example.features.feature
  for name in features.NUMERIC_FEATURES:
    if not (index == 2 and name == 'fare'):
      feature[name].float_list.value.append(1.5 * index + len(name))
  feature['payment_type'].bytes_list.value.append(
    b'Cash' if index % 2 else b'Credit Card'
  )
  if index != 2:
    feature['company'].bytes_list.value.append(b'Flash Cab')
  feature[features.TIPS].float_list.value.append(1.0)
  feature[features.TRIP_ID].bytes_list.value.append(f'trip-{index}'.encode())
  return example


@pytest.fixture(scope='module')
def examples_artifact(tmp_path_factory):
  artifact = standard_artifacts.Examples()
  artifact.uri = str(tmp_path_factory.mktemp('examples'))
  artifact.split_names = json.dumps([names.TEST_SPLIT])
  split_dir = os.path.join(artifact.uri, f'Split-{names.TEST_SPLIT}')
  os.makedirs(split_dir)
  options = tf.io.TFRecordOptions(compression_type='GZIP')
  path = os.path.join(split_dir, 'data_tfrecord-00000-of-00001.gz')
  with tf.io.TFRecordWriter(path, options) as writer:
    for index in range(ROWS + 3):
      writer.write(_example(index).SerializeToString())
  return artifact


@pytest.fixture(scope='module')
def good_model(tmp_path_factory):
  return toy_model.build_toy_model(str(tmp_path_factory.mktemp('good')), 1)


@pytest.fixture(scope='module')
def nan_model(tmp_path_factory):
  """Loads and serves, but every probability is NaN."""
  return toy_model.build_toy_model(
    str(tmp_path_factory.mktemp('nan')), 1, bias=float('nan')
  )


def _run(model_dir, examples_artifact, tmp_path, **settings):
  settings = infra_validation.Settings(rows=ROWS, warmup_rows=3, **settings)
  blessing = standard_artifacts.InfraBlessing()
  blessing.uri = str(tmp_path / 'blessing')
  examples = infra_validation.read_examples(
    examples_artifact, names.TEST_SPLIT, settings.rows
  )
  result = infra_validation.run(
    model_dir,
    examples,
    blessing.uri,
    settings,
    blessing.set_int_custom_property,
  )
  return result, blessing


def test_good_model_is_blessed_with_its_warmup_file(
  good_model, examples_artifact, tmp_path
):
  result, blessing = _run(good_model, examples_artifact, tmp_path)
  assert result.passed, result.reason
  assert result.server == 'python -m serving'
  figures = result.measurements
  # Per API: one batch of every row, then one request per row.
  assert figures['requests'] == 3 * (ROWS + 1)
  assert 0 < figures['p50_ms'] <= figures['p99_ms'] <= figures['max_ms']
  assert figures['p99_budget_ms'] == 2000.0
  assert figures['startup_s'] > 0 and figures['seconds'] > 0
  assert os.path.exists(os.path.join(blessing.uri, 'INFRA_BLESSED'))
  assert blessing.get_int_custom_property('blessed') == 1
  assert blessing.get_int_custom_property('has_model') == 1
  with open(os.path.join(blessing.uri, infra_validation.RESULT_FILE)) as f:
    assert json.load(f)['passed'] is True

  stamped = os.path.join(blessing.uri, 'stamped_model')
  assert os.path.exists(os.path.join(stamped, 'saved_model.pb'))
  assert os.path.exists(
    os.path.join(stamped, 'assets.extra', 'model_metadata.json')
  )
  # TF Serving's own message parses every record of the warm-up file.
  path = os.path.join(stamped, 'assets.extra', 'tf_serving_warmup_requests')
  logs = [
    prediction_log_pb2.PredictionLog.FromString(r.numpy())
    for r in tf.data.TFRecordDataset(path)
  ]
  # One request per signature the REST API offers, each readied at load.
  assert [log.WhichOneof('log_type') for log in logs] == [
    'predict_log',
    'classify_log',
    'regress_log',
  ]
  for log, signature in zip(logs[1:], ('classification', 'regression')):
    request = getattr(log, log.WhichOneof('log_type')).request
    assert request.model_spec.signature_name == signature
    examples = request.input.example_list.examples
    assert len(examples) == 3
    assert set(examples[0].features.feature) <= set(features.SERVING_FEATURES)
  request = logs[0].predict_log.request
  assert request.model_spec.signature_name == 'serving_default'
  assert set(request.inputs) == set(features.SERVING_FEATURES)
  fares = tf.make_ndarray(request.inputs['fare'])
  assert fares.shape == (3,) and np.isnan(fares[2])
  assert tf.make_ndarray(request.inputs['company']).tolist() == [
    b'Flash Cab',
    b'Flash Cab',
    b'',
  ]

  # TFX's Pusher (and ours, its subclass) pushes the warmed-up model.
  pusher = atomic_pusher.Executor()
  inputs = {names.INFRA_BLESSING: [blessing]}
  assert pusher.CheckBlessing(inputs)
  assert pusher.GetModelPath(inputs) == stamped


def test_model_answering_nan_is_not_blessed_and_says_why(
  nan_model, examples_artifact, tmp_path
):
  result, blessing = _run(nan_model, examples_artifact, tmp_path)
  assert not result.passed
  assert result.reason == (
    f'predict (serving_default): {ROWS} of {ROWS} probabilities are not '
    'finite (NaN or infinite)'
  )
  assert '\n' not in result.reason
  assert os.path.exists(os.path.join(blessing.uri, 'INFRA_NOT_BLESSED'))
  assert not os.path.exists(os.path.join(blessing.uri, 'stamped_model'))
  assert blessing.get_int_custom_property('blessed') == 0
  assert infra_validation.read_result(blessing.uri)['reason'] == result.reason
  assert not atomic_pusher.Executor().CheckBlessing(
    {names.INFRA_BLESSING: [blessing]}
  )


def test_latency_over_the_budget_is_not_blessed(
  good_model, examples_artifact, tmp_path
):
  result, _ = _run(good_model, examples_artifact, tmp_path, p99_budget_ms=0.01)
  assert not result.passed
  assert result.reason.startswith('p99 latency ')
  assert 'over the budget of 0 ms (21 requests)' in result.reason


def test_model_that_does_not_load_is_not_blessed(examples_artifact, tmp_path):
  broken = tmp_path / 'broken'
  broken.mkdir()
  (broken / 'saved_model.pb').write_bytes(b'not a SavedModel')
  result, _ = _run(str(broken), examples_artifact, tmp_path)
  assert not result.passed
  assert result.reason.startswith('the SavedModel does not load or run: ')


def test_read_examples_takes_the_first_rows_of_the_split(examples_artifact):
  examples = infra_validation.read_examples(
    examples_artifact, names.TEST_SPLIT, 4
  )
  assert [
    e.features.feature['trip_id'].bytes_list.value[0] for e in examples
  ] == [f'trip-{i}'.encode() for i in range(4)]
  served = infra_validation.serving_examples(examples)
  assert features.TIPS not in served[0].features.feature
  assert features.TRIP_ID not in served[0].features.feature
  instances = infra_validation.predict_instances(
    infra_validation.serving_inputs(examples)
  )
  assert np.isnan(instances[2]['fare']) and instances[2]['company'] == ''
  assert 'NaN' in json.dumps(instances)


@pytest.mark.parametrize(
  'got, reason',
  [
    ([0.5], 'shape [1], expected [2]'),
    ([0.5, float('inf')], '1 of 2 probabilities are not finite'),
    ([0.5, 1.5], '1 of 2 probabilities are outside [0, 1]'),
    ([0.5, 0.2001], 'differs from the SavedModel called directly by 0.0001'),
    (['a', 'b'], 'answers are not numbers'),
  ],
)
def test_each_check_names_what_failed(got, reason):
  with pytest.raises(infra_validation.ValidationError, match='^x: ') as info:
    infra_validation._check_values('x', got, np.array([0.5, 0.2]))  # pylint: disable=protected-access
  assert reason in str(info.value)
  infra_validation._check_values('x', [0.5, 0.200001], np.array([0.5, 0.2]))  # pylint: disable=protected-access
