"""Hypothesis fuzzing of the REST API over raw sockets (issue 6, "Reliability").

Generated paths, methods, headers and bodies against a real in-process server with the toy model. For every client
input: no 5xx (503 queue-full and 504 deadline cannot happen with this server's settings), every application error
is `{"error": <str>}` JSON, the server answers a status GET afterwards, and nothing hangs (socket timeout).
Malformed HTTP framing (bad request line, header syntax) gets a 400 with an {"error": ...} body too, and the
connection is closed.

Bounded: a fixed example count per test and deterministic generation by default (about 15 s in all). For a longer,
randomized session: SERVING_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/serving/test_fuzz.py
"""

import datetime
import http.client
import json
import math
import os
import socket
import string
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serving.conftest import (
  V1_WEIGHTS,
  SharedReader,
  in_process_server,
  install_version,
  raw_instance,
  server_args,
)

REQUEST_TIMEOUT_SECONDS = 10.0
MAX_BODY_BYTES = 100_000
MAX_HEADER_BYTES = 16_384
_EXTRA_EXAMPLES = int(os.environ.get('SERVING_FUZZ_EXAMPLES', '0'))


def fuzz_settings(max_examples: int):
  return settings(
    max_examples=_EXTRA_EXAMPLES or max_examples,
    derandomize=not _EXTRA_EXAMPLES,
    database=None,
    deadline=datetime.timedelta(seconds=REQUEST_TIMEOUT_SECONDS * 2),
    suppress_health_check=[
      HealthCheck.too_slow,
      HealthCheck.data_too_large,
      HealthCheck.filter_too_much,
    ],
  )


@pytest.fixture(scope='module')
def server(model_base_path, monitoring_config, tmp_path_factory):
  log_dir = str(tmp_path_factory.mktemp('fuzz_logs'))
  args = server_args(
    model_base_path,
    log_dir,
    f'--monitoring_config_file={monitoring_config}',
    '--file_system_poll_wait_seconds=0',
    '--version_labels=stable=1',
    f'--max_body_bytes={MAX_BODY_BYTES}',
    f'--max_header_bytes={MAX_HEADER_BYTES}',
    '--request_log_flush_seconds=0.1',
    '--rest_api_timeout_in_ms=10000',
  )
  with in_process_server(args) as (model_server, url):
    yield {'server': model_server, 'port': int(url.rsplit(':', 1)[1])}
    # Whatever the fuzzers sent, the background threads are still alive.
    assert model_server.request_logger._thread.is_alive()
    assert all(
      thread.is_alive() for thread in model_server.inference_queue._threads
    )


# --- a raw HTTP/1.1 client: bytes out, parsed responses in ------------------------------------------------------


def encode_request(
  method: bytes,
  target: bytes,
  headers=(),
  body: bytes | None = None,
  close=True,
) -> bytes:
  lines = [method + b' ' + target + b' HTTP/1.1', b'Host: 127.0.0.1']
  lines += [name + b': ' + value for name, value in headers]
  if body is not None:
    lines.append(b'Content-Length: %d' % len(body))
  if close:
    lines.append(b'Connection: close')
  return b'\r\n'.join(lines) + b'\r\n\r\n' + (body or b'')


def exchange(
  port: int, data: bytes, methods: list[bytes]
) -> list[tuple[int, bytes]]:
  """Sends `data` (one or several pipelined requests) and reads one response per method, in order."""
  with socket.create_connection(
    ('127.0.0.1', port), timeout=REQUEST_TIMEOUT_SECONDS
  ) as sock:
    sock.sendall(data)
    reader = SharedReader(sock)
    responses = []
    for method in methods:
      response = http.client.HTTPResponse(
        reader, method=method.decode('latin-1')
      )
      try:
        response.begin()
        responses.append((response.status, response.read()))
      except socket.timeout:
        raise AssertionError(
          f'no response within {REQUEST_TIMEOUT_SECONDS} s to {data[:300]!r}'
        ) from None
      except (http.client.RemoteDisconnected, ConnectionResetError):
        responses.append(
          (None, b'')
        )  # Closed without an answer (only acceptable for oversized headers).
        break
    return responses


