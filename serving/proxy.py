"""--proxy_to=HOST:PORT: a logging front for a real tensorflow_model_server's REST API.

Open-source TF Serving logs no requests (tensorflow/serving#408). This front forwards every request unchanged
(method, target, body, end-to-end headers) to the upstream over a pool of keep-alive connections and answers with
the upstream's status, body and end-to-end headers, byte for byte. For predict/classify/regress it also writes
the request log and metrics of the normal server: the request is parsed with the same code (serving.inference)
against the upstream's own signatures, read from its metadata API, and the outputs are read back from the
upstream's response. What it cannot know: runtime latency and batching (inside the upstream), and with no version
in the URL the version is the one the upstream's metadata named within the last METADATA_TTL seconds.
"""

import asyncio
import json
import logging
import time
import urllib.parse

import httptools
import numpy as np

from serving import inference, json_codec, rest_api, routes
from serving.config import parse_upstream
from serving.errors import ServingError
from serving.rest_api import _REQUEST_ID, RestExchange, ServerContext
from serving.servable import Signature, TensorSpec
from serving.server import ModelServer

LOG = logging.getLogger(__name__)
METADATA_TTL = 1.0
# Hop-by-hop headers (RFC 9110 7.6.1) and the framing this side re-creates: never forwarded.
_HOP_HEADERS = {
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'expect',
}
# Written by serving.http_connection for every response.
_OWN_RESPONSE_HEADERS = _HOP_HEADERS | {'content-type', 'date'}
_DTYPES = {name: value for value, name in json_codec.DTYPE_NAMES.items()}
# HTTP status of an upstream error -> the canonical code the metrics use (as the normal server counts them).
_STATUS_CODES = {
  400: 'INVALID_ARGUMENT',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
}


class UpstreamError(Exception):
  pass


class _Response:
  """httptools callbacks collecting one upstream response."""

  def __init__(self):
    self.headers: list[tuple[str, str]] = []
    self.body: list[bytes] = []
    self.headers_done = False
    self.done = False

  def on_headers_complete(self):
    self.headers_done = True

  def on_header(self, name: bytes, value: bytes):
    self.headers.append((name.decode('latin-1'), value.decode('latin-1')))

  def on_body(self, body: bytes):
    self.body.append(body)

  def on_message_complete(self):
    self.done = True


class Upstream:
  """Keep-alive HTTP/1.1 connections to the upstream, used one request at a time each (no pipelining)."""

  def __init__(self, host: str, port: int, max_idle: int = 64):
    self.host, self.port, self.max_idle = host, port, max_idle
    self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    self._host_header = (
      f'{host}:{port}' if ':' not in host else f'[{host}]:{port}'
    )

  async def request(
    self, method: str, target: str, headers: dict, body: bytes
  ) -> tuple[int, list[tuple[str, str]], bytes]:
    lines = [f'{method} {target} HTTP/1.1', f'Host: {self._host_header}']
    lines += [
      f'{name}: {value}'
      for name, value in headers.items()
      if name not in _HOP_HEADERS and name != 'host'
    ]
    if body or method not in ('GET', 'HEAD'):
      lines.append(f'Content-Length: {len(body)}')
    raw = '\r\n'.join(lines).encode('latin-1') + b'\r\n\r\n' + body
    # A pooled connection the upstream closed meanwhile fails before any answer: retry once on a new one.
    for attempt in range(2):
      reused = bool(self._idle)
      reader, writer = (
        self._idle.pop()
        if reused
        else await asyncio.open_connection(self.host, self.port)
      )
      try:
        result = await self._exchange(reader, writer, raw, method == 'HEAD')
      except (OSError, UpstreamError, asyncio.IncompleteReadError):
        writer.close()
        if reused and attempt == 0:
          continue
        raise
      except (
        BaseException
      ):  # Cancelled (deadline): the connection is in an unknown state.
        writer.close()
        raise
      status, response_headers, keep_alive = result[0], result[1], result[3]
      if keep_alive and len(self._idle) < self.max_idle:
        self._idle.append((reader, writer))
      else:
        writer.close()
      return status, response_headers, result[2]
    raise AssertionError('unreachable')

  async def _exchange(self, reader, writer, raw: bytes, head: bool):
    writer.write(raw)
    response = _Response()
    parser = httptools.HttpResponseParser(response)
    # The answer to HEAD announces a body it does not send: it ends with its headers.
    while not (response.done or (head and response.headers_done)):
      data = await reader.read(65536)
      if not data:
        raise UpstreamError('the upstream closed the connection')
      try:
        parser.feed_data(data)
      except httptools.HttpParserError as exc:
        raise UpstreamError(f'malformed upstream response: {exc}') from None
    return (
      parser.get_status_code(),
      response.headers,
      b''.join(response.body),
      parser.should_keep_alive() and not head,
    )

  def close(self) -> None:
    for _, writer in self._idle:
      writer.close()
    self._idle.clear()


