"""Ported from tensorflow/serving 2.16.1 tensorflow_serving/model_servers/http_rest_api_handler_test.cc, over HTTP.

The upstream fixture serves saved_model_half_plus_two_2_versions (versions 123 and 124) with a specific version
policy for 123 and the label Version_Label -> 123; here that is a --model_config_file. Each test names the
upstream TEST_F it comes from.
"""

import json
import os

import pytest
import requests

from tests.serving.conftest import in_process_server
from tests.serving.tf_serving_suite.conftest import (
  TESTDATA,
  rest,
  write_model_config,
)
from tests.serving.tf_serving_suite.test_tensorflow_model_server import (
  sorted_object,
)

MODEL = 'saved_model_half_plus_two_2_versions'
LABEL = 'Version_Label'
STATUS_123 = {
  'model_version_status': [
    {
      'version': '123',
      'state': 'AVAILABLE',
      'status': {'error_code': 'OK', 'error_message': ''},
    }
  ]
}


@pytest.fixture(scope='module')
def url(testdata_dir, tmp_path_factory):
  tmp = tmp_path_factory.mktemp('handler')
  config = write_model_config(
    tmp / 'model_config.txt',
    [
      (
        MODEL,
        testdata_dir / MODEL,
        '    model_version_policy { specific { versions: 123 } }\n'
        f'    version_labels {{ key: "{LABEL}" value: 123 }}\n',
      )
    ],
  )
  args = [
    f'--model_config_file={config}',
    '--rest_api_port=0',
    f'--request_log_dir={tmp / "logs"}',
  ]
  with in_process_server(args) as (_, base_url):
    yield base_url


def call(url, method, path, body=''):
  response = requests.request(method, url + path, data=body, timeout=30)
  return response.status_code, response.json(), response.headers


@pytest.mark.parametrize(
  'method, path, message',
  [
    ('GET', '/v1/foo', 'Malformed request'),
    ('POST', '/v1/foo', 'Malformed request'),
    ('GET', '/v1/models', 'Missing model name'),
    ('GET', '/v1/models/debug/model_name', 'Malformed request'),
    ('POST', '/v1/models', 'Malformed request'),
    ('GET', '/v1/models/foo:predict', 'Malformed request'),
    ('GET', '/v1/models/foo/version/50:predict', 'Malformed request'),
    ('POST', '/v1/models/foo/version/50:regress', 'Malformed request'),
    ('POST', '/v1/models/foo/versions/HELLO:regress', 'Malformed request'),
    (
      'POST',
      f'/v1/models/foo/versions/{2**64 - 1}:regress',
      'Failed to convert version',
    ),
    ('POST', '/v1/models/foo/metadata', 'Malformed request'),
    ('POST', '/v1/models/foo/label/some_label:regress', 'Malformed request'),
    (
      'POST',
      '/v1/models/foo/versions/50/labels/some_label:regress',
      'Malformed request',
    ),
    ('POST', '/v1/models/foo/versions/some_label:regress', 'Malformed request'),
  ],
)
def test_unsupported_api_calls(url, method, path, message):
  """UnsupportedApiCalls: INVALID_ARGUMENT (HTTP 400)."""
  status, body, _ = call(url, method, path)
  assert status == 400 and message in body['error']


def test_path_regex(url):
  """kPathRegex: only /v1/models... is the REST API; other paths are not found."""
  assert requests.get(url + '/statuspage', timeout=30).status_code == 404
  assert requests.get(url + '/index', timeout=30).status_code == 404


@pytest.mark.parametrize(
  'path',
  [
    '/v1/models/foo:predict',
    '/v1/models/foo/versions/50:predict',
    f'/v1/models/{MODEL}99:predict',
  ],
)
def test_predict_model_name_version_errors(url, path):
  """PredictModelNameVersionErrors: NOT_FOUND (HTTP 404)."""
  assert call(url, 'POST', path, '{ "instances": [1] }')[0] == 404


