"""Ported from tensorflow/serving 2.16.1 tensorflow_serving/model_servers/tensorflow_model_server_test.py.

Each test names the upstream test it comes from. The upstream ones that check a Predict over gRPC
(VerifyPredictRequest: x = [2.0], output y) are run over REST here with the same input and expectation; the gRPC
API itself is tested in tests/serving/test_grpc.py when present.
Not applicable (see docs/serving.md): testPredictUDS (Unix-socket gRPC), testPredictOnTfLite and
testPredictWithSignatureDefOnTfLite (TF Lite), testMultiInference (no MultiInference API), test_tf_text (needs the
tensorflow-text ops), test_profiler_service_with_valid_trace_request (profiler), testGoodGrpcChannelArgs,
test_distrat_sequential_keras_saved_model_save (MirroredStrategy over virtual CPUs: a TF test-harness setting).
"""

import json
import os
import subprocess
import sys
import time

import tensorflow as tf
import tf_keras

from tests.serving.conftest import REPO_ROOT, in_process_server, wait_until
from tests.serving.tf_serving_suite.conftest import (
  TESTDATA,
  rest,
  write_model_config,
)


def sorted_object(obj):
  """tensorflow_model_server_test_base.SortedObject."""
  if isinstance(obj, dict):
    return sorted((k, sorted_object(v)) for k, v in obj.items())
  if isinstance(obj, list):
    return sorted(sorted_object(x) for x in obj)
  return obj


def predict_x2(
  url: str, model_name='default', signature_name=None, batch=False
):
  """VerifyPredictRequest's request over REST: input x = [2.0] (or [[2.0]]); returns y."""
  body = {'inputs': {'x': [[2.0]] if batch else [2.0]}}
  if signature_name:
    body['signature_name'] = signature_name
  status, response = rest(url, f'/v1/models/{model_name}:predict', body)
  assert status == 200, response
  return response['outputs']


def test_classify_rest(default_server):
  """testClassifyREST"""
  assert rest(
    default_server,
    '/v1/models/default:classify',
    {'signature_name': 'classify_x_to_y', 'examples': [{'x': 2.0}]},
  ) == (200, {'results': [[['', 3.0]]]})


def test_regress_rest(default_server):
  """testRegressREST"""
  assert rest(
    default_server,
    '/v1/models/default:regress',
    {'signature_name': 'regress_x_to_y', 'examples': [{'x': 2.0}]},
  ) == (200, {'results': [3.0]})


def test_predict_rest(default_server):
  """testPredictREST: three scalars for an x of shape [?, 1] (TF Serving feeds them as they are)."""
  assert rest(
    default_server, '/v1/models/default:predict', {'instances': [2.0, 3.0, 4.0]}
  ) == (200, {'predictions': [3.0, 3.5, 4.0]})


def test_predict_columnar_rest(default_server):
  """testPredictColumnarREST"""
  assert rest(
    default_server, '/v1/models/default:predict', {'inputs': [2.0, 3.0, 4.0]}
  ) == (200, {'outputs': [3.0, 3.5, 4.0]})


def test_get_status_rest(default_server):
  """testGetStatusREST: version 123 from the zero-padded directory 00000123."""
  assert rest(default_server, '/v1/models/default') == (
    200,
    {
      'model_version_status': [
        {
          'version': '123',
          'state': 'AVAILABLE',
          'status': {'error_code': 'OK', 'error_message': ''},
        }
      ]
    },
  )


def test_get_model_metadata_rest(default_server):
  """testGetModelMetadataREST, against upstream's half_plus_two_model_metadata.json."""
  status, response = rest(default_server, '/v1/models/default/metadata')
  with open(
    os.path.join(TESTDATA, 'half_plus_two_model_metadata.json'),
    encoding='utf-8',
  ) as f:
    expected = json.load(f)
  assert status == 200
  # The one difference lies in the model, not the server: upstream's committed SavedModel was exported by an
  # older TensorFlow that recorded the tf_example placeholder (shape [None]) as of unknown rank; the generator
  # run under TF 2.16 records [-1].
  signatures = expected['metadata']['signature_def']['signature_def']
  for name in ('regress_x_to_y', 'regress_x_to_y2', 'classify_x_to_y'):
    signatures[name]['inputs']['inputs']['tensor_shape'] = {
      'dim': [{'size': '-1', 'name': ''}],
      'unknown_rank': False,
    }
  assert sorted_object(response) == sorted_object(expected)