def request(
  port: int, method: bytes, target: bytes, headers=(), body: bytes | None = None
) -> tuple[int, bytes]:
  (response,) = exchange(
    port, encode_request(method, target, headers, body), [method]
  )
  return response


def check_response(
  status: int | None, body: bytes, method: bytes = b'POST', sent: object = None
) -> None:
  context = f'{status} {body[:500]!r} for {sent!r:.500}'
  assert status is not None and status < 500, context
  if method == b'HEAD':
    return
  if status >= 400:
    error = json.loads(body)
    assert (
      isinstance(error, dict)
      and list(error) == ['error']
      and isinstance(error['error'], str)
    ), context
  elif status == 200:
    json.loads(
      body
    )  # Valid JSON (NaN/Infinity literals allowed, as TF Serving writes them).


def assert_healthy(port: int) -> None:
  status, body = request(port, b'GET', b'/v1/models/taxi')
  assert (
    status == 200
    and json.loads(body)['model_version_status'][0]['state'] == 'AVAILABLE'
  ), body


def post_json(port: int, path: str, body: bytes) -> tuple[int, bytes]:
  status, response = request(
    port, b'POST', path.encode(), [(b'Content-Type', b'application/json')], body
  )
  check_response(status, response, sent=body)
  return status, response


# --- strategies -----------------------------------------------------------------------------------------------

_TRICKY_NAMES = [
  'taxi',
  'TAXI',
  '..',
  '.',
  '%2e%2e',
  '%2E%2E',
  '..%2F..',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  'taxi%2F..%2F..',
  '%2Ftmp',
  'taxi%00',
  '%00',
  '%ff%fe',
  '%c3%a9',
  '%',
  '%zz',
  '%2',
  'taxi%',
  '~',
  '*',
  'taxi;x',
  '1',
  '%C0%AE%C0%AE',
  '\\..\\..',
  '..%5c..%5c',
  'taxi?x=1',
  'taxi#frag',
]
_NAME_CHARS = st.characters(codec='utf-8', exclude_categories=('Cs',))
model_names = st.one_of(
  st.sampled_from(_TRICKY_NAMES),
  st.text(_NAME_CHARS, max_size=20).map(
    lambda s: urllib.parse.quote(s, safe='')
  ),
  st.text(_NAME_CHARS, max_size=20).map(
    lambda s: urllib.parse.quote(s, safe='./:%~')
  ),
  st.lists(
    st.sampled_from(['..', '%2e%2e', 'taxi', '%2f', '/', '%2F', '.']),
    max_size=8,
  ).map(''.join),
  st.integers(200, 20000).map(
    lambda n: 'a' * n
  ),  # Long: some exceed --max_header_bytes.
)
versions = st.one_of(
  st.integers(0, 2**70).map(str),
  st.sampled_from(['-1', '1.0', '', 'x', '%31', '01', '1 ']),
)
suffixes = st.sampled_from(
  [
    ':predict',
    ':classify',
    ':regress',
    ':PREDICT',
    ':explain',
    ':',
    '/metadata',
    '/METADATA',
    '',
    '/',
    ':predict/',
    '/metadata/x',
    ':predict:predict',
  ]
)


@st.composite
def api_paths(draw) -> str:
  prefix = draw(
    st.sampled_from(
      [
        '/v1/models/',
        '/V1/Models/',
        '/v1/models',
        '/v1/',
        '/v2/models/',
        '/',
        '//v1/',
        '/v1//models/',
        '/monitoring/prometheus/metrics',
        '/v1/models/../',
      ]
    )
  )
  path = prefix + draw(model_names)
  selector = draw(st.sampled_from(['', 'version', 'label']))
  if selector == 'version':
    path += '/versions/' + draw(versions)
  elif selector == 'label':
    path += '/labels/' + draw(
      st.sampled_from(['stable', 'canary', '%2e%2e', '']) | model_names
    )
  path += draw(suffixes)
  if draw(st.booleans()):
    path += '?' + draw(
      st.sampled_from(['', 'a=b', 'x=%zz', '&&', 'q=' + '%2e' * 10])
    )
  # A valid request-target: printable ASCII only (anything else is percent-encoded, as a client would).
  return urllib.parse.quote(path, safe=string.punctuation.replace(' ', ''))