@pytest.mark.parametrize(
  'path, body, message',
  [
    (
      f'/v1/models/{MODEL}:predict',
      '',
      'JSON Parse error: The document is empty',
    ),
    (
      f'/v1/models/{MODEL}:predict',
      'instances = [1, 2]',
      'JSON Parse error: Invalid value',
    ),
    (
      f'/v1/models/{MODEL}:predict',
      '{ "instances": ["x", "y"] }',
      'not of expected type: float',
    ),
    (
      f'/v1/models/{MODEL}/labels/nonexistent_label:predict',
      '{ "instances": ["x", "y"] }',
      'Unrecognized servable version label',
    ),
    (
      f'/v1/models/{MODEL}:predict',
      '{ "signature_name": 100 }',
      "'signature_name' key must be a string value.",
    ),
  ],
)
def test_predict_request_errors(url, path, body, message):
  """PredictRequestErrors: INVALID_ARGUMENT (HTTP 400)."""
  status, response, _ = call(url, 'POST', path, body)
  assert status == 400 and message in response['error']


@pytest.mark.parametrize(
  'path, body, expected',
  [
    (
      f'/v1/models/{MODEL}:predict',
      {'instances': [[1.0, 2.0], [3.0, 4.0]]},
      {'predictions': [[2.5, 3.0], [3.5, 4.0]]},
    ),
    (
      f'/v1/models/{MODEL}/versions/123:predict',
      {'instances': [1.0, 2.0]},
      {'predictions': [2.5, 3.0]},
    ),
    (
      f'/v1/models/{MODEL}/labels/{LABEL}:predict',
      {'instances': [1.0, 2.0]},
      {'predictions': [2.5, 3.0]},
    ),
    (
      f'/v1/models/{MODEL}/versions/123:predict',
      {'signature_name': 'serving_default', 'instances': [3.0, 4.0]},
      {'predictions': [3.5, 4.0]},
    ),
    (
      f'/v1/models/{MODEL}/versions/123:predict',
      {'signature_name': 'serving_default', 'inputs': [3.0, 4.0]},
      {'outputs': [3.5, 4.0]},
    ),
  ],
)
def test_predict(url, path, body, expected):
  """Predict: latest, a version, a label, an explicit signature, columnar inputs."""
  status, response, headers = call(url, 'POST', path, json.dumps(body))
  assert (status, response) == (200, expected)
  assert headers['Content-Type'] == 'application/json'


@pytest.mark.parametrize(
  'path',
  [
    f'/v1/models/{MODEL}:regress',
    f'/v1/models/{MODEL}/versions/123:regress',
    f'/v1/models/{MODEL}/labels/{LABEL}:regress',
  ],
)
def test_regress(url, path):
  """Regress"""
  body = {'signature_name': 'regress_x_to_y', 'examples': [{'x': 80.0}]}
  assert rest(url, path, body) == (200, {'results': [42]})


@pytest.mark.parametrize(
  'path, x, score',
  [
    (f'/v1/models/{MODEL}:classify', 20.0, 12),
    (f'/v1/models/{MODEL}/labels/{LABEL}:classify', 10.0, 7),
  ],
)
def test_classify(url, path, x, score):
  """Classify"""
  body = {'signature_name': 'classify_x_to_y', 'examples': [{'x': x}]}
  assert rest(url, path, body) == (200, {'results': [[['', score]]]})


@pytest.mark.parametrize(
  'path',
  [
    f'/v1/models/{MODEL}',
    f'/v1/models/{MODEL}/versions/123',
    f'/v1/models/{MODEL}/labels/{LABEL}',
  ],
)
def test_get_status(url, path):
  """GetStatus: the specific policy serves 123 only (124 is never loaded)."""
  status, response, headers = call(url, 'GET', path)
  assert (status, response) == (200, STATUS_123)
  assert headers['Content-Type'] == 'application/json'


def test_get_model_metadata(url):
  """GetModelMetadata, against upstream's saved_model_half_plus_two_2_versions_metadata.json."""
  status, response = rest(url, f'/v1/models/{MODEL}/metadata')
  with open(
    os.path.join(
      TESTDATA, 'saved_model_half_plus_two_2_versions_metadata.json'
    ),
    encoding='utf-8',
  ) as f:
    expected = json.load(f)
  # As in test_tensorflow_model_server.test_get_model_metadata_rest: upstream's committed model has the
  # tf_example placeholder of unknown rank, the generator under TF 2.16 writes [-1].
  signatures = expected['metadata']['signature_def']['signature_def']
  for signature in signatures.values():
    shape = signature['inputs'].get('inputs', {}).get('tensor_shape')
    if shape and shape.get('unknown_rank'):
      signature['inputs']['inputs']['tensor_shape'] = {
        'dim': [{'size': '-1', 'name': ''}],
        'unknown_rank': False,
      }
  assert status == 200
  assert sorted_object(response) == sorted_object(expected)