def test_prometheus_endpoint(default_server):
  """testPrometheusEndpoint"""
  text = (
    __import__('requests')
    .get(default_server + '/monitoring/prometheus/metrics', timeout=30)
    .text
  )
  assert '# TYPE' in text


def test_good_model_config(testdata_dir, tmp_path):
  """testGoodModelConfig: two models from good_model_config.txt; predictions over REST."""
  with open(
    os.path.join(TESTDATA, 'good_model_config.txt'), encoding='utf-8'
  ) as f:
    template = f.read()
  config = tmp_path / 'good_model_config.conf'
  config.write_text(
    template.replace(
      '${TEST_HALF_PLUS_TWO_DIR}',
      str(testdata_dir / 'saved_model_half_plus_two_cpu'),
    ).replace(
      '${TEST_HALF_PLUS_THREE_DIR}',
      str(testdata_dir / 'saved_model_half_plus_three'),
    )
  )
  args = [
    f'--model_config_file={config}',
    '--rest_api_port=0',
    f'--request_log_dir={tmp_path / "logs"}',
  ]
  with in_process_server(args) as (_, url):
    assert predict_x2(url, 'half_plus_two') == [3.0]
    # half_plus_three: a TF1 SavedModel that tf.saved_model.load refuses ("Shape must be rank 1 but is rank 0").
    assert predict_x2(url, 'half_plus_three') == [4.0]
    for name in ('half_plus_two', 'half_plus_three'):
      assert (
        rest(url, f'/v1/models/{name}')[1]['model_version_status'][0]['version']
        == '123'
      )


def test_bad_model_config(tmp_path):
  """testBadModelConfig: the server stops, naming the message type."""
  result = subprocess.run(
    [
      sys.executable,
      '-m',
      'serving',
      f'--model_config_file={os.path.join(TESTDATA, "bad_model_config.txt")}',
    ],
    cwd=REPO_ROOT,
    capture_output=True,
    text=True,
    timeout=60,
  )
  assert result.returncode != 0
  assert 'Error parsing text-format tensorflow.serving.ModelServerConfig' in (
    result.stderr
  )


def _reload_args(config, tmp_path, poll_period):
  return [
    f'--model_config_file={config}',
    f'--model_config_file_poll_wait_seconds={poll_period}',
    '--rest_api_port=0',
    f'--request_log_dir={tmp_path / "logs"}',
  ]


def test_model_config_reload(testdata_dir, tmp_path):
  """testModelConfigReload: rewriting the config file swaps half_plus_two for half_plus_three."""
  config = tmp_path / 'model_config.txt'
  write_model_config(
    config,
    [('half_plus_two', testdata_dir / 'saved_model_half_plus_two_cpu', '')],
  )
  with in_process_server(_reload_args(config, tmp_path, 1)) as (_, url):
    assert predict_x2(url, 'half_plus_two') == [3.0]
    write_model_config(
      config,
      [('half_plus_three', testdata_dir / 'saved_model_half_plus_three', '')],
    )
    wait_until(
      lambda: (
        rest(
          url, '/v1/models/half_plus_three:predict', {'inputs': {'x': [2.0]}}
        )
        == (200, {'outputs': [4.0]})
      ),
      timeout=30,
    )
    assert (
      rest(url, '/v1/models/half_plus_two:predict', {'inputs': [2.0]})[0] == 404
    )


def test_model_config_reload_with_zero_poll_period(testdata_dir, tmp_path):
  """testModelConfigReloadWithZeroPollPeriod: with no polling the first config stays."""
  config = tmp_path / 'model_config.txt'
  write_model_config(
    config,
    [('half_plus_two', testdata_dir / 'saved_model_half_plus_two_cpu', '')],
  )
  with in_process_server(_reload_args(config, tmp_path, 0)) as (_, url):
    assert predict_x2(url, 'half_plus_two') == [3.0]
    write_model_config(
      config,
      [('half_plus_three', testdata_dir / 'saved_model_half_plus_three', '')],
    )
    time.sleep(2)
    assert predict_x2(url, 'half_plus_two') == [3.0]
    assert rest(url, '/v1/models/half_plus_three')[0] == 404


