"""TF Serving's REST contract over real HTTP against a real SavedModel (the shared in-process server)."""

import base64
import json
import socket

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.serving.conftest import V1_WEIGHTS, raw_instance


@pytest.fixture(scope='module')
def url(contract_server):
  return contract_server['url']


def expected(toy_model_module, fare, miles, payment, weights=V1_WEIGHTS):
  return toy_model_module.reference_probability(fare, miles, payment, **weights)


def post(url, path, body, **kwargs):
  data = body if isinstance(body, (bytes, str)) else json.dumps(body)
  return requests.post(url + path, data=data, timeout=30, **kwargs)


def assert_error(response, status, fragment):
  assert response.status_code == status, response.text
  assert response.headers['Content-Type'] == 'application/json'
  assert fragment in response.json()['error']


def test_status(url):
  response = requests.get(url + '/v1/models/taxi', timeout=10)
  assert response.status_code == 200
  assert response.json() == {
    'model_version_status': [
      {
        'version': '1',
        'state': 'AVAILABLE',
        'status': {'error_code': 'OK', 'error_message': ''},
      }
    ]
  }
  assert (
    requests.get(url + '/v1/models/taxi/versions/1', timeout=10).json()
    == response.json()
  )
  assert (
    requests.get(url + '/v1/models/taxi/labels/stable', timeout=10).json()
    == response.json()
  )


def test_metadata_lists_signatures_like_tf_serving(url):
  response = requests.get(url + '/v1/models/taxi/metadata', timeout=10)
  assert response.status_code == 200
  body = response.json()
  assert body['model_spec'] == {
    'name': 'taxi',
    'signature_name': '',
    'version': '1',
  }
  signatures = body['metadata']['signature_def']['signature_def']
  assert {'serving_default', 'serving_tf_example', 'transform_features'} <= set(
    signatures
  )
  default = signatures['serving_default']
  assert default['method_name'] == 'tensorflow/serving/predict'
  assert default['inputs']['fare']['dtype'] == 'DT_FLOAT'
  assert default['inputs']['company']['dtype'] == 'DT_STRING'
  assert default['inputs']['fare']['tensor_shape']['dim'] == [
    {'size': '-1', 'name': ''}
  ]
  assert list(default['outputs']) == ['probability']
  assert set(signatures['serving_tf_example']['outputs']) == {
    'probability',
    'big_tipper',
  }
  assert (
    requests.get(url + '/v1/models/taxi/versions/1/metadata', timeout=10).json()
    == body
  )


def test_predict_row_format_returns_probabilities(url, toy_model_module):
  rows = [
    raw_instance(12.5, 3.0, 'Cash'),
    raw_instance(40.0, 12.0, 'Credit Card'),
  ]
  response = post(url, '/v1/models/taxi:predict', {'instances': rows})
  assert response.status_code == 200, response.text
  predictions = response.json()['predictions']
  assert predictions == pytest.approx(
    [
      expected(toy_model_module, 12.5, 3.0, 'Cash'),
      expected(toy_model_module, 40.0, 12.0, 'Credit Card'),
    ],
    abs=1e-6,
  )
  assert response.headers['X-Request-Id']


def test_predict_columnar_format_returns_outputs(url, toy_model_module):
  rows = [raw_instance(5.0, 1.0, 'Cash'), raw_instance(9.0, 2.0, 'Cash')]
  columns = {name: [row[name] for row in rows] for name in rows[0]}
  response = post(
    url,
    '/v1/models/taxi:predict',
    {'signature_name': 'serving_default', 'inputs': columns},
  )
  assert response.status_code == 200, response.text
  assert response.json()['outputs'] == pytest.approx(
    [
      expected(toy_model_module, 5.0, 1.0, 'Cash'),
      expected(toy_model_module, 9.0, 2.0, 'Cash'),
    ],
    abs=1e-6,
  )


def test_nan_and_empty_string_mean_missing(url, toy_model_module):
  body = '{"instances": [%s]}' % json.dumps(raw_instance(float('nan'), 2.0, ''))
  assert 'NaN' in body
  response = post(url, '/v1/models/taxi:predict', body)
  assert response.status_code == 200, response.text
  assert response.json()['predictions'] == pytest.approx(
    [expected(toy_model_module, None, 2.0, '')], abs=1e-6
  )


