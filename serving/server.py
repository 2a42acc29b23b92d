"""Assembles and runs the model server: model manager, inference queue, request log, metrics and HTTP."""

import asyncio
import gc
import logging
import signal
import socket
import threading
import time

from serving.batching import InferenceQueue
from serving.config import ServerConfig, read_model_config
from serving.http_connection import HttpServer, Limits
from serving.metrics import ServingMetrics
from serving.model_manager import ModelRegistry
from serving.request_log import RequestLogger
from serving.rest_api import ServerContext

LOG = logging.getLogger(__name__)
DRAIN_SECONDS = 10.0


class ModelServer:
  """Usage: `server = ModelServer(config); server.start(); ...; server.stop()`; or `run_until_signal()`.

  The HTTP server runs on its own asyncio event loop in a background thread, so the server can be embedded
  in a test or a notebook as well as run from the command line.
  """

  def __init__(self, config: ServerConfig):
    self.config = config
    self.metrics = ServingMetrics()
    self.manager = ModelRegistry(
      config.models,
      config.poll_wait_seconds,
      on_version_event=self._on_version_event,
      read_config=(lambda: read_model_config(config.model_config_file))
      if config.model_config_file
      else None,
      config_poll_wait_seconds=config.model_config_poll_wait_seconds,
    )
    self.request_logger = None
    if config.request_log.enabled:
      log = config.request_log
      self.request_logger = RequestLogger(
        log.directory,
        log.flush_seconds,
        log.max_file_bytes,
        log.rotate_seconds,
        on_records_written=lambda n: self.metrics.request_log_records.inc(
          amount=n
        ),
      )
    batching = config.batching
    if batching is not None:
      self.inference_queue = InferenceQueue(
        num_threads=batching.num_batch_threads,
        metrics=self.metrics,
        max_batch_size=batching.max_batch_size,
        batch_timeout_micros=batching.batch_timeout_micros,
        max_enqueued_batches=batching.max_enqueued_batches,
      )
    else:
      self.inference_queue = InferenceQueue(
        num_threads=config.inference_threads,
        metrics=self.metrics,
      )
    self.metrics.add_gauge_function(
      'serving_inference_queue_rows',
      'Rows waiting for a model call.',
      lambda: self.inference_queue.queued_rows,
    )
    self.metrics.add_gauge_function(
      'serving_request_log_pending_requests',
      'Requests waiting for the request-log writer.',
      lambda: self.request_logger.pending if self.request_logger else 0,
    )
    self._worker_metrics = None
    if config.worker_metrics_dir:
      from serving.metrics_merge import WorkerMetrics

      self._worker_metrics = WorkerMetrics(
        self.metrics.render, config.worker_metrics_dir, config.worker_index
      )
      # A scrape answers for the whole worker group (serving.metrics_merge).
      self.metrics.render = self._worker_metrics.render
    self.context = ServerContext(
      config=config,
      manager=self.manager,
      inference_queue=self.inference_queue,
      metrics=self.metrics,
      request_logger=self.request_logger,
    )
    self.port: int | None = None
    self.grpc_port: int | None = None
    self._grpc_server = None
    self._loop: asyncio.AbstractEventLoop | None = None
    self._http_server: HttpServer | None = None
    self._thread: threading.Thread | None = None
    self._stopped = threading.Event()

  def _on_version_event(
    self, model_name: str, event: str, version: int, path: str
  ) -> None:
    if event == 'load_failed':
      self.metrics.load_attempt_count.inc(path, 'fail')
      return
    if event == 'loaded':
      self.metrics.load_attempt_count.inc(path, 'success')
      gc.freeze()  # The new version's objects join the frozen heap (cheap).
    elif event == 'unloaded':
      # The old version's objects (TF graphs hold reference cycles) can only be reclaimed unfrozen: one full
      # collection per version swap instead of one every few seconds.
      freeze_heap()
    self.metrics.model_version.set(
      model_name, value=self.manager.latest_version(model_name)
    )

  def start(self) -> int:
    """Loads the model, starts polling and serving; returns the bound REST port."""
    self.manager.start()
    freeze_heap()
    if self.config.grpc_port:
      from serving.grpc_api import start_grpc_server

      self._grpc_server, self.grpc_port = start_grpc_server(
        self.context,
        self.config.host,
        max(self.config.grpc_port, 0),  # -1: any free port.
        self.config.inference_threads * 4,
      )
      LOG.info('gRPC API listening on %s:%d', self.config.host, self.grpc_port)
    listener = _bind(
      self.config.host,
      self.config.rest_api_port,
      reuse_port=bool(self.config.worker_metrics_dir),
    )
    self.port = listener.getsockname()[1]
    ready = threading.Event()
    config = self.config

    def serve():
      self._loop = asyncio.new_event_loop()
      asyncio.set_event_loop(self._loop)
      self._http_server = HttpServer(
        self.context.new_exchange,
        Limits(
          max_header_bytes=config.max_header_bytes,
          max_body_bytes=config.max_body_bytes,
          max_connections=config.max_connections,
          idle_timeout_seconds=config.idle_connection_timeout_seconds,
          request_timeout_seconds=config.request_timeout_seconds,
        ),
        on_reject=self.metrics.rejected_connections.inc,
      )
      self._loop.run_until_complete(self._http_server.start([listener]))
      self._loop.call_soon(ready.set)
      self._loop.run_forever()
      self._loop.close()

    self._thread = threading.Thread(target=serve, name='rest-api', daemon=True)
    self._thread.start()
    ready.wait()
    LOG.info(
      'REST API listening on http://%s:%d/v1/models/ for %s',
      self.config.host,
      self.port,
      ', '.join(spec.name for spec in self.config.models),
    )
    return self.port

  def stop(self) -> None:
    """Graceful stop: refuse new connections, drain in-flight requests, then flush the request log."""
    if self._stopped.is_set():
      return
    self._stopped.set()
    if self._grpc_server is not None:
      self._grpc_server.stop(grace=DRAIN_SECONDS).wait()
    if self._loop is not None:
      asyncio.run_coroutine_threadsafe(self._stop_http(), self._loop).result(
        timeout=DRAIN_SECONDS + 5
      )
      self._loop.call_soon_threadsafe(self._loop.stop)
      self._thread.join(timeout=10)
    self.inference_queue.close()
    self.manager.stop()
    if self.request_logger is not None:
      self.request_logger.close()
    if self._worker_metrics is not None:
      self._worker_metrics.close()
    LOG.info('Server stopped')

  async def _stop_http(self) -> None:
    self._http_server.stop_accepting()
    deadline = time.monotonic() + DRAIN_SECONDS
    while self.context.in_flight > 0 and time.monotonic() < deadline:
      await asyncio.sleep(0.01)
    self._http_server.close_all()
    await asyncio.sleep(0)  # Lets the transports close.

  def run_until_signal(self) -> None:
    """Serves until SIGTERM or SIGINT, then stops gracefully."""
    stop_requested = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
      signal.signal(signum, lambda *_: stop_requested.set())
    self.start()
    while not stop_requested.wait(0.5):
      pass
    LOG.info('Signal received: draining requests and flushing the request log')
    self.stop()


def freeze_heap() -> None:
  """Moves every object alive now out of the cyclic GC's reach (gc.freeze).

  Why: with TensorFlow and a model loaded the heap holds millions of objects, and a full (generation 2)
  collection walked them all for 190-250 ms with the GIL held, every few seconds under load (request-log
  records live long enough to be promoted, which triggers full collections). Every request in flight waited:
  that was the 64-client p99 (10x p50). Frozen objects are still freed by reference counting; only cycles
  among them wait for the next freeze_heap, which collects first.
  """
  gc.unfreeze()
  gc.collect()
  gc.freeze()


def _bind(host: str, port: int, reuse_port: bool = False) -> socket.socket:
  """A listening TCP socket on host:port (IPv4 or IPv6, as the host resolves; port 0 picks a free one).
  reuse_port: shared with the other workers of a --workers group, the kernel spreading connections."""
  family = socket.getaddrinfo(
    host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
  )[0][0]
  return socket.create_server(
    (host, port), family=family, backlog=1024, reuse_port=reuse_port
  )