def _serve(base_path, tmp_path):
  return in_process_server(
    [
      '--model_name=default',
      f'--model_base_path={base_path}',
      '--rest_api_port=0',
      f'--request_log_dir={tmp_path / "logs"}',
    ]
  )


def test_tf_saved_model_save(tmp_path):
  """test_tf_saved_model_save: a signature of unknown input shape."""
  base_path = tmp_path / 'tf_saved_model_save'
  root = tf.train.Checkpoint()
  root.v1 = tf.Variable(3.0)
  root.v2 = tf.Variable(2.0)
  root.f = tf.function(lambda x: {'y': root.v1 * root.v2 * x})
  to_save = root.f.get_concrete_function(tf.TensorSpec(None, tf.float32))
  tf.saved_model.save(root, str(base_path / '00000123'), to_save)
  with _serve(base_path, tmp_path) as (_, url):
    assert predict_x2(url) == [12.0]


def test_tf_saved_model_save_multiple_signatures(tmp_path):
  """test_tf_saved_model_save_multiple_signatures"""
  base_path = tmp_path / 'tf_saved_model_save'
  root = tf.train.Checkpoint()
  root.f = tf.function(
    lambda x: {'y': 1.0}, input_signature=[tf.TensorSpec(None, tf.float32)]
  )
  root.g = tf.function(
    lambda x: {'y': 2.0}, input_signature=[tf.TensorSpec(None, tf.float32)]
  )
  tf.saved_model.save(
    root,
    str(base_path / '00000123'),
    signatures={'serving_default': root.f, 'custom_signature_key': root.g},
  )
  with _serve(base_path, tmp_path) as (_, url):
    # The outputs are scalars: TF Serving's columnar response is the bare value.
    assert predict_x2(url, signature_name='custom_signature_key') == 2.0
    assert predict_x2(url) == 1.0


def test_sequential_keras_saved_model_save(tmp_path):
  """test_sequential_keras_saved_model_save: batch input [[2.0]]."""
  # Keras 2 (tf_keras, as the project pins), the Keras upstream's test was
  # written for: its SavedModel names the input after the Input layer.
  model = tf_keras.models.Sequential()
  model.add(tf_keras.layers.Input(dtype='float32', shape=(1,), name='x'))
  model.add(tf_keras.layers.Lambda(lambda x: x, name='y'))
  base_path = tmp_path / 'keras_sequential_saved_model_save'
  tf.saved_model.save(model, str(base_path / '00000123'))
  with _serve(base_path, tmp_path) as (_, url):
    assert predict_x2(url, batch=True) == [[2.0]]


def test_signature_method_names_are_checked_only_when_asked(
  default_server, testdata_dir, tmp_path
):
  """util.cc SetSignatureMethodNameCheckFeature: off by default (predict runs a regress signature), on with
  --enable_signature_method_name_check (classify refuses it, with classifier.cc's message)."""
  assert rest(
    default_server,
    '/v1/models/default:predict',
    {'signature_name': 'regress_x2_to_y3', 'inputs': [[2.0]]},
  ) == (200, {'outputs': [[4.0]]})
  args = [
    '--model_name=default',
    f'--model_base_path={testdata_dir / "saved_model_half_plus_two_cpu"}',
    '--rest_api_port=0',
    '--enable_signature_method_name_check',
    f'--request_log_dir={tmp_path / "logs"}',
  ]
  with in_process_server(args) as (_, url):
    assert rest(
      url,
      '/v1/models/default:classify',
      {'signature_name': 'regress_x_to_y', 'examples': [{'x': 2.0}]},
    ) == (
      400,
      {
        'error': 'Expected classification signature method_name to be '
        'tensorflow/serving/classify. Was: tensorflow/serving/regress'
      },
    )