header_values = st.text(
  st.characters(min_codepoint=0x20, max_codepoint=0x7E)
  | st.sampled_from('\t\x80\xe9\xff'),
  max_size=200,
)
headers = st.lists(
  st.one_of(
    st.tuples(
      st.sampled_from(
        [
          'Content-Type',
          'X-Request-Id',
          'Accept',
          'Accept-Encoding',
          'Content-Encoding',
          'Expect',
          'Connection',
          'Origin',
          'X-Forwarded-For',
          'Cookie',
        ]
      ),
      header_values,
    ),
    st.tuples(
      st.sampled_from(['Content-Type']),
      st.sampled_from(
        [
          'application/json',
          'text/plain',
          'application/json; charset=latin-1',
          'multipart/form-data; boundary=x',
          'application/x-www-form-urlencoded',
        ]
      ),
    ),
    st.tuples(
      st.text(
        st.sampled_from(string.ascii_letters + string.digits + '-_'),
        min_size=1,
        max_size=30,
      ),
      header_values,
    ),
  ),
  max_size=6,
).map(
  lambda items: [
    (name.encode(), value.encode())
    for name, value in items
    if name.lower()
    not in ('content-length', 'transfer-encoding', 'connection', 'host')
  ]
)
methods = st.one_of(
  st.sampled_from(
    [b'GET', b'POST', b'PUT', b'DELETE', b'PATCH', b'HEAD', b'OPTIONS']
  ),
  st.from_regex(rb'\A[A-Z]{1,12}\Z').filter(
    lambda m: m not in (b'CONNECT', b'TRACE')
  ),
)

json_scalars = st.one_of(
  st.none(),
  st.booleans(),
  st.integers(-(2**70), 2**70),
  st.floats(),
  st.text(_NAME_CHARS, max_size=12),
  st.sampled_from(
    [{'b64': 'AAAA'}, {'b64': '!!'}, '\ud800', 'a\udfffb', '\x00', '']
  ),
)
json_values = st.recursive(
  json_scalars,
  lambda children: st.one_of(
    st.lists(children, max_size=5),
    st.dictionaries(st.text(_NAME_CHARS, max_size=8), children, max_size=5),
  ),
  max_leaves=30,
)
FEATURES = list(raw_instance())
signature_names = st.one_of(
  st.sampled_from(
    [
      'serving_default',
      'serving_tf_example',
      'transform_features',
      '',
      'nope',
      '__saved_model_init_op',
    ]
  ),
  json_scalars,
)


@st.composite
def instance_rows(draw) -> dict:
  row = raw_instance()
  for name in draw(
    st.lists(st.sampled_from(FEATURES), max_size=4, unique=True)
  ):
    action = draw(st.sampled_from(['drop', 'value', 'nan', 'list']))
    if action == 'drop':
      del row[name]
    elif action == 'value':
      row[name] = draw(json_values)
    elif action == 'nan':
      row[name] = draw(
        st.sampled_from(
          [math.nan, math.inf, -math.inf, 1e39, -1e300, 2**24, 2**63, '']
        )
      )
    else:
      row[name] = [row[name]] * draw(st.integers(0, 3))
  if draw(st.booleans()):
    row[draw(st.text(_NAME_CHARS, max_size=8))] = draw(json_values)
  return row


@st.composite
def predict_documents(draw) -> object:
  kind = draw(st.sampled_from(['rows', 'columns', 'examples', 'anything']))
  doc: dict = {}
  if draw(st.booleans()):
    doc['signature_name'] = draw(signature_names)
  if kind == 'rows':
    doc['instances'] = draw(st.lists(instance_rows(), max_size=4))
  elif kind == 'columns':
    rows = draw(st.lists(instance_rows(), min_size=1, max_size=3))
    doc['inputs'] = {
      name: [row.get(name) for row in rows]
      for name in FEATURES
      if draw(st.integers(0, 9))
    }
  elif kind == 'examples':
    doc['signature_name'] = draw(
      st.sampled_from(['serving_tf_example', 'transform_features'])
    )
    doc[draw(st.sampled_from(['instances', 'inputs']))] = draw(json_values)
  else:
    doc.update(
      draw(
        st.dictionaries(
          st.sampled_from(['instances', 'inputs', 'signature_name', 'x']),
          json_values,
          max_size=3,
        )
      )
    )
  return draw(st.sampled_from([doc, doc, doc, draw(json_values)]))


