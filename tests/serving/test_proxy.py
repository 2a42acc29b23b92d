"""--proxy_to over real sockets, with this project's own server as the upstream (the real binary is not
installable here): the proxy's answers are the upstream's, byte for byte, and it logs and measures like it."""

import base64
import json
import socket

import requests

from serving import request_log
from tests.serving.conftest import (
  assert_refused,
  free_port,
  in_process_server,
  raw_instance,
  server_args,
  subprocess_server,
)
from tests.serving.test_rest_contract import metric_value


def raw_exchange(port: int, request: bytes) -> bytes:
  """Sends one request on a new connection; returns the whole response (headers and body) as received."""
  with socket.create_connection(('127.0.0.1', port), timeout=30) as sock:
    sock.sendall(request)
    data = b''
    while b'\r\n\r\n' not in data:
      chunk = sock.recv(65536)
      assert chunk, data
      data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    length = 0
    for line in head.split(b'\r\n')[1:]:
      name, _, value = line.partition(b':')
      if name.strip().lower() == b'content-length':
        length = int(value)
    if not request.startswith(b'HEAD '):
      while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return head + b'\r\n\r\n' + body


def without_date(response: bytes) -> bytes:
  return b'\r\n'.join(
    line
    for line in response.split(b'\r\n')
    if not line.lower().startswith(b'date:')
  )


def http_request(method: str, target: str, body=None, request_id=None) -> bytes:
  if body is None or isinstance(body, bytes):
    data = body or b''
  else:
    data = json.dumps(body).encode()
  lines = [
    f'{method} {target} HTTP/1.1',
    'Host: 127.0.0.1',
    'Content-Type: application/json',
    'Connection: close',
  ]
  if request_id:
    lines.append(f'X-Request-Id: {request_id}')
  if data or method == 'POST':
    lines.append(f'Content-Length: {len(data)}')
  return '\r\n'.join(lines).encode() + b'\r\n\r\n' + data


def tf_example_b64(fare: float, miles: float, payment: bytes) -> str:
  from tensorflow.core.example import example_pb2

  example = example_pb2.Example()
  example.features.feature['fare'].float_list.value.append(fare)
  example.features.feature['trip_miles'].float_list.value.append(miles)
  example.features.feature['payment_type'].bytes_list.value.append(payment)
  return base64.b64encode(example.SerializeToString()).decode()


EXAMPLES = {
  'signature_name': 'classification',
  'context': {'payment_type': 'Cash'},
  'examples': [
    {'fare': 20.0, 'trip_miles': 4.0},
    {'fare': 3.0, 'trip_miles': 0.5, 'payment_type': ''},
  ],
}
REQUESTS = [
  # (name, method, target, body); names double as request ids.
  (
    'predict-rows',
    'POST',
    '/v1/models/taxi:predict',
    {'instances': [raw_instance(), raw_instance(fare=float('nan'))]},
  ),
  (
    'predict-columns',
    'POST',
    '/v1/models/taxi/versions/1:predict',
    {'inputs': {k: [v] for k, v in raw_instance(payment_type='').items()}},
  ),
  (
    'predict-examples',
    'POST',
    '/v1/models/taxi:predict?ignored=1',
    {
      'signature_name': 'serving_tf_example',
      'instances': [{'b64': tf_example_b64(20.0, 4.0, b'Cash')}],
    },
  ),
  ('classify', 'POST', '/v1/models/taxi:classify', EXAMPLES),
  (
    'regress',
    'POST',
    '/v1/models/taxi/labels/stable:regress',
    {**EXAMPLES, 'signature_name': 'regression'},
  ),
  ('bad-json', 'POST', '/v1/models/taxi:predict', b'{"instances": ['),
  ('missing-feature', 'POST', '/v1/models/taxi:predict', {'instances': [{}]}),
  ('unknown-model', 'POST', '/v1/models/nope:predict', {'instances': [1.0]}),
  ('status', 'GET', '/v1/models/taxi', None),
  ('metadata', 'GET', '/v1/models/taxi/versions/1/metadata', None),
  ('malformed', 'GET', '/v1/models/taxi/version/1', None),
  ('outside-api', 'GET', '/healthz', None),
  ('head', 'HEAD', '/v1/models/taxi', None),
]
LOGGED = [
  'predict-rows',
  'predict-columns',
  'predict-examples',
  'classify',
  'regress',
]


