"""TF Serving's REST routes: one RestExchange per request, driven by serving.http_connection."""

import asyncio
import itertools
import json
import logging
import random
import re
import time
import uuid

import numpy as np

from serving import inference, json_codec, routes
from serving.errors import ServingError
from serving.http_connection import JSON_CONTENT_TYPE
from serving.request_log import LoggedRequest

LOG = logging.getLogger(__name__)
METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
UNKNOWN_MODEL_LABEL = '<unknown>'
# Requests of at most this many rows may run on the event loop thread when nothing else is in flight.
INLINE_MAX_ROWS = 8
_REQUEST_ID = re.compile(r'[\x21-\x7e]{1,128}')


class ServerContext:
  """Everything a request handler needs, built by serving.server.ModelServer."""

  def __init__(
    self, *, config, manager, inference_queue, metrics, request_logger
  ):
    self.config = config
    self.manager = manager
    self.inference_queue = inference_queue
    self.metrics = metrics
    self.request_logger = request_logger
    self.in_flight = 0
    # Request ids the server makes up: unique across restarts (random prefix), cheaper than uuid4 per request.
    self._id_prefix = uuid.uuid4().hex[:16]
    self._id_counter = itertools.count()
    self._deferred: list[RestExchange] = []

  def new_request_id(self) -> str:
    return f'{self._id_prefix}{next(self._id_counter):016x}'

  def new_exchange(
    self, connection, method: str, path: str, headers: dict[str, str]
  ) -> 'RestExchange':
    return RestExchange(self, connection, method, path, headers)

  def defer_small_request(self, exchange: 'RestExchange') -> None:
    """Decides at the next event-loop iteration, once every connection that was readable has been parsed:
    a request that is alone runs inline; several go to the inference queue together, to be batched."""
    self._deferred.append(exchange)
    if len(self._deferred) == 1:
      asyncio.get_running_loop().call_soon(self._run_deferred)

  def _run_deferred(self) -> None:
    deferred, self._deferred = self._deferred, []
    if len(deferred) == 1 and self.in_flight == 1:
      deferred[0].run_inline()
    else:
      for exchange in deferred:
        exchange.submit()