@st.composite
def classify_documents(draw) -> object:
  doc: dict = {}
  if draw(st.booleans()):
    doc['signature_name'] = draw(
      st.sampled_from(['serving_tf_example', 'serving_default'])
      | signature_names
    )
  if draw(st.booleans()):
    doc['context'] = draw(
      st.sampled_from([{'payment_type': 'Cash'}, {'fare': 1}]) | json_values
    )
  features = st.dictionaries(
    st.sampled_from(FEATURES) | st.text(_NAME_CHARS, max_size=8),
    json_scalars | st.lists(json_scalars, max_size=3),
    max_size=6,
  )
  doc['examples'] = draw(st.lists(features, max_size=4) | json_values)
  return doc


def to_json_bytes(value) -> bytes:
  return json.dumps(
    value
  ).encode()  # NaN/Infinity become the literals TF Serving accepts.


@st.composite
def mangled_bodies(draw) -> bytes:
  """Byte-level damage: truncation, invalid UTF-8, lone surrogates, huge numbers, deep nesting, junk."""
  valid = to_json_bytes({'instances': [raw_instance()]})
  kind = draw(
    st.sampled_from(
      [
        'truncate',
        'insert',
        'surrogate',
        'number',
        'deep',
        'binary',
        'encoding',
      ]
    )
  )
  if kind == 'truncate':
    return valid[: draw(st.integers(0, len(valid) - 1))]
  if kind == 'insert':
    at = draw(st.integers(0, len(valid)))
    return valid[:at] + draw(st.binary(min_size=1, max_size=8)) + valid[at:]
  if kind == 'surrogate':
    escape = draw(
      st.sampled_from(
        [
          b'\\ud800',
          b'\\udfff',
          b'\\uDC00',
          b'\\ud83d',
          b'\\ud83d\\ude00x\\ud800',
        ]
      )
    )
    where = draw(
      st.sampled_from([b'"company": "%s"', b'"%s": 1.0, "company": "x"'])
    )
    return valid.replace(b'"company": "Flash Cab"', where % escape)
  if kind == 'number':
    number = draw(
      st.sampled_from(
        [
          b'1' * 5000,
          b'-' + b'9' * 4400,
          b'1e999',
          b'-1e999',
          b'1e-999',
          b'0.' + b'0' * 5000 + b'1',
          b'123456789012345678901234567890',
          b'1' * 400,
          b'-0',
        ]
      )
    )
    return valid.replace(b'12.5', number)
  if kind == 'deep':
    depth = draw(
      st.sampled_from(
        [
          30,
          33,
          100,
          127,
          128,
          129,
          254,
          300,
          500,
          800,
          950,
          990,
          1000,
          5000,
          15000,
        ]
      )
    )
    opener, closer = draw(st.sampled_from([(b'[', b']'), (b'{"a":', b'}')]))
    nested = opener * depth + b'1' + closer * depth
    return draw(
      st.sampled_from(
        [
          b'{"instances": [{"fare": ' + nested + b'}]}',
          b'{"signature_name": "serving_tf_example", "instances": '
          + nested
          + b'}',
          b'{"signature_name": "serving_tf_example", "inputs": {"examples": '
          + nested
          + b'}}',
          b'{"instances": 1, "x": ' + nested + b'}',
          b'{"examples": [' + nested + b']}',
          nested,
        ]
      )
    )
  if kind == 'binary':
    return draw(st.binary(max_size=300))
  return valid.decode().encode(
    draw(st.sampled_from(['utf-16', 'utf-32', 'utf-8-sig', 'latin-1']))
  )