def test_tf_example_signature_via_predict_with_b64_examples(
  url, toy_model_module
):
  from tensorflow.core.example import example_pb2

  example = example_pb2.Example()
  example.features.feature['fare'].float_list.value.append(20.0)
  example.features.feature['trip_miles'].float_list.value.append(4.0)
  example.features.feature['payment_type'].bytes_list.value.append(b'Cash')
  encoded = base64.b64encode(example.SerializeToString()).decode()
  response = post(
    url,
    '/v1/models/taxi:predict',
    {'signature_name': 'serving_tf_example', 'instances': [{'b64': encoded}]},
  )
  assert response.status_code == 200, response.text
  (prediction,) = response.json()['predictions']
  p = expected(toy_model_module, 20.0, 4.0, 'Cash')
  assert prediction['probability'] == pytest.approx(p, abs=1e-6)
  assert prediction['big_tipper'] == int(p >= 0.43)


def test_classify_and_regress_on_the_classification_and_regression_signatures(
  url, toy_model_module
):
  body = {
    'signature_name': 'classification',
    'context': {'payment_type': 'Cash'},
    'examples': [
      {'fare': 20.0, 'trip_miles': 4.0},
      {'fare': 3.0, 'trip_miles': 0.5, 'payment_type': ''},
    ],
  }
  p = [
    expected(toy_model_module, 20.0, 4.0, 'Cash'),
    expected(toy_model_module, 3.0, 0.5, ''),
  ]
  classify = post(url, '/v1/models/taxi:classify', body)
  assert classify.status_code == 200, classify.text
  results = classify.json()['results']
  assert [[label for label, _ in r] for r in results] == [
    ['0', '1'],
    ['0', '1'],
  ]
  assert [r[1][1] for r in results] == pytest.approx(p, abs=1e-6)
  assert [r[0][1] for r in results] == pytest.approx(
    [1 - v for v in p], abs=1e-6
  )
  regress = post(
    url,
    '/v1/models/taxi/versions/1:regress',
    {**body, 'signature_name': 'regression'},
  )
  assert regress.status_code == 200, regress.text
  assert regress.json()['results'] == pytest.approx(p, abs=1e-6)


def test_classify_rejects_signatures_tf_serving_rejects(url):
  # Method names are not checked (TF Serving's --enable_signature_method_name_check=false): the signature's
  # inputs and outputs are, by PreProcessClassification / PreProcessRegression.
  for signature_name, message in (
    ('serving_default', 'Expected one input Tensor.'),
    ('serving_tf_example', 'No classification inputs found in SignatureDef'),
    ('regression', 'to contain at least one of "classes" or "scores"'),
  ):
    assert_error(
      post(
        url,
        '/v1/models/taxi:classify',
        {'signature_name': signature_name, 'examples': [{'fare': 1.0}]},
      ),
      400,
      message,
    )
  assert_error(
    post(url, '/v1/models/taxi:regress', {'examples': [{'fare': 1.0}]}),
    400,
    'Expected one input Tensor.',
  )
  assert_error(
    post(
      url,
      '/v1/models/taxi:regress',
      {'signature_name': 'nope', 'examples': [{'fare': 1.0}]},
    ),
    400,
    'No signature was found with the name: nope',
  )
  assert_error(
    post(
      url, '/v1/models/taxi:classify', {'signature_name': 'serving_tf_example'}
    ),
    400,
    "key 'examples' is expected and was not found",
  )
  assert_error(
    post(
      url,
      '/v1/models/taxi:classify',
      {
        'signature_name': 'serving_tf_example',
        'examples': [{'fare': [1.0, 'x']}],
      },
    ),
    400,
    'Unexpected element type in feature: fare expecting type: float',
  )
  # A JSON integer is an int64 feature; the model parses fare as float: TensorFlow rejects it.
  response = post(
    url,
    '/v1/models/taxi:classify',
    {'signature_name': 'classification', 'examples': [{'fare': 12}]},
  )
  assert response.status_code == 400 and response.json()['error']