def _signature_from_json(name: str, sig: dict) -> Signature:
  def specs(tensors: dict) -> dict:
    out = {}
    for key, info in tensors.items():
      shape = info.get('tensor_shape', {})
      dims = (
        None
        if shape.get('unknown_rank')
        else tuple(int(d.get('size', -1)) for d in shape.get('dim', []))
      )
      out[key] = TensorSpec(_DTYPES.get(info.get('dtype'), 0), dims)
    return out

  return Signature(
    name=name,
    method_name=sig.get('method_name', ''),
    inputs=specs(sig.get('inputs', {})),
    outputs=specs(sig.get('outputs', {})),
    call=None,
  )


class UpstreamServable:
  """What serving.inference needs of a servable, built from the upstream's metadata response."""

  def __init__(self, metadata: dict):
    spec = metadata.get('model_spec', {})
    self.name = spec.get('name', '')
    self.version = int(spec.get('version') or 0)
    defs = metadata['metadata']['signature_def']['signature_def']
    self.signatures = {
      name: _signature_from_json(name, sig)
      for name, sig in defs.items()
      if name != '__saved_model_init_op'
    }

  def signature(self, name: str):
    return self.signatures.get(name or 'serving_default')


def _array(value, spec: TensorSpec | None) -> np.ndarray:
  """A response tensor back as the array the model returned (float32 values re-rounded from their text)."""
  dtype = json_codec.NUMPY_DTYPES.get(spec.dtype, None) if spec else None
  if dtype is object or dtype is None:
    return np.array(value, dtype=object)
  return np.array(value, dtype=dtype)


def response_outputs(
  prepared: inference.PreparedRequest, doc: dict
) -> dict[str, np.ndarray]:
  """The model's outputs as the normal server would log them, read back from the upstream's response."""
  outputs_spec = prepared.signature.outputs
  names = list(outputs_spec)
  if prepared.method == 'regress':
    values = np.array(doc['results'], dtype=np.float32)
    spec = outputs_spec.get('outputs')
    if spec and spec.shape and len(spec.shape) == 2:
      values = values.reshape(-1, 1)
    return {'outputs': values}
  if prepared.method == 'classify':
    results = doc['results']
    outputs = {}
    if 'classes' in outputs_spec:
      outputs['classes'] = np.array(
        [[label for label, _ in row] for row in results], dtype=object
      )
    if 'scores' in outputs_spec:
      outputs['scores'] = np.array(
        [[score for _, score in row] for row in results], dtype=np.float32
      )
    return outputs
  if 'predictions' in doc:
    predictions = doc['predictions']
    if len(names) == 1:
      return {names[0]: _array(predictions, outputs_spec[names[0]])}
    return {
      name: _array([row[name] for row in predictions], outputs_spec[name])
      for name in names
    }
  outputs = doc['outputs']
  if len(names) == 1:
    return {names[0]: _array(outputs, outputs_spec[names[0]])}
  return {
    name: _array(outputs[name], outputs_spec.get(name)) for name in outputs
  }


class ProxyContext(ServerContext):
  def __init__(self, *, upstream: Upstream, **kwargs):
    super().__init__(**kwargs)
    self.upstream = upstream
    self._metadata: dict[str, tuple[float, object]] = {}

  def new_exchange(self, connection, method, path, headers):
    return ProxyExchange(self, connection, method, path, headers)

  async def servable(self, route: routes.Route) -> UpstreamServable | None:
    """The upstream's metadata for the model path of `route`, cached METADATA_TTL seconds; None if unknown."""
    path = f'/v1/models/{urllib.parse.quote(route.model_name, safe="")}'
    if route.version is not None:
      path += f'/versions/{route.version}'
    elif route.label is not None:
      path += f'/labels/{urllib.parse.quote(route.label, safe="")}'
    now = time.monotonic()
    cached = self._metadata.get(path)
    if cached is not None and now - cached[0] < METADATA_TTL:
      return cached[1]
    servable = None
    try:
      status, _, body = await self.upstream.request(
        'GET', f'{path}/metadata', {}, b''
      )
      if status == 200:
        servable = UpstreamServable(json.loads(body))
    except (OSError, UpstreamError, ValueError, KeyError) as exc:
      LOG.warning('Could not read the upstream metadata of %s: %s', path, exc)
    if len(self._metadata) > 1000:  # Paths come from clients: bounded.
      self._metadata.clear()
    self._metadata[path] = (now, servable)
    return servable