# --- the fuzz tests -------------------------------------------------------------------------------------------


@fuzz_settings(300)
@given(
  method=methods,
  path=api_paths(),
  extra_headers=headers,
  body=st.none()
  | st.binary(max_size=64)
  | st.builds(to_json_bytes, predict_documents()),
)
def test_any_path_method_and_headers(server, method, path, extra_headers, body):
  port = server['port']
  target = path.encode()
  status, response = request(port, method, target, extra_headers, body)
  if (
    len(target) + sum(len(n) + len(v) + 4 for n, v in extra_headers)
    > MAX_HEADER_BYTES - 100
  ):
    check_response(
      status, response, method, (method, path, extra_headers, body)
    )  # Usually the 400.
  elif status == 200 and path.startswith('/monitoring/'):
    assert response.startswith(b'# HELP')
  else:
    check_response(
      status, response, method, (method, path, extra_headers, body)
    )
    if status == 200:
      # Only the served model's own name reaches it, however the name is spelled or encoded.
      name = urllib.parse.unquote(
        path.split('/')[3].split(':')[0].split('?')[0]
      )
      assert name == 'taxi' and path.lower().startswith('/v1/models/'), path
  assert_healthy(port)


@fuzz_settings(250)
@given(
  doc=predict_documents(),
  path=st.sampled_from(
    [
      '/v1/models/taxi:predict',
      '/v1/models/taxi/versions/1:predict',
      '/v1/models/taxi/labels/stable:predict',
    ]
  ),
)
def test_predict_with_arbitrary_json(server, doc, path):
  status, response = post_json(server['port'], path, to_json_bytes(doc))
  if status == 200:
    assert set(json.loads(response)) <= {'predictions', 'outputs'}
  assert_healthy(server['port'])


@fuzz_settings(200)
@given(doc=classify_documents(), verb=st.sampled_from(['classify', 'regress']))
def test_classify_and_regress_with_arbitrary_json(server, doc, verb):
  status, response = post_json(
    server['port'], f'/v1/models/taxi:{verb}', to_json_bytes(doc)
  )
  if status == 200:
    assert list(json.loads(response)) == ['results']
  assert_healthy(server['port'])


@fuzz_settings(250)
@given(
  body=mangled_bodies(),
  verb=st.sampled_from(['predict', 'classify', 'regress']),
)
def test_damaged_bodies(server, body, verb):
  status, response = post_json(server['port'], f'/v1/models/taxi:{verb}', body)
  if len(body) > MAX_BODY_BYTES:
    assert status == 413
  assert_healthy(server['port'])


@fuzz_settings(60)
@given(
  bodies=st.lists(
    st.one_of(
      st.builds(to_json_bytes, predict_documents()),
      mangled_bodies().filter(lambda b: len(b) <= MAX_BODY_BYTES),
    ),
    min_size=2,
    max_size=6,
  )
)
def test_pipelined_keep_alive_requests_are_answered_in_order(server, bodies):
  """Several requests on one keep-alive connection, sent at once: one well-formed answer each, in order."""
  probe = to_json_bytes({'instances': [raw_instance()]})
  data = b''.join(
    encode_request(b'POST', b'/v1/models/taxi:predict', [], body, close=False)
    for body in [*bodies, probe]
  )
  responses = exchange(server['port'], data, [b'POST'] * (len(bodies) + 1))
  for (status, response), body in zip(responses, bodies):
    check_response(status, response, sent=body)
  status, response = responses[-1]
  assert status == 200 and len(json.loads(response)['predictions']) == 1, (
    response
  )