@pytest.mark.parametrize(
  'path, status, fragment',
  [
    (
      '/v1/models/other:predict',
      404,
      'Servable not found for request: Latest(other)',
    ),
    (
      '/v1/models/taxi/versions/7:predict',
      404,
      'Servable not found for request: Specific(taxi, 7)',
    ),
    (
      '/v1/models/taxi/labels/canary:predict',
      400,
      'Unrecognized servable version label: canary',
    ),
    (
      '/v1/models/%2e%2e:predict',
      404,
      'Servable not found for request: Latest(..)',
    ),
    (
      '/v1/models/..%2Ftaxi:predict',
      404,
      'Servable not found for request: Latest(../taxi)',
    ),
    ('/v1/models/%2e%2e%2f%2e%2e%2fetc:predict', 404, 'Latest(../../etc)'),
    ('/v1/models/../taxi:predict', 400, 'Malformed request'),
    (
      '/v1/models/taxi:explain',
      400,
      'Malformed request: POST /v1/models/taxi:explain',
    ),
    (
      '/v1/models/taxi/versions/1/labels/stable:predict',
      400,
      'Malformed request',
    ),
  ],
)
def test_unknown_models_versions_and_path_tricks(url, path, status, fragment):
  assert_error(
    post(url, path, {'instances': [raw_instance()]}), status, fragment
  )


def test_status_and_method_errors(url):
  assert_error(
    requests.get(url + '/v1/models/other', timeout=10),
    404,
    'Could not find any versions of model other',
  )
  assert_error(
    requests.get(url + '/v1/models/taxi/versions/9', timeout=10),
    404,
    'Could not find version 9 of model taxi',
  )
  assert_error(
    requests.get(url + '/v1/models/taxi/versions/9/metadata', timeout=10),
    404,
    'Specific(taxi, 9)',
  )
  assert_error(
    requests.get(url + '/v1/models', timeout=10),
    400,
    'Missing model name in request.',
  )
  assert_error(
    requests.delete(url + '/v1/models/taxi', timeout=10),
    400,
    'Malformed request: DELETE',
  )
  assert_error(
    requests.get(url + '/v1/models/taxi:predict', timeout=10),
    400,
    'Malformed request: GET',
  )
  assert_error(requests.get(url + '/index.html', timeout=10), 404, 'Not found')


@pytest.mark.parametrize(
  'body, fragment',
  [
    ('', 'The document is empty'),
    ('{not json', 'JSON Parse error'),
    ('[1]', 'Is not object'),
    (
      {'instances': [raw_instance(fare='12.5')]},
      'is not of expected type: float',
    ),
    (
      {'instances': [{k: v for k, v in raw_instance().items() if k != 'fare'}]},
      'keys must be equal to',
    ),
    ({'instances': [raw_instance(tip=1.0)]}, 'does not have named input: tip'),
    (
      {'instances': [raw_instance(company=None)]},
      'Type: Null is not of expected type: string',
    ),
    (
      {'signature_name': 'nope', 'instances': [raw_instance()]},
      'Serving signature name: "nope" not found',
    ),
    ({'instances': [raw_instance()], 'inputs': {}}, 'expecting only one of'),
  ],
)
def test_bad_input_is_400_and_the_server_keeps_serving(url, body, fragment):
  assert_error(post(url, '/v1/models/taxi:predict', body), 400, fragment)
  assert (
    post(
      url, '/v1/models/taxi:predict', {'instances': [raw_instance()]}
    ).status_code
    == 200
  )


def test_shapes_are_left_to_the_model_as_in_tf_serving(url, toy_model_module):
  """TF Serving feeds what the JSON describes: columns of different batch sizes, or a [1, 1] instance for [None]
  inputs, reach the model, whose own ops decide (the toy model broadcasts; its tf.Example parser refuses rank 2)."""
  columns = {name: [value, value] for name, value in raw_instance().items()}
  columns['fare'] = [1.0]
  response = post(url, '/v1/models/taxi:predict', {'inputs': columns})
  p = expected(toy_model_module, 1.0, 3.0, 'Credit Card')
  assert response.status_code == 200
  assert response.json()['outputs'] == pytest.approx([p, p], abs=1e-6)
  response = post(
    url, '/v1/models/taxi:predict', {'instances': [raw_instance(fare=[1.0])]}
  )
  assert response.status_code == 200
  ((prediction,),) = response.json()['predictions']
  assert prediction == pytest.approx(p, abs=1e-6)
  assert_error(
    post(
      url,
      '/v1/models/taxi:predict',
      {'signature_name': 'serving_tf_example', 'inputs': [['x']]},
    ),
    400,
    'Expected serialized to be a scalar or vector, got shape: [1,1]',
  )


