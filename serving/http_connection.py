"""HTTP/1.1 on asyncio: one Protocol per client connection, parsed by httptools (llhttp, Node's C parser).

Tornado's connection layer (a coroutine, futures and reader re-registration per request) was two thirds of the
event loop's time per request under load; this layer is callbacks only. What it guarantees:
  * requests on one connection are answered strictly in order (pipelining), at most MAX_PIPELINED queued;
  * keep-alive per HTTP/1.0 and 1.1 rules; `Expect: 100-continue` is answered;
  * limits: request line + headers (--max_header_bytes, 400 and close), body (--max_body_bytes, 413 and close,
    before reading it when Content-Length says so), open connections (--max_connections, 503 and close),
    idle connections and slow requests (closed by a periodic sweep, so no timer per request);
  * malformed HTTP gets a 400 and the connection is closed; a half-closed client still gets its answers.
The request itself (routes, JSON, model) is the `exchange` object's business (serving.rest_api.RestExchange).
"""

import asyncio
import collections
import dataclasses
import email.utils
import http.client
import logging
import time

import httptools

from serving import json_codec
from serving.errors import ServingError

LOG = logging.getLogger(__name__)
MAX_PIPELINED = (
  16  # Complete requests queued on one connection before it stops reading.
)
SWEEP_SECONDS = 0.25
JSON_CONTENT_TYPE = 'application/json'
_REASONS = {
  status: reason.encode() for status, reason in http.client.responses.items()
}
_CONTINUE = b'HTTP/1.1 100 Continue\r\n\r\n'


@dataclasses.dataclass(frozen=True)
class Limits:
  max_header_bytes: int
  max_body_bytes: int
  max_connections: int
  idle_timeout_seconds: float
  request_timeout_seconds: float


class HttpServer:
  """Accepts connections on given sockets; `new_exchange(connection, method, path, headers)` makes the handler.

  Runs on one event loop; every method is called on that loop.
  """

  def __init__(self, new_exchange, limits: Limits, on_reject=None):
    self.new_exchange = new_exchange
    self.limits = limits
    self.on_reject = on_reject or (lambda: None)
    self.connections: set[HttpConnection] = set()
    self._servers: list[asyncio.base_events.Server] = []
    self._sweeper: asyncio.Task | None = None

  async def start(self, sockets) -> None:
    loop = asyncio.get_running_loop()
    for sock in sockets:
      self._servers.append(
        await loop.create_server(lambda: HttpConnection(self), sock=sock)
      )
    self._sweeper = loop.create_task(self._sweep())

  def stop_accepting(self) -> None:
    for server in self._servers:
      server.close()

  def close_all(self) -> None:
    if self._sweeper is not None:
      self._sweeper.cancel()
    for connection in list(self.connections):
      connection.close()

  async def _sweep(self) -> None:
    while True:
      await asyncio.sleep(SWEEP_SECONDS)
      now = time.monotonic()
      for connection in list(self.connections):
        connection.check_timeouts(now)