@fuzz_settings(120)
@given(
  data=st.one_of(
    st.binary(max_size=200),
    st.builds(
      lambda m, t, v: m + b' ' + t + b' ' + v + b'\r\n\r\n',
      st.binary(max_size=10),
      st.binary(max_size=60),
      st.sampled_from([b'HTTP/1.1', b'HTTP/1.0', b'HTTP/2', b'http/1.1', b'']),
    ),
    st.builds(
      lambda name, value: (
        b'POST /v1/models/taxi:predict HTTP/1.1\r\n'
        + name
        + b': '
        + value
        + b'\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}'
      ),
      st.sampled_from(
        [
          b'Content-Length',
          b'Transfer-Encoding',
          b'X-Request-Id',
          b'Host',
          b'Bad Name',
          b'',
        ]
      ),
      st.binary(max_size=40),
    ),
    st.builds(
      lambda chunk: (
        b'POST /v1/models/taxi:predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n'
        b'Connection: close\r\n\r\n' + chunk
      ),
      st.binary(max_size=80),
    ),
  )
)
def test_protocol_level_garbage(server, data):
  """Arbitrary bytes on the wire: a 4xx answer or, for an incomplete request, a closed connection; never a 5xx."""
  with socket.create_connection(
    ('127.0.0.1', server['port']), timeout=REQUEST_TIMEOUT_SECONDS
  ) as sock:
    sock.sendall(data)
    sock.shutdown(
      socket.SHUT_WR
    )  # No more bytes: an incomplete request must not keep the server waiting.
    received = b''
    while len(received) < 1_000_000:
      try:
        chunk = sock.recv(65536)
      except ConnectionResetError:
        break
      except socket.timeout:
        raise AssertionError(
          f'no answer or close within {REQUEST_TIMEOUT_SECONDS} s to {data!r}'
        ) from None
      if not chunk:
        break
      received += chunk
  if received:
    status_line = received.split(b'\r\n', 1)[0]
    assert (
      status_line.startswith(b'HTTP/1.1 ') and not status_line[9:10] == b'5'
    ), (data, received[:300])
  assert_healthy(server['port'])


# --- regressions found by the fuzzers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
  'verb, body, fragment',
  [
    # A lone UTF-16 surrogate escape made str.encode("utf-8") raise: 500.
    (
      'predict',
      b'{"instances": [%s]}'
      % to_json_bytes(raw_instance()).replace(b'"Flash Cab"', b'"\\ud800"'),
      'The surrogate pair in string is invalid',
    ),
    (
      'classify',
      b'{"signature_name": "serving_tf_example", "examples": [{"\\udc00": 1.0}]}',
      'surrogate pair',
    ),
    (
      'regress',
      b'{"context": {"payment_type": "\\ud83d\\ude00\\ud83d"}, "examples": [{}]}',
      'surrogate pair',
    ),
    # Integers beyond Python's int-parsing digit limit raised a plain ValueError: 500.
    (
      'predict',
      b'{"instances": [%s]}'
      % to_json_bytes(raw_instance()).replace(b'12.5', b'1' * 5000),
      'Number too big',
    ),
    # Nesting deep enough for json.loads but not for the recursive tensor decoder: RecursionError, 500.
    (
      'predict',
      b'{"signature_name": "serving_tf_example", "instances": '
      + b'[' * 960
      + b']' * 960
      + b'}',
      'Tensor of rank 960 is not supported',
    ),
    (
      'classify',
      b'{"examples": 1, "x": ' + b'[' * 5000 + b']' * 5000 + b'}',
      'nested too deeply',
    ),
  ],
)
def test_fuzz_findings_are_400(server, verb, body, fragment):
  status, response = request(
    server['port'], b'POST', f'/v1/models/taxi:{verb}'.encode(), [], body
  )
  assert status == 400 and fragment in json.loads(response)['error'], response
  assert_healthy(server['port'])


@pytest.mark.parametrize(
  'rank, fragment',
  [
    # Decoded and fed as it is (TF Serving checks no shapes up front); the model's parser refuses it.
    (32, 'Expected serialized to be a scalar or vector, got shape: [1,1,1'),
    # numpy arrays have at most 32 dimensions: reshape raised ValueError, 500.
    (33, 'Tensor of rank 33 is not supported (at most 32 dimensions)'),
    (120, 'Tensor of rank 120 is not supported'),
  ],
)
def test_high_rank_tensors_are_400(server, rank, fragment):
  body = (
    b'{"signature_name": "serving_tf_example", "inputs": '
    + b'[' * rank
    + b'"x"'
    + b']' * rank
    + b'}'
  )
  status, response = request(
    server['port'], b'POST', b'/v1/models/taxi:predict', [], body
  )
  assert status == 400 and fragment in json.loads(response)['error'], response


