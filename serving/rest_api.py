"""The HTTP layer: TF Serving's REST routes on Tornado, with body/header/connection/time limits."""

import asyncio
import email.utils
import http.client
import json
import logging
import random
import re
import time
import uuid

import numpy as np
import tornado.httpserver
import tornado.httputil
import tornado.iostream

from serving import inference, json_codec, routes
from serving.errors import ServingError
from serving.request_log import LoggedRequest

LOG = logging.getLogger(__name__)
JSON_CONTENT_TYPE = "application/json"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNKNOWN_MODEL_LABEL = "<unknown>"
# Requests of at most this many rows may run on the event loop thread when nothing else is in flight.
INLINE_MAX_ROWS = 8
_DIGITS = re.compile(r"[0-9]+")


class ServerContext:
    """Everything a request handler needs, built by serving.server.ModelServer."""

    def __init__(self, *, config, manager, inference_queue, metrics, request_logger):
        self.config = config
        self.manager = manager
        self.inference_queue = inference_queue
        self.metrics = metrics
        self.request_logger = request_logger
        self.in_flight = 0


class RestApplication(tornado.httputil.HTTPServerConnectionDelegate):
    """Tornado's HTTP/1.1 connection layer with our own per-request delegate.

    tornado.web's RequestHandler machinery (handler objects, coroutines, header normalization, access log) cost
    about half of the per-request CPU of a single-row predict; the routes are ours anyway, so it is not used.
    """

    def __init__(self, context: ServerContext):
        self.context = context

    def start_request(self, server_conn, request_conn) -> tornado.httputil.HTTPMessageDelegate:
        return RestExchange(self.context, request_conn)