class HttpConnection(asyncio.Protocol):
  def __init__(self, server: HttpServer):
    self.server = server
    self.limits = server.limits
    self.transport: asyncio.Transport | None = None
    self.parser = httptools.HttpRequestParser(self)
    self.pending: collections.deque = (
      collections.deque()
    )  # Exchanges in arrival order; the first is served.
    self.closed = False
    self._paused = False
    self._close_after_pending = False
    self._last_activity = time.monotonic()
    # The request being parsed.
    self._url = b''
    self._headers: dict[str, str] = {}
    self._header_bytes = 0  # Request line and complete header lines.
    self._header_reads_bytes = 0
    self._in_headers = False
    self._receiving = (
      None  # Its exchange, from the end of its headers to the end of its body.
    )
    self._body_bytes = 0
    self._message_started = 0.0

  # --- asyncio.Protocol ------------------------------------------------------------------------------------
  def connection_made(self, transport):
    self.transport = transport
    if len(self.server.connections) >= self.limits.max_connections:
      self.server.on_reject()
      self.closed = True
      transport.write(
        _response_bytes(
          503,
          json_codec.encode_error(
            'Too many open connections (--max_connections)'
          ).encode(),
          close=True,
        )
      )
      transport.close()
      return
    self.server.connections.add(self)

  def data_received(self, data: bytes):
    if self.closed or self._close_after_pending:
      return
    self._last_activity = time.monotonic()
    continuing_headers = self._in_headers
    try:
      self.parser.feed_data(data)
    except httptools.HttpParserUpgrade:
      # No protocol switch here: answer what was asked, then close.
      self._close_after_pending = True
      if not self.pending:
        self.close()
      return
    except httptools.HttpParserError as exc:
      self._reject(
        ServingError(
          'INVALID_ARGUMENT', f'Malformed HTTP request: {_parser_message(exc)}'
        )
      )
      return
    if self._in_headers:
      # httptools buffers an unfinished header line itself, unseen: bound it by the reads that went entirely
      # into headers (both counts are at most the true size, so a request within the limit passes).
      if continuing_headers:
        self._header_reads_bytes += len(data)
      if (
        max(self._header_bytes, self._header_reads_bytes)
        > self.limits.max_header_bytes
      ):
        self._reject(self._headers_too_large())

  def _headers_too_large(self) -> ServingError:
    return ServingError(
      'INVALID_ARGUMENT',
      f'Request line and headers exceed the '
      f'{self.limits.max_header_bytes}-byte limit (--max_header_bytes)',
    )

  def eof_received(self):
    # The client will send nothing more: answer the complete requests, drop a partial one.
    if (
      self._receiving is not None
    ):  # A rejected request is answered: _reject clears _receiving.
      self.pending.remove(self._receiving)
    self._receiving, self._in_headers = None, False
    if self.pending:
      self._close_after_pending = True
      self._serve_next()
      return True  # Keep the transport open for the answers.
    self.close()
    return False

  def connection_lost(self, exc):
    self.closed = True
    self.server.connections.discard(self)
    for exchange in self.pending:
      exchange.on_connection_close()
    self.pending.clear()

  def pause_writing(self):
    self.transport.pause_reading()  # A client not reading its answers sends no more requests for now.

  def resume_writing(self):
    if not self._paused:
      self.transport.resume_reading()

  # --- httptools callbacks -----------------------------------------------------------------------------------
  def on_message_begin(self):
    self._in_headers = True
    self._url, self._headers, self._body_bytes = b'', {}, 0
    self._header_bytes = self._header_reads_bytes = 0
    self._message_started = time.monotonic()

  def on_url(self, url: bytes):
    self._url += url
    self._header_bytes += len(url)

  def on_header(self, name: bytes, value: bytes):
    self._header_bytes += len(name) + len(value) + 4
    key = name.decode('latin-1').lower()
    text = value.decode('latin-1')
    self._headers[key] = (
      f'{self._headers[key]}, {text}' if key in self._headers else text
    )

  def on_headers_complete(self):
    self._in_headers = False
    parser = self.parser
    method = parser.get_method().decode('latin-1')
    target = self._url.decode('latin-1')
    keep_alive = parser.should_keep_alive() and not parser.should_upgrade()
    exchange = self.server.new_exchange(
      self, method, target.split('?', 1)[0], self._headers
    )
    exchange.keep_alive = keep_alive
    exchange.target = target  # With its query string, for --proxy_to.
    exchange.http10 = parser.get_http_version() == '1.0'
    self._receiving = exchange
    self.pending.append(exchange)
    limit = self.limits.max_body_bytes
    length = self._headers.get('content-length', '')
    if self._header_bytes > self.limits.max_header_bytes:
      self._reject(self._headers_too_large())
    elif length.isascii() and length.isdigit() and int(length) > limit:
      # Refused before the body is read; the connection closes after the answer.
      self._reject(
        ServingError(
          'INVALID_ARGUMENT',
          f'Request body of {length} bytes exceeds the '
          f'{limit}-byte limit (--max_body_bytes)',
          http_status=413,
        )
      )
    elif (
      self._headers.get('expect', '').lower() == '100-continue'
      and parser.get_http_version() == '1.1'
    ):
      self.transport.write(_CONTINUE)

  def on_body(self, body: bytes):
    exchange = self._receiving
    if exchange is None:
      return
    self._body_bytes += len(body)
    if (
      self._body_bytes > self.limits.max_body_bytes
    ):  # Chunked bodies announce no length.
      self._reject(
        ServingError(
          'INVALID_ARGUMENT',
          f'Request body exceeds the '
          f'{self.limits.max_body_bytes}-byte limit (--max_body_bytes)',
          http_status=413,
        )
      )
      return
    exchange.data_received(body)

  def on_message_complete(self):
    exchange, self._receiving = self._receiving, None
    self._in_headers = False
    if exchange is None:
      return
    exchange.complete = True
    if len(self.pending) >= MAX_PIPELINED and not self._paused:
      self._paused = True
      self.transport.pause_reading()
    self._serve_next()

  # --- responses ---------------------------------------------------------------------------------------------
  def send(
    self,
    exchange,
    status: int,
    body: bytes,
    content_type: str,
    extra_headers: tuple = (),
    head: bool = False,
  ) -> None:
    """Called by the first pending exchange, exactly once."""
    if self.closed:
      return
    close = (
      not exchange.keep_alive
      or exchange.rejected
      or (self._close_after_pending and len(self.pending) == 1)
    )
    if exchange.http10 and not close:
      extra_headers = (*extra_headers, ('Connection', 'keep-alive'))
    self.transport.write(
      _response_bytes(status, body, content_type, extra_headers, close, head)
    )
    self._last_activity = time.monotonic()
    self.pending.popleft()
    if close:
      self.close()
      return
    if self._paused and len(self.pending) < MAX_PIPELINED // 2:
      self._paused = False
      self.transport.resume_reading()
    self._serve_next()

  def _serve_next(self) -> None:
    if (
      self.pending
      and not self.pending[0].started
      and (self.pending[0].complete or self.pending[0].rejected)
    ):
      self.pending[0].start()

  def _reject(self, error: ServingError) -> None:
    """Answers `error` after the complete requests before it, then closes; reads nothing more."""
    exchange = self._receiving
    if exchange is None:
      exchange = self.server.new_exchange(self, '', '', {})
      self.pending.append(exchange)
    exchange.reject(error)
    self._receiving = None
    self._in_headers = False
    self._close_after_pending = True
    self._serve_next()

  def close(self) -> None:
    if not self.closed:
      self.closed = True
      self.transport.close()

  def check_timeouts(self, now: float) -> None:
    limits = self.limits
    if self.pending and self.pending[0].started:
      self.pending[0].check_deadline(now)
    elif self._in_headers or self._receiving is not None:
      if now - self._message_started > limits.request_timeout_seconds:
        LOG.info(
          'Closing a connection whose request did not arrive within %.0f s',
          limits.request_timeout_seconds,
        )
        self.close()
    elif (
      not self.pending
      and now - self._last_activity > limits.idle_timeout_seconds
    ):
      self.close()


def _parser_message(exc: Exception) -> str:
  return str(exc) or type(exc).__name__


_date_cache = [0, b'']


def _http_date() -> bytes:
  """The Date header, formatted once per second."""
  now = int(time.time())
  if _date_cache[0] != now:
    _date_cache[:] = [now, email.utils.formatdate(now, usegmt=True).encode()]
  return _date_cache[1]


def _response_bytes(
  status: int,
  body: bytes,
  content_type: str = JSON_CONTENT_TYPE,
  extra_headers: tuple = (),
  close: bool = False,
  head: bool = False,
) -> bytes:
  lines = [
    b'HTTP/1.1 %d %s' % (status, _REASONS.get(status, b'Unknown')),
    b'Content-Type: ' + content_type.encode(),
    b'Date: ' + _http_date(),
  ]
  lines.extend(
    f'{name}: {value}'.encode('latin-1') for name, value in extra_headers
  )
  lines.append(b'Content-Length: %d' % len(body))
  if close:
    lines.append(b'Connection: close')
  # HEAD: the headers of the GET answer (Content-Length included), no body.
  return b'\r\n'.join(lines) + b'\r\n\r\n' + (b'' if head else body)