@pytest.mark.parametrize(
  'length',
  [b'\xb2', b'\xb9\xb2', b'1\xbc', b'+5', b'-1', b'0x10', b' 2 ', b'2, 2', b''],
)
def test_odd_content_length_values_are_not_a_server_error(server, length):
  # "²" passed str.isdigit() but not int(): the 413 pre-check raised, 500.
  data = (
    b'POST /v1/models/taxi:predict HTTP/1.1\r\nContent-Length: '
    + length
    + b'\r\nConnection: close\r\n\r\n{}'
  )
  with socket.create_connection(
    ('127.0.0.1', server['port']), timeout=REQUEST_TIMEOUT_SECONDS
  ) as sock:
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    received = sock.recv(65536)
  assert not received or received.startswith(b'HTTP/1.1 4'), received
  assert_healthy(server['port'])


# --- the model name never leaves --model_base_path ------------------------------------------------------------


def test_model_names_cannot_reach_directories_outside_the_base_path(
  tmp_path, model_v1_template, toy_model_module
):
  """Siblings of the base path with numeric versions (a different model) must be unreachable by any name."""
  root = tmp_path / 'models'
  base = str(root / 'taxi')
  install_version(model_v1_template, base, 1, 1)
  install_version(
    model_v1_template, str(root), 2, 2
  )  # models/2: a numeric sibling of the base path.
  install_version(
    model_v1_template, str(root / 'other'), 2, 2
  )  # models/other/2: another model.
  install_version(
    model_v1_template, str(tmp_path), 2, 3
  )  # <tmp>/3: next to the parent.
  args = server_args(
    base, str(tmp_path / 'logs'), '--file_system_poll_wait_seconds=0'
  )
  names = [
    '..',
    '%2e%2e',
    '%2E%2E',
    '.%2e',
    '..%2F2',
    '%2e%2e%2f2',
    '%2e%2e%2fother',
    '..%2Fother',
    'other',
    'taxi%2F..%2F..%2Fother',
    'taxi%2F..',
    'taxi%2F..%2F2',
    '%2e%2e%2f%2e%2e%2f3',
    '2',
    '3',
    urllib.parse.quote(str(root), safe=''),
    urllib.parse.quote(str(root / 'other'), safe=''),
    urllib.parse.quote(base, safe=''),
    'taxi%2F.',
    'taxi%2F',
    '%2Ftaxi',
    'taxi%00..%2F2',
    'models%2F2',
  ]
  expected = toy_model_module.reference_probability(
    12.5, 3.0, 'Cash', **V1_WEIGHTS
  )
  body = to_json_bytes({'instances': [raw_instance(12.5, 3.0, 'Cash')]})
  with in_process_server(args) as (_, url):
    port = int(url.rsplit(':', 1)[1])
    for name in names:
      for selector in (
        '',
        '/versions/1',
        '/versions/2',
        '/versions/3',
        '/labels/2',
      ):
        for target, method in (
          (f'/v1/models/{name}{selector}:predict', b'POST'),
          (f'/v1/models/{name}{selector}:regress', b'POST'),
          (f'/v1/models/{name}{selector}', b'GET'),
          (f'/v1/models/{name}{selector}/metadata', b'GET'),
        ):
          status, response = request(
            port,
            method,
            target.encode(),
            [],
            body if method == b'POST' else None,
          )
          check_response(status, response, method, target)
          assert status in (400, 404), (target, status, response)
    for selector in ('/versions/2', '/versions/3'):
      status, _ = request(
        port, b'POST', f'/v1/models/taxi{selector}:predict'.encode(), [], body
      )
      assert status == 404
    status, response = request(
      port, b'POST', b'/v1/models/taxi:predict', [], body
    )
    assert status == 200 and json.loads(response)[
      'predictions'
    ] == pytest.approx([expected], abs=1e-6)
    status, response = request(port, b'GET', b'/v1/models/taxi', [])
    assert [
      s['version'] for s in json.loads(response)['model_version_status']
    ] == ['1']