def test_proxy_answers_byte_for_byte_and_logs_like_the_server(
  tmp_path, model_base_path, monitoring_config
):
  upstream_logs, proxy_logs = tmp_path / 'upstream', tmp_path / 'proxy'
  upstream_args = server_args(
    model_base_path,
    str(upstream_logs),
    '--file_system_poll_wait_seconds=0',
    '--version_labels=stable=1',
    '--request_log_flush_seconds=0.1',
  )
  with in_process_server(upstream_args) as (_, upstream_url):
    upstream_port = int(upstream_url.rsplit(':', 1)[1])
    proxy_args = [
      '--model_name=taxi',
      f'--proxy_to=127.0.0.1:{upstream_port}',
      f'--request_log_dir={proxy_logs}',
      f'--monitoring_config_file={monitoring_config}',
      '--request_log_flush_seconds=0.1',
    ]
    with subprocess_server(proxy_args) as (process, proxy_url):
      proxy_port = int(proxy_url.rsplit(':', 1)[1])
      for name, method, target, body in REQUESTS:
        request = http_request(method, target, body, request_id=name)
        direct = raw_exchange(upstream_port, request)
        proxied = raw_exchange(proxy_port, request)
        assert without_date(proxied) == without_date(direct), name
      # Without a client id the proxy makes one up and the upstream answers with the same one.
      response = requests.post(
        proxy_url + '/v1/models/taxi:predict',
        data=json.dumps({'instances': [raw_instance()]}),
        timeout=30,
      )
      assert response.status_code == 200
      made_up = response.headers['X-Request-Id']
      metrics = requests.get(
        proxy_url + '/monitoring/prometheus/metrics', timeout=10
      ).text
    assert process.returncode == 0
  ok = metric_value(
    metrics, ':tensorflow:serving:request_count', model_name='taxi', status='OK'
  )
  assert ok == len(LOGGED) + 1
  assert (
    metric_value(
      metrics,
      ':tensorflow:serving:request_count',
      model_name='taxi',
      status='INVALID_ARGUMENT',
    )
    == 2
  )
  assert (
    metric_value(
      metrics,
      'serving_input_missing_values_total',
      model_name='taxi',
      feature='fare',
    )
    == 1
  )

  def by_id(log_dir):
    records = {}
    for record in request_log.read_records(str(log_dir)):
      record.pop('timestamp')
      record.pop('latency_us')
      records.setdefault(record['request_id'], []).append(record)
    return records

  upstream_records, proxy_records = by_id(upstream_logs), by_id(proxy_logs)
  assert sorted(proxy_records) == sorted([*LOGGED, made_up])
  for request_id, records in proxy_records.items():
    # The upstream logged each request sent directly and again through the proxy: the same records.
    assert records == upstream_records[request_id][-len(records) :], request_id


def test_unreachable_upstream_is_a_503_and_bad_flags_one_line(tmp_path):
  port = free_port()  # Nothing listens there.
  with subprocess_server(
    [
      '--model_name=taxi',
      f'--proxy_to=127.0.0.1:{port}',
      f'--request_log_dir={tmp_path}',
    ],
    ready_statuses=(503,),
  ) as (_, url):
    response = requests.post(
      url + '/v1/models/taxi:predict',
      data=json.dumps({'instances': [raw_instance()]}),
      timeout=30,
    )
  assert response.status_code == 503
  assert 'unreachable' in response.json()['error']
  for flags, message in (
    (
      ['--proxy_to=nowhere'],
      "error: --proxy_to must be HOST:PORT, got 'nowhere'",
    ),
    (
      ['--proxy_to=127.0.0.1:8501', '--port=8500'],
      'error: --proxy_to forwards REST only: --port (gRPC) cannot be used with it',
    ),
  ):
    assert_refused(flags, message)