class RestExchange(tornado.httputil.HTTPMessageDelegate):
    """One request and its response: headers → body chunks → dispatch → exactly one response."""

    def __init__(self, context: ServerContext, connection):
        self.ctx = context
        self.connection = connection
        self._chunks: list[bytes] = []
        self._responded = False
        self._counted = False
        self._timer = None

    # --- tornado.httputil.HTTPMessageDelegate ------------------------------------------------------------
    def headers_received(self, start_line, headers):
        self._received_at = time.time()
        self._started = time.perf_counter()
        self.method = start_line.method
        self.path = start_line.path.split("?", 1)[0]
        self.headers = headers
        self.ctx.in_flight += 1
        self._counted = True
        limit = self.ctx.config.max_body_bytes
        length = headers.get("Content-Length")
        # Tornado answers a malformed length itself; str.isdigit() alone would accept "²", which int() refuses.
        if length is not None and _DIGITS.fullmatch(length) and int(length) > limit:
            # Answered before the body is read (the connection is then closed); chunked bodies over the limit are
            # cut off by Tornado itself (400, connection closed).
            self._send_error(ServingError("INVALID_ARGUMENT", f"Request body of {length} bytes exceeds the "
                                          f"{limit}-byte limit (--max_body_bytes)", http_status=413))

    def data_received(self, chunk: bytes):
        if not self._responded:
            self._chunks.append(chunk)

    def finish(self):
        if self._responded:
            return
        try:
            self._dispatch()
        except Exception as exc:  # noqa: BLE001 - the client always gets an answer, never a dropped connection.
            LOG.exception("Unexpected error serving %s", self.path)
            self._send_error(ServingError("INTERNAL", f"{type(exc).__name__}: {exc}"))

    def on_connection_close(self):
        # Before the request was complete: nothing will be answered.
        self._release()

    # --- dispatch ------------------------------------------------------------------------------------------
    def _dispatch(self):
        path, method = self.path, self.method
        monitoring = self.ctx.config.monitoring
        if monitoring.enable and path == monitoring.path:
            if method != "GET":
                return self._send_error(ServingError("INVALID_ARGUMENT", f"Malformed request: {method} {path}"))
            return self._respond(200, self.ctx.metrics.render(), METRICS_CONTENT_TYPE)
        if not routes.is_api_path(path):
            return self._send_error(ServingError("NOT_FOUND", f"Not found: {path}", http_status=404))
        try:
            route = routes.parse_route(method, path)
            if route.kind == "status":
                states = self.ctx.manager.status(route.model_name, route.version, route.label)
                return self._respond(200, json.dumps({"model_version_status": states}))
            if route.kind == "metadata":
                return self._respond(200, json.dumps(self._metadata(route)))
        except ServingError as exc:
            return self._send_error(exc)
        self._infer(route)

    def _metadata(self, route: routes.Route) -> dict:
        servable = self.ctx.manager.resolve(route.model_name, route.version, route.label)
        return {"model_spec": {"name": servable.name, "signature_name": "", "version": str(servable.version)},
                "metadata": {"signature_def": servable.signature_def_map_json()}}

    def _infer(self, route: routes.Route):
        ctx = self.ctx
        self.route = route
        self.model_label = route.model_name if route.model_name == ctx.config.model_name else UNKNOWN_MODEL_LABEL
        self.request_id = self.headers.get("X-Request-Id", "")[:128] or uuid.uuid4().hex
        try:
            self.servable = ctx.manager.resolve(route.model_name, route.version, route.label)
            body = b"".join(self._chunks)
            ctx.metrics.request_body_bytes.observe(self.model_label, route.kind, value=len(body))
            doc = json_codec.parse_body(body)
            if route.kind == "predict":
                prepared = inference.prepare_predict(self.servable, doc)
            else:
                known = self.servable.signatures.get("serving_default")
                prepared = inference.prepare_classify_regress(
                    self.servable, doc, route.kind, known_features=list(known.inputs) if known else ())
            self.prepared = prepared
            self._observe_inputs(prepared)
            queue = ctx.inference_queue
            if ctx.in_flight == 1 and prepared.instance_count <= INLINE_MAX_ROWS and queue.inline_allowed:
                # Nothing else is in flight: call the model right here rather than hop to a worker thread and
                # back (about 0.2 ms). A request arriving meanwhile waits at most this one small model call.
                self._model_done(queue.run_inline(self.servable, prepared.signature, prepared.inputs))
                return
            future = queue.submit(self.servable, prepared.signature, prepared.inputs)
        except Exception as exc:  # noqa: BLE001 - every failure is answered as {"error": ...}.
            self._fail(exc)
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(ctx.config.request_timeout_seconds, self._deadline_exceeded, future)
        future.add_done_callback(lambda done: loop.call_soon_threadsafe(self._model_done, done))

    def _deadline_exceeded(self, future):
        # A task not yet started is dropped by the worker; a running model call cannot be interrupted.
        future.cancel()
        self._fail(ServingError("DEADLINE_EXCEEDED", "Deadline exceeded"))

    def _model_done(self, future):
        if self._responded:
            return  # The deadline answered first.
        if self._timer is not None:
            self._timer.cancel()
        ctx, metrics, route, prepared = self.ctx, self.ctx.metrics, self.route, self.prepared
        try:
            outputs, runtime_us = future.result()
            response = prepared.encode_response(outputs)
        except Exception as exc:  # noqa: BLE001 - every failure is answered as {"error": ...}.
            self._fail(exc)
            return
        latency_us = (time.perf_counter() - self._started) * 1e6
        metrics.request_count.inc(self.model_label, "OK")
        metrics.request_latency.observe(self.model_label, route.kind, "REST", value=latency_us)
        metrics.runtime_latency.observe(self.model_label, route.kind, "TF2", value=runtime_us)
        self._observe_outputs(outputs)
        logger = ctx.request_logger
        if logger is not None and random.random() < ctx.config.request_log.sampling_rate:
            # Enqueued before the response is sent: an acknowledged request is always in the log's queue.
            logger.log(LoggedRequest(
                timestamp=self._received_at, model_name=self.servable.name, model_version=self.servable.version,
                signature_name=prepared.signature.name, method=route.kind, request_id=self.request_id,
                instances=prepared.log_instances, example_inputs=prepared.log_example_inputs,
                outputs=outputs, latency_us=int(latency_us)))
        self._respond(200, response)

    def _fail(self, exc: Exception):
        if self._responded:
            return
        if self._timer is not None:
            self._timer.cancel()
        if not isinstance(exc, ServingError):
            LOG.exception("Unexpected error serving %s", self.path, exc_info=exc)
            exc = ServingError("INTERNAL", f"{type(exc).__name__}: {exc}")
        metrics = self.ctx.metrics
        metrics.request_count.inc(self.model_label, exc.code)
        metrics.request_latency.observe(self.model_label, self.route.kind, "REST",
                                        value=(time.perf_counter() - self._started) * 1e6)
        metrics.failed_predictions.inc(self.model_label, self.route.kind, exc.code)
        self._send_error(exc)

    def _observe_inputs(self, prepared: inference.PreparedRequest):
        metrics, model_label, api = self.ctx.metrics, self.model_label, self.route.kind
        metrics.request_example_counts.observe(model_label, api, value=prepared.instance_count)
        metrics.request_example_count_total.inc(model_label, api, amount=prepared.instance_count)
        if prepared.signature.name == "serving_default" or api != "predict":
            for feature, (missing, total) in prepared.missing_values.items():
                metrics.input_values.inc(model_label, feature, amount=total)
                if missing:
                    metrics.missing_values.inc(model_label, feature, amount=missing)

    def _observe_outputs(self, outputs: dict[str, np.ndarray]):
        metrics, model_label = self.ctx.metrics, self.model_label
        for name, array in outputs.items():
            if array.dtype.kind != "f" or array.ndim > 2 or array.size > 4096:
                continue
            values = array.reshape(-1).tolist()
            nan_count = sum(1 for v in values if v != v)
            for value in values:
                metrics.prediction_score.observe(model_label, name, value=value)
            if nan_count:
                metrics.empty_predictions.inc(model_label, self.route.kind, amount=nan_count)

    # --- responses -----------------------------------------------------------------------------------------
    def _send_error(self, exc: ServingError):
        self._respond(exc.http_status, json_codec.encode_error(exc.message))

    def _respond(self, status: int, body: str, content_type: str = JSON_CONTENT_TYPE):
        if self._responded:
            return
        self._responded = True
        self._release()
        data = body.encode()
        headers = tornado.httputil.HTTPHeaders()
        headers["Content-Type"] = content_type
        headers["Date"] = _http_date()
        if getattr(self, "request_id", None):
            headers["X-Request-Id"] = self.request_id
        headers["Content-Length"] = str(len(data))
        start_line = tornado.httputil.ResponseStartLine("HTTP/1.1", status, _REASONS.get(status, "Unknown"))
        try:
            # HEAD: the headers of the GET answer (Content-Length included), no body.
            self.connection.write_headers(start_line, headers, None if self.method == "HEAD" else data)
            self.connection.finish()
        except tornado.iostream.StreamClosedError:
            pass  # The client went away; nothing to answer.

    def _release(self):
        if self._counted:
            self._counted = False
            self.ctx.in_flight -= 1


_REASONS = dict(http.client.responses)
_date_cache = [0, ""]


def _http_date() -> str:
    """The Date header, formatted once per second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[:] = [now, email.utils.formatdate(now, usegmt=True)]
    return _date_cache[1]


class LimitedHTTPServer(tornado.httpserver.HTTPServer):
    """Refuses connections beyond max_connections with a 503 instead of queueing them without bound."""

    def initialize(self, *args, max_connections: int = 512, on_reject=None, **kwargs):
        super().initialize(*args, **kwargs)
        self.max_connections = max_connections
        self.on_reject = on_reject or (lambda: None)

    def handle_stream(self, stream: tornado.iostream.IOStream, address) -> None:
        if len(self._connections) >= self.max_connections:
            self.on_reject()
            body = json_codec.encode_error("Too many open connections (--max_connections)").encode()
            response = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
                        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            asyncio.ensure_future(_write_and_close(stream, response))
            return
        super().handle_stream(stream, address)


async def _write_and_close(stream: tornado.iostream.IOStream, data: bytes) -> None:
    try:
        await stream.write(data)
    except tornado.iostream.StreamClosedError:
        pass
    finally:
        stream.close()


def make_application(context: ServerContext) -> RestApplication:
    return RestApplication(context)
