"""The HTTP/1.1 layer over raw sockets: framing, keep-alive, pipelining, limits and timeouts."""

import http.client
import json
import socket
import time

import pytest

from tests.serving.conftest import (
  SharedReader,
  in_process_server,
  raw_instance,
  server_args,
)

IDLE_SECONDS = 0.6
REQUEST_TIMEOUT_MS = 1000
MAX_CONNECTIONS = 4
MAX_HEADER_BYTES = 4096
MAX_BODY_BYTES = 8192
PREDICT_BODY = json.dumps({'instances': [raw_instance()]}).encode()


@pytest.fixture(scope='module')
def port(model_base_path, tmp_path_factory):
  args = server_args(
    model_base_path,
    str(tmp_path_factory.mktemp('http_logs')),
    f'--idle_connection_timeout_seconds={IDLE_SECONDS}',
    f'--rest_api_timeout_in_ms={REQUEST_TIMEOUT_MS}',
    f'--max_connections={MAX_CONNECTIONS}',
    f'--max_header_bytes={MAX_HEADER_BYTES}',
    f'--max_body_bytes={MAX_BODY_BYTES}',
  )
  with in_process_server(args) as (_, url):
    yield int(url.rsplit(':', 1)[1])


def connect(port: int) -> socket.socket:
  return socket.create_connection(('127.0.0.1', port), timeout=5)


def predict_request(
  body: bytes = PREDICT_BODY, version: bytes = b'HTTP/1.1', headers: bytes = b''
) -> bytes:
  return (
    b'POST /v1/models/taxi:predict '
    + version
    + b'\r\nHost: x\r\nContent-Length: %d\r\n' % len(body)
    + headers
    + b'\r\n'
    + body
  )


def read_response(
  reader: SharedReader, method: str = 'POST'
) -> http.client.HTTPResponse:
  response = http.client.HTTPResponse(reader, method=method)
  response.begin()
  response.body = response.read()
  return response


def read_all(sock: socket.socket) -> bytes:
  """Everything until the server closes the connection."""
  received = b''
  while chunk := sock.recv(65536):
    received += chunk
  return received


def closed_by_server(sock: socket.socket) -> bool:
  try:
    return sock.recv(1) == b''
  except ConnectionResetError:
    return True


def test_keep_alive_serves_several_requests_on_one_connection(port):
  with connect(port) as sock:
    reader = SharedReader(sock)
    for _ in range(3):
      sock.sendall(predict_request())
      response = read_response(reader)
      assert (
        response.status == 200
        and len(json.loads(response.body)['predictions']) == 1
      )
      assert response.getheader('Connection') is None and response.getheader(
        'X-Request-Id'
      )


def test_many_pipelined_requests_are_answered_in_order(port):
  """More than the per-connection queue (16): reading pauses and resumes; every answer comes, in order."""
  fares = [float(i) for i in range(40)]
  data = b''.join(
    predict_request(
      json.dumps({'instances': [raw_instance(fare=fare)]}).encode(),
      headers=b'X-Request-Id: req-%d\r\n' % i,
    )
    for i, fare in enumerate(fares)
  )
  with connect(port) as sock:
    sock.sendall(data)
    reader = SharedReader(sock)
    ids = [read_response(reader).getheader('X-Request-Id') for _ in fares]
  assert ids == [f'req-{i}' for i in range(len(fares))]


def test_http_1_0_closes_unless_keep_alive_is_asked(port):
  with connect(port) as sock:
    sock.sendall(predict_request(version=b'HTTP/1.0'))
    response = read_response(SharedReader(sock))
    assert (
      response.status == 200 and response.getheader('Connection') == 'close'
    )
    assert closed_by_server(sock)
  with connect(port) as sock:
    reader = SharedReader(sock)
    sock.sendall(
      predict_request(
        version=b'HTTP/1.0', headers=b'Connection: keep-alive\r\n'
      )
    )
    assert read_response(reader).getheader('Connection') == 'keep-alive'
    sock.sendall(
      predict_request(
        version=b'HTTP/1.0', headers=b'Connection: keep-alive\r\n'
      )
    )
    assert read_response(reader).status == 200