class ProxyExchange(RestExchange):
  """A request forwarded to the upstream; logged and measured like the normal server's own."""

  route = None

  def _dispatch(self):
    monitoring = self.ctx.config.monitoring
    if monitoring.enable and self.path == monitoring.path:
      return super()._dispatch()  # This front's own metrics.
    route = None
    if routes.is_api_path(self.path):
      try:
        route = routes.parse_route(self.method, self.path)
      except ServingError:
        route = None
    if route is not None and route.kind in ('predict', 'classify', 'regress'):
      self.route = route
      client_id = self.headers.get('x-request-id', '')
      self.request_id = (
        client_id
        if _REQUEST_ID.fullmatch(client_id)
        else self.ctx.new_request_id()
      )
      self.model_label = (
        rest_api.UNKNOWN_MODEL_LABEL
      )  # Until the upstream says it knows the model.
    self.deadline = time.monotonic() + self.ctx.config.request_timeout_seconds
    self._future = asyncio.get_running_loop().create_task(self._forward())

  def _deadline_exceeded(self):
    self._future.cancel()
    if self.route is not None:
      self._fail(ServingError('DEADLINE_EXCEEDED', 'Deadline exceeded'))
    else:
      self._send_error(ServingError('DEADLINE_EXCEEDED', 'Deadline exceeded'))

  async def _forward(self):
    body = b''.join(self._chunks)
    headers = dict(self.headers)
    if self.route is not None:
      # The same id on both sides: the upstream (this project's server) answers with it; TF Serving ignores it.
      headers['x-request-id'] = self.request_id
    try:
      status, response_headers, response_body = await self.ctx.upstream.request(
        self.method, getattr(self, 'target', self.path), headers, body
      )
    except (OSError, UpstreamError, asyncio.IncompleteReadError) as exc:
      error = ServingError(
        'UNAVAILABLE', f'Upstream {self.ctx.upstream_text} unreachable: {exc}'
      )
      if self.route is not None:
        self._fail(error)
      else:
        self._send_error(error)
      return
    except Exception as exc:  # noqa: BLE001 - the client always gets an answer.
      LOG.exception('Proxying %s failed', self.path)
      self._send_error(ServingError('INTERNAL', f'{type(exc).__name__}: {exc}'))
      return
    content_type = json_codec_content_type(response_headers)
    passed = tuple(
      (name, value)
      for name, value in response_headers
      if name.lower() not in _OWN_RESPONSE_HEADERS
    )
    if self.route is not None and not any(
      name.lower() == 'x-request-id' for name, _ in passed
    ):
      passed += (('X-Request-Id', self.request_id),)
    if self.route is not None:
      await self._measure(body, status, response_body)
    if self.method == 'HEAD':
      # No body came, but the client is owed the upstream's Content-Length: a stand-in of that length
      # (serving.http_connection writes a HEAD answer's headers only).
      length = next(
        (v for n, v in response_headers if n.lower() == 'content-length'), '0'
      )
      response_body = b' ' * (int(length) if length.isdigit() else 0)
    self._send_raw(status, response_body, content_type, passed)

  async def _measure(self, body: bytes, status: int, response_body: bytes):
    """Metrics and the request log, as the normal server writes them (after the upstream answered)."""
    ctx, metrics, route = self.ctx, self.ctx.metrics, self.route
    latency_us = (time.perf_counter() - self._started) * 1e6
    # Label values only for models the upstream serves (as the normal server), so clients cannot make them up.
    if await ctx.servable(routes.Route(route.kind, route.model_name)):
      self.model_label = route.model_name
    metrics.request_body_bytes.observe(
      self.model_label, route.kind, value=len(body)
    )
    if status != 200:
      code = _STATUS_CODES.get(
        status, 'INTERNAL' if status >= 500 else 'UNKNOWN'
      )
      metrics.request_count.inc(self.model_label, code)
      metrics.request_latency.observe(
        self.model_label, route.kind, 'REST', value=latency_us
      )
      metrics.failed_predictions.inc(self.model_label, route.kind, code)
      return
    metrics.request_count.inc(self.model_label, 'OK')
    metrics.request_latency.observe(
      self.model_label, route.kind, 'REST', value=latency_us
    )
    servable = await ctx.servable(route)
    if servable is None:
      return
    try:
      doc = json_codec.parse_body(body)
      if route.kind == 'predict':
        prepared = inference.prepare_predict(servable, doc)
      else:
        known = servable.signatures.get('serving_default')
        prepared = inference.prepare_classify_regress(
          servable,
          doc,
          route.kind,
          known_features=list(known.inputs) if known else (),
        )
      outputs = response_outputs(prepared, json.loads(response_body))
    except Exception as exc:  # noqa: BLE001 - the upstream accepted it; logging must not fail the request.
      LOG.warning(
        'Request %s answered but not logged: %s', self.request_id, exc
      )
      return
    self.prepared, self.servable = prepared, servable
    self._observe_inputs(prepared)
    self._observe_outputs(outputs)
    metrics.model_version.set(servable.name, value=servable.version)
    self._log(outputs, latency_us)

  def _send_raw(self, status, body, content_type, headers):
    if self._responded:
      return
    self._responded = True
    self._release()
    self.connection.send(
      self, status, body, content_type, headers, head=self.method == 'HEAD'
    )


def json_codec_content_type(headers: list[tuple[str, str]]) -> str:
  for name, value in headers:
    if name.lower() == 'content-type':
      return value
  return 'application/json'


class ProxyServer(ModelServer):
  """ModelServer's HTTP front, request log and metrics, with the models and their calls upstream."""

  def __init__(self, config):
    super().__init__(config)
    host, port = parse_upstream(config.proxy_to)
    self.upstream = Upstream(host, port)
    self.context = ProxyContext(
      upstream=self.upstream,
      config=config,
      manager=self.manager,
      inference_queue=self.inference_queue,
      metrics=self.metrics,
      request_logger=self.request_logger,
    )
    self.context.upstream_text = config.proxy_to
