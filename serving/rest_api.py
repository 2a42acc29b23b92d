"""The HTTP layer: TF Serving's REST routes on Tornado, with body/header/connection/time limits."""

import asyncio
import json
import logging
import math
import random
import time
import uuid

import numpy as np
import tornado.httpserver
import tornado.iostream
import tornado.web

from serving import inference, json_codec, routes
from serving.errors import ServingError
from serving.request_log import LoggedRequest

LOG = logging.getLogger(__name__)
JSON_CONTENT_TYPE = "application/json"
UNKNOWN_MODEL_LABEL = "<unknown>"


class ServerContext:
    """Everything a request handler needs, built by serving.server.ModelServer."""

    def __init__(self, *, config, manager, inference_queue, metrics, request_logger):
        self.config = config
        self.manager = manager
        self.inference_queue = inference_queue
        self.metrics = metrics
        self.request_logger = request_logger
        self.in_flight = 0


@tornado.web.stream_request_body
class RestHandler(tornado.web.RequestHandler):
    # Every method reaches the router, which answers TF Serving's 400 "Malformed request" rather than 405.
    SUPPORTED_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")

    def initialize(self, context: ServerContext):
        self.ctx = context
        self._chunks: list[bytes] = []
        self._body_bytes = 0
        self._received_at = time.time()
        self._started = time.perf_counter()
        self._counted = False

    def set_default_headers(self):
        self.clear_header("Server")
        self.set_header("Content-Type", JSON_CONTENT_TYPE)

    def compute_etag(self):
        return None

    def prepare(self):
        self.ctx.in_flight += 1
        self._counted = True
        limit = self.ctx.config.max_body_bytes
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            self._send_error(ServingError("INVALID_ARGUMENT", f"Request body of {length} bytes exceeds the "
                                          f"{limit}-byte limit (--max_body_bytes)", http_status=413))
            return
        # Chunked bodies over the limit are cut off by Tornado itself (400, connection closed).
        self.request.connection.set_max_body_size(limit)

    def data_received(self, chunk: bytes):
        self._chunks.append(chunk)
        self._body_bytes += len(chunk)

    def on_finish(self):
        if self._counted:
            self.ctx.in_flight -= 1

    async def get(self):
        await self._dispatch()

    post = put = delete = patch = head = options = get

    def write_error(self, status_code, **kwargs):
        # Only reached for errors raised by Tornado itself; ours are answered by _send_error.
        self.set_header("Content-Type", JSON_CONTENT_TYPE)
        self.finish(json_codec.encode_error(self._reason))

    # --- dispatch ------------------------------------------------------------------------------------------
    async def _dispatch(self):
        path, method = self.request.path, self.request.method
        monitoring = self.ctx.config.monitoring
        if monitoring.enable and path == monitoring.path:
            if method != "GET":
                return self._send_error(ServingError("INVALID_ARGUMENT", f"Malformed request: {method} {path}"))
            self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            return self.finish(self.ctx.metrics.render())
        if not routes.is_api_path(path):
            return self._send_error(ServingError("NOT_FOUND", f"Not found: {path}", http_status=404))
        try:
            route = routes.parse_route(method, path)
            if route.kind == "status":
                states = self.ctx.manager.status(route.model_name, route.version, route.label)
                return self.finish(json.dumps({"model_version_status": states}))
            if route.kind == "metadata":
                return self.finish(json.dumps(self._metadata(route)))
        except ServingError as exc:
            return self._send_error(exc)
        await self._infer(route)

    def _metadata(self, route: routes.Route) -> dict:
        servable = self.ctx.manager.resolve(route.model_name, route.version, route.label)
        return {"model_spec": {"name": servable.name, "signature_name": "", "version": str(servable.version)},
                "metadata": {"signature_def": servable.signature_def_map_json()}}

    async def _infer(self, route: routes.Route):
        ctx, metrics = self.ctx, self.ctx.metrics
        model_label = route.model_name if route.model_name == ctx.config.model_name else UNKNOWN_MODEL_LABEL
        request_id = self.request.headers.get("X-Request-Id", "")[:128] or uuid.uuid4().hex
        self.set_header("X-Request-Id", request_id)
        status = "OK"
        try:
            servable = ctx.manager.resolve(route.model_name, route.version, route.label)
            body = b"".join(self._chunks)
            metrics.request_body_bytes.observe(model_label, route.kind, value=len(body))
            doc = json_codec.parse_body(body)
            if route.kind == "predict":
                prepared = inference.prepare_predict(servable, doc)
            else:
                known = servable.signatures.get("serving_default")
                prepared = inference.prepare_classify_regress(
                    servable, doc, route.kind, known_features=list(known.inputs) if known else ())
            self._observe_inputs(model_label, route.kind, prepared)
            future = ctx.inference_queue.submit(servable, prepared.signature, prepared.inputs)
            try:
                outputs, runtime_us = await asyncio.wait_for(asyncio.wrap_future(future),
                                                             ctx.config.request_timeout_seconds)
            except asyncio.TimeoutError:
                raise ServingError("DEADLINE_EXCEEDED", "Deadline exceeded") from None
            response = prepared.encode_response(outputs)
        except Exception as exc:  # noqa: BLE001 - every failure is answered as {"error": ...}.
            if not isinstance(exc, ServingError):
                LOG.exception("Unexpected error serving %s", self.request.path)
                exc = ServingError("INTERNAL", f"{type(exc).__name__}: {exc}")
            status = exc.code
            metrics.failed_predictions.inc(model_label, route.kind, exc.code)
            self._send_error(exc)
            return
        finally:
            latency_us = (time.perf_counter() - self._started) * 1e6
            metrics.request_count.inc(model_label, status)
            metrics.request_latency.observe(model_label, route.kind, "REST", value=latency_us)
        metrics.runtime_latency.observe(model_label, route.kind, "TF2", value=runtime_us)
        self._observe_outputs(model_label, route.kind, outputs)
        logger = ctx.request_logger
        if logger is not None and random.random() < ctx.config.request_log.sampling_rate:
            # Enqueued before the response is sent: an acknowledged request is always in the log's queue.
            logger.log(LoggedRequest(
                timestamp=self._received_at, model_name=servable.name, model_version=servable.version,
                signature_name=prepared.signature.name, method=route.kind, request_id=request_id,
                instances=prepared.log_instances, example_inputs=prepared.log_example_inputs,
                outputs=outputs, latency_us=int(latency_us)))
        self.finish(response)

    def _observe_inputs(self, model_label: str, api: str, prepared: inference.PreparedRequest):
        metrics = self.ctx.metrics
        metrics.request_example_counts.observe(model_label, api, value=prepared.instance_count)
        metrics.request_example_count_total.inc(model_label, api, amount=prepared.instance_count)
        if prepared.signature.name == "serving_default" or api != "predict":
            for feature, (missing, total) in prepared.missing_values.items():
                metrics.input_values.inc(model_label, feature, amount=total)
                if missing:
                    metrics.missing_values.inc(model_label, feature, amount=missing)

    def _observe_outputs(self, model_label: str, api: str, outputs: dict[str, np.ndarray]):
        metrics = self.ctx.metrics
        for name, array in outputs.items():
            if array.dtype.kind != "f" or array.ndim > 2 or array.size > 4096:
                continue
            values = array.reshape(-1).tolist()
            nan_count = sum(1 for v in values if math.isnan(v))
            for value in values:
                metrics.prediction_score.observe(model_label, name, value=value)
            if nan_count:
                metrics.empty_predictions.inc(model_label, api, amount=nan_count)

    def _send_error(self, exc: ServingError):
        self.set_status(exc.http_status)
        self.finish(json_codec.encode_error(exc.message))


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


def make_application(context: ServerContext) -> tornado.web.Application:
    return tornado.web.Application([(r".*", RestHandler, {"context": context})], compress_response=False)