def test_expect_100_continue_is_answered_before_the_body(port):
  with connect(port) as sock:
    sock.sendall(
      b'POST /v1/models/taxi:predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n'
      b'Content-Length: %d\r\n\r\n' % len(PREDICT_BODY)
    )
    assert sock.recv(64).startswith(b'HTTP/1.1 100 Continue\r\n\r\n')
    sock.sendall(PREDICT_BODY)
    assert read_response(SharedReader(sock)).status == 200


def test_chunked_body_is_assembled(port):
  chunks = [PREDICT_BODY[:10], PREDICT_BODY[10:]]
  body = b''.join(b'%x\r\n%s\r\n' % (len(c), c) for c in chunks) + b'0\r\n\r\n'
  with connect(port) as sock:
    sock.sendall(
      b'POST /v1/models/taxi:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
      + body
    )
    response = read_response(SharedReader(sock))
  assert (
    response.status == 200
    and len(json.loads(response.body)['predictions']) == 1
  )


def test_chunked_body_over_the_limit_is_413_and_closed(port):
  chunk = b'x' * 4000
  with connect(port) as sock:
    sock.sendall(
      b'POST /v1/models/taxi:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
      + b'%x\r\n%s\r\n' % (len(chunk), chunk) * 3
    )
    received = read_all(sock)
  assert (
    received.startswith(b'HTTP/1.1 413 ') and b'Connection: close' in received
  )
  assert b'8192-byte limit (--max_body_bytes)' in received


def test_headers_growing_over_several_reads_are_cut_off(port):
  with connect(port) as sock:
    sock.sendall(b'GET /v1/models/taxi HTTP/1.1\r\nX-Long: ')
    for _ in range(10):
      try:
        sock.sendall(b'y' * 1000)
      except (BrokenPipeError, ConnectionResetError):
        break
      time.sleep(0.02)
    received = read_all(sock)
  assert (
    received.startswith(b'HTTP/1.1 400 ')
    and b'4096-byte limit (--max_header_bytes)' in received
  )


def test_malformed_http_gets_a_json_400_and_a_close(port):
  with connect(port) as sock:
    sock.sendall(b'GET /v1/models/taxi HTTP/1.1\r\nBad Header Name: 1\r\n\r\n')
    received = read_all(sock)
  head, body = received.split(b'\r\n\r\n', 1)
  assert head.startswith(b'HTTP/1.1 400 ') and json.loads(body)[
    'error'
  ].startswith('Malformed HTTP request')


def test_half_closed_client_still_gets_its_answer(port):
  with connect(port) as sock:
    sock.sendall(predict_request())
    sock.shutdown(socket.SHUT_WR)
    received = read_all(sock)
  assert received.startswith(b'HTTP/1.1 200 ') and b'"predictions"' in received


def test_idle_connection_is_closed(port):
  with connect(port) as sock:
    sock.sendall(predict_request())
    read_response(SharedReader(sock))
    started = time.monotonic()
    assert closed_by_server(sock)
    assert time.monotonic() - started < IDLE_SECONDS + 2


def test_request_that_never_finishes_arriving_is_dropped(port):
  with connect(port) as sock:
    sock.sendall(
      b'POST /v1/models/taxi:predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{'
    )
    started = time.monotonic()
    assert closed_by_server(sock)
    assert time.monotonic() - started < REQUEST_TIMEOUT_MS / 1000 + 2


def test_connections_over_the_limit_get_503(port):
  sockets = [connect(port) for _ in range(MAX_CONNECTIONS)]
  try:
    for sock in sockets:  # Each is registered once it has been served.
      sock.sendall(b'GET /v1/models/taxi HTTP/1.1\r\nHost: x\r\n\r\n')
      assert read_response(SharedReader(sock), 'GET').status == 200
    with connect(port) as extra:
      received = read_all(extra)
    assert (
      received.startswith(b'HTTP/1.1 503 ') and b'--max_connections' in received
    )
  finally:
    for sock in sockets:
      sock.close()
  time.sleep(0.2)
  with connect(port) as sock:
    sock.sendall(b'GET /v1/models/taxi HTTP/1.1\r\nHost: x\r\n\r\n')
    assert read_response(SharedReader(sock), 'GET').status == 200