def test_body_and_header_limits(url):
  huge = b'{"instances": [' + b'1,' * 150000 + b'1]}'
  assert_error(
    post(url, '/v1/models/taxi:predict', huge),
    413,
    'exceeds the 200000-byte limit',
  )
  response = requests.get(
    url + '/v1/models/taxi', headers={'X-Big': 'x' * 20000}, timeout=10
  )
  assert (
    response.status_code == 400
    and '(--max_header_bytes)' in response.json()['error']
  )
  assert requests.get(url + '/v1/models/taxi', timeout=10).status_code == 200


def test_pipelined_garbage_does_not_kill_the_server(url):
  host, port = url.rsplit(':', 1)
  with socket.create_connection(('127.0.0.1', int(port)), timeout=10) as sock:
    sock.sendall(b'\x00\x01garbage\r\n\r\n')
    sock.recv(1024)
  assert requests.get(url + '/v1/models/taxi', timeout=10).status_code == 200


def metric_value(text: str, name: str, **labels) -> float:
  """The value of one sample in Prometheus text, by exact (TF Serving) name and labels."""
  wanted = {f'{k}="{v}"' for k, v in labels.items()}
  for line in text.splitlines():
    if (
      line.startswith('#')
      or not line.startswith(name + '{')
      and not line.startswith(name + ' ')
    ):
      continue
    sample, value = line.rsplit(' ', 1)
    label_text = sample[len(name) :].strip('{}')
    if set(filter(None, label_text.split(','))) == wanted:
      return float(value)
  raise KeyError(f'{name} {labels}')


def test_prometheus_metrics(url):
  post(
    url,
    '/v1/models/taxi:predict',
    {'instances': [raw_instance(fare=float('nan')), raw_instance()]},
  )
  post(url, '/v1/models/taxi:predict', 'garbage')
  response = requests.get(url + '/monitoring/prometheus/metrics', timeout=10)
  assert response.status_code == 200 and response.headers[
    'Content-Type'
  ].startswith('text/plain')
  text = response.text
  families = {
    f.name: f for f in text_string_to_metric_families(text)
  }  # Valid exposition format.
  assert families[':tensorflow:serving:request_latency'].type == 'histogram'
  assert families[':tensorflow:serving:request_count'].type == 'counter'
  assert (
    metric_value(
      text, ':tensorflow:serving:request_count', model_name='taxi', status='OK'
    )
    >= 2
  )
  assert (
    metric_value(
      text,
      ':tensorflow:serving:request_count',
      model_name='taxi',
      status='INVALID_ARGUMENT',
    )
    >= 1
  )
  assert (
    metric_value(
      text,
      ':tensorflow:serving:request_latency_count',
      model_name='taxi',
      API='predict',
      entrypoint='REST',
    )
    >= 3
  )
  assert (
    metric_value(
      text,
      'serving_input_missing_values_total',
      model_name='taxi',
      feature='fare',
    )
    >= 1
  )
  assert (
    metric_value(
      text, 'serving_input_values_total', model_name='taxi', feature='fare'
    )
    >= 2
  )
  assert (
    metric_value(
      text,
      'serving_prediction_score_count',
      model_name='taxi',
      output='probability',
    )
    >= 2
  )
  assert (
    metric_value(
      text,
      'serving_failed_predictions_total',
      model_name='taxi',
      API='predict',
      status='INVALID_ARGUMENT',
    )
    >= 1
  )
  assert metric_value(text, 'serving_model_version', model_name='taxi') == 1
  assert (
    metric_value(
      text, 'serving_request_body_bytes_count', model_name='taxi', API='predict'
    )
    >= 3
  )
  assert (
    metric_value(
      text,
      'serving_model_calls_total',
      model_name='taxi',
      signature='serving_default',
    )
    >= 1
  )