class RestExchange:
  """One request and its response. The connection calls data_received, then start() when the request is the
  first unanswered one on it; exactly one response is sent, through connection.send."""

  def __init__(
    self,
    context: ServerContext,
    connection,
    method: str,
    path: str,
    headers: dict[str, str],
  ):
    self.ctx = context
    self.connection = connection
    self.method = method
    self.path = path
    self.headers = headers
    self.keep_alive = False
    self.http10 = False
    self.complete = False
    self.started = False
    self.rejected: ServingError | None = None
    self.request_id = ''
    self.deadline: float | None = None
    self._received_at = time.time()
    self._started = time.perf_counter()
    self._chunks: list[bytes] = []
    self._responded = False
    self._counted = False
    self._future = None

  # --- called by the connection ----------------------------------------------------------------------------
  def data_received(self, chunk: bytes):
    self._chunks.append(chunk)

  def reject(self, error: ServingError):
    """Answered with `error` instead of being served (limits, malformed HTTP)."""
    self.rejected = error
    self._chunks = []

  def start(self):
    self.started = True
    self.ctx.in_flight += 1
    self._counted = True
    if self.rejected is not None:
      self._send_error(self.rejected)
      return
    try:
      self._dispatch()
    except Exception as exc:  # noqa: BLE001 - the client always gets an answer, never a dropped connection.
      LOG.exception('Unexpected error serving %s', self.path)
      self._send_error(ServingError('INTERNAL', f'{type(exc).__name__}: {exc}'))

  def check_deadline(self, now: float):
    if (
      self.deadline is not None and now > self.deadline and not self._responded
    ):
      self._deadline_exceeded()

  def on_connection_close(self):
    # Nothing will be answered; a model call under way finishes and is dropped.
    self._responded = True
    self._release()

  # --- dispatch ------------------------------------------------------------------------------------------
  def _dispatch(self):
    path, method = self.path, self.method
    monitoring = self.ctx.config.monitoring
    if monitoring.enable and path == monitoring.path:
      if method != 'GET':
        return self._send_error(
          ServingError(
            'INVALID_ARGUMENT', f'Malformed request: {method} {path}'
          )
        )
      return self._respond(200, self.ctx.metrics.render(), METRICS_CONTENT_TYPE)
    if not routes.is_api_path(path):
      return self._send_error(
        ServingError('NOT_FOUND', f'Not found: {path}', http_status=404)
      )
    try:
      route = routes.parse_route(method, path)
      if route.kind == 'status':
        states = self.ctx.manager.status(
          route.model_name, route.version, route.label
        )
        return self._respond(200, json.dumps({'model_version_status': states}))
      if route.kind == 'metadata':
        return self._respond(200, json.dumps(self._metadata(route)))
    except ServingError as exc:
      return self._send_error(exc)
    self._infer(route)

  def _metadata(self, route: routes.Route) -> dict:
    servable = self.ctx.manager.resolve(
      route.model_name, route.version, route.label
    )
    return {
      'model_spec': {
        'name': servable.name,
        'signature_name': '',
        'version': str(servable.version),
      },
      'metadata': {'signature_def': servable.signature_def_map_json()},
    }

  def _infer(self, route: routes.Route):
    ctx = self.ctx
    self.route = route
    self.model_label = (
      route.model_name
      if ctx.manager.has_model(route.model_name)
      else UNKNOWN_MODEL_LABEL
    )
    client_id = self.headers.get('x-request-id', '')
    self.request_id = (
      client_id if _REQUEST_ID.fullmatch(client_id) else ctx.new_request_id()
    )
    try:
      self.servable = ctx.manager.resolve(
        route.model_name, route.version, route.label
      )
      body = b''.join(self._chunks)
      ctx.metrics.request_body_bytes.observe(
        self.model_label, route.kind, value=len(body)
      )
      doc = json_codec.parse_body(body)
      check_method = ctx.config.enable_signature_method_name_check
      if route.kind == 'predict':
        prepared = inference.prepare_predict(self.servable, doc, check_method)
      else:
        known = self.servable.signatures.get('serving_default')
        prepared = inference.prepare_classify_regress(
          self.servable,
          doc,
          route.kind,
          check_method,
          known_features=list(known.inputs) if known else (),
        )
      self.prepared = prepared
      self._observe_inputs(prepared)
    except Exception as exc:  # noqa: BLE001 - every failure is answered as {"error": ...}.
      self._fail(exc)
      return
    if (
      prepared.instance_count <= INLINE_MAX_ROWS
      and ctx.inference_queue.inline_allowed
    ):
      ctx.defer_small_request(self)
    else:
      self.submit()

  def run_inline(self):
    """Calls the model right here: nothing else is in flight, so hopping to a worker thread and back (about
    0.2 ms) buys nothing. A request arriving meanwhile waits at most this one small model call."""
    if self._responded:
      return
    try:
      future = self.ctx.inference_queue.run_inline(
        self.servable, self.prepared.signature, self.prepared.inputs
      )
    except Exception as exc:  # noqa: BLE001 - every failure is answered as {"error": ...}.
      self._fail(exc)
      return
    self._model_done(future)

  def submit(self):
    """Queues the model call for the inference workers (batched with others when batching is on)."""
    if self._responded:
      return
    ctx = self.ctx
    try:
      future = ctx.inference_queue.submit(
        self.servable,
        self.prepared.signature,
        self.prepared.inputs,
        notify=(asyncio.get_running_loop(), self._model_done),
      )
    except Exception as exc:  # noqa: BLE001 - every failure is answered as {"error": ...}.
      self._fail(exc)
      return
    # Checked by the connections' periodic sweep rather than a timer per request.
    self.deadline = time.monotonic() + ctx.config.request_timeout_seconds
    self._future = future

  def _deadline_exceeded(self):
    # A task not yet started is dropped by the worker; a running model call cannot be interrupted.
    self._future.cancel()
    self._fail(ServingError('DEADLINE_EXCEEDED', 'Deadline exceeded'))

  def _model_done(self, future):
    if self._responded:
      return  # The deadline answered first, or the client went away.
    metrics, route, prepared = self.ctx.metrics, self.route, self.prepared
    try:
      outputs, runtime_us = future.result()
      response = prepared.encode_response(outputs)
    except Exception as exc:  # noqa: BLE001 - every failure is answered as {"error": ...}.
      self._fail(exc)
      return
    latency_us = (time.perf_counter() - self._started) * 1e6
    metrics.request_count.inc(self.model_label, 'OK')
    metrics.request_latency.observe(
      self.model_label, route.kind, 'REST', value=latency_us
    )
    metrics.runtime_latency.observe(
      self.model_label, route.kind, 'TF2', value=runtime_us
    )
    self._observe_outputs(outputs)
    self._respond(200, response)
    # Encoded right after the response is written (same callback, so a drain at shutdown cannot slip in
    # between): the client does not wait for its own log record.
    self._log(outputs, latency_us)

  def _log(self, outputs: dict[str, np.ndarray], latency_us: float):
    ctx, route, prepared = self.ctx, self.route, self.prepared
    logger = ctx.request_logger
    if (
      logger is not None
      and random.random() < ctx.config.request_log.sampling_rate
    ):
      logger.log(
        LoggedRequest(
          timestamp=self._received_at,
          model_name=self.servable.name,
          model_version=self.servable.version,
          signature_name=prepared.signature.name,
          method=route.kind,
          request_id=self.request_id,
          instances=prepared.log_instances,
          example_inputs=prepared.log_example_inputs,
          outputs=outputs,
          latency_us=int(latency_us),
        )
      )

  def _fail(self, exc: Exception):
    if self._responded:
      return
    if not isinstance(exc, ServingError):
      LOG.exception('Unexpected error serving %s', self.path, exc_info=exc)
      exc = ServingError('INTERNAL', f'{type(exc).__name__}: {exc}')
    metrics = self.ctx.metrics
    metrics.request_count.inc(self.model_label, exc.code)
    metrics.request_latency.observe(
      self.model_label,
      self.route.kind,
      'REST',
      value=(time.perf_counter() - self._started) * 1e6,
    )
    metrics.failed_predictions.inc(self.model_label, self.route.kind, exc.code)
    self._send_error(exc)

  def _observe_inputs(self, prepared: inference.PreparedRequest):
    metrics, model_label, api = (
      self.ctx.metrics,
      self.model_label,
      self.route.kind,
    )
    metrics.request_example_counts.observe(
      model_label, api, value=prepared.instance_count
    )
    metrics.request_example_count_total.inc(
      model_label, api, amount=prepared.instance_count
    )
    if prepared.signature.name == 'serving_default' or api != 'predict':
      for feature, (missing, total) in prepared.missing_values.items():
        metrics.input_values.inc(model_label, feature, amount=total)
        if missing:
          metrics.missing_values.inc(model_label, feature, amount=missing)

  def _observe_outputs(self, outputs: dict[str, np.ndarray]):
    metrics, model_label = self.ctx.metrics, self.model_label
    for name, array in outputs.items():
      if array.dtype.kind != 'f' or array.ndim > 2 or array.size > 4096:
        continue
      values = array.reshape(-1).tolist()
      nan_count = sum(1 for v in values if v != v)
      for value in values:
        metrics.prediction_score.observe(model_label, name, value=value)
      if nan_count:
        metrics.empty_predictions.inc(
          model_label, self.route.kind, amount=nan_count
        )

  # --- responses -----------------------------------------------------------------------------------------
  def _send_error(self, exc: ServingError):
    self._respond(exc.http_status, json_codec.encode_error(exc.message))

  def _respond(
    self, status: int, body: str, content_type: str = JSON_CONTENT_TYPE
  ):
    if self._responded:
      return
    self._responded = True
    self._release()
    extra_headers = (
      (('X-Request-Id', self.request_id),) if self.request_id else ()
    )
    self.connection.send(
      self,
      status,
      body.encode(),
      content_type,
      extra_headers,
      head=self.method == 'HEAD',
    )

  def _release(self):
    if self._counted:
      self._counted = False
      self.ctx.in_flight -= 1
