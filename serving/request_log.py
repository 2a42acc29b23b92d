"""Append-only, rotated JSON-lines log of every served instance, written off the request path.

Record schema (one JSON object per line, one line per instance or tf.Example of a request):
    {"timestamp": "2024-05-01T12:00:00.123456Z",   # UTC, when the request arrived
     "model_name": "taxi", "model_version": 3, "signature_name": "serving_default",
     "method": "predict" | "classify" | "regress",
     "request_id": "5f0c...",                      # also sent back in the X-Request-Id response header
     "instance_index": 0,                          # position of the instance in its request
     "features": {"fare": 12.5, "payment_type": "Cash", "trip_miles": null, ...},
     "outputs": {"probability": 0.73},             # the model's output tensors for this instance
     "latency_us": 812}                            # request latency, receipt to response
Missing float values (NaN) are written as null; +-Infinity as the strings "Infinity"/"-Infinity"; binary strings
as {"b64": "..."}; serialized tf.Example inputs are decoded into their features.

Durability: the request handler encodes its records and enqueues the lines; once per flush interval a writer
thread hands the backlog to the OS in one write(), then fsyncs. A record is enqueued before its response is sent, so a clean shutdown
(SIGTERM/SIGINT, which drains the queue) loses nothing; a crash (SIGKILL) loses at most the records of the last
flush interval, never half a line (a write() of whole lines is not split by a killed process). Each writer opens a
new file (exclusive create), so a restart appends to the log rather than overwriting it.
"""

import base64
import datetime
import glob
import json
import logging
import math
import os
import queue
import threading
import time

from serving import tf_example

LOG = logging.getLogger(__name__)
FILE_PATTERN = 'requests-*.jsonl'
_STOP = object()


def _clean(value):
  """JSON-safe copy of a feature/output value (NaN → null, ±inf → string, bytes → text or b64)."""
  if isinstance(value, float):
    if math.isnan(value):
      return None
    if math.isinf(value):
      return 'Infinity' if value > 0 else '-Infinity'
    return value
  if isinstance(value, bytes):
    try:
      return value.decode('utf-8')
    except UnicodeDecodeError:
      return {'b64': base64.b64encode(value).decode('ascii')}
  if isinstance(value, list):
    return [_clean(v) for v in value]
  if isinstance(value, dict):
    return {k: _clean(v) for k, v in value.items()}
  return value


class LoggedRequest:
  """What the handler hands over: raw request pieces, turned into per-instance records by the writer thread.

  `instances` is a list of per-instance feature dicts in client JSON form, or None when `example_inputs`
  (serialized tf.Examples) should be decoded instead. `outputs` maps output names to numpy arrays batched
  along dimension 0.
  """

  __slots__ = (
    'timestamp',
    'model_name',
    'model_version',
    'signature_name',
    'method',
    'request_id',
    'instances',
    'example_inputs',
    'outputs',
    'latency_us',
  )

  def __init__(
    self,
    *,
    timestamp,
    model_name,
    model_version,
    signature_name,
    method,
    request_id,
    instances,
    example_inputs,
    outputs,
    latency_us,
  ):
    self.timestamp = timestamp
    self.model_name = model_name
    self.model_version = model_version
    self.signature_name = signature_name
    self.method = method
    self.request_id = request_id
    self.instances = instances
    self.example_inputs = example_inputs
    self.outputs = outputs
    self.latency_us = latency_us

  def records(self):
    timestamp = datetime.datetime.fromtimestamp(
      self.timestamp, datetime.timezone.utc
    ).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
    if self.instances is not None:
      features_by_row = self.instances
    else:
      features_by_row = [
        _decode_example(serialized) for serialized in self.example_inputs
      ]
    outputs = {name: array.tolist() for name, array in self.outputs.items()}
    for index, features in enumerate(features_by_row):
      row_outputs = {}
      for name, values in outputs.items():
        row_outputs[name] = (
          _clean(values[index]) if index < len(values) else None
        )
      yield {
        'timestamp': timestamp,
        'model_name': self.model_name,
        'model_version': self.model_version,
        'signature_name': self.signature_name,
        'method': self.method,
        'request_id': self.request_id,
        'instance_index': index,
        'features': _clean(features),
        'outputs': row_outputs,
        'latency_us': self.latency_us,
      }


def _decode_example(serialized: bytes) -> dict:
  try:
    return tf_example.example_to_log_features(serialized)
  except Exception:  # noqa: BLE001 - a non-Example string input is logged as-is rather than dropped.
    return {'examples': serialized}


class RequestLogger:
  def __init__(
    self,
    directory: str,
    flush_seconds: float = 1.0,
    max_file_bytes: int = 64 * 1024 * 1024,
    rotate_seconds: float = 3600.0,
    on_records_written=None,
  ):
    self.directory = directory
    self.flush_seconds = flush_seconds
    self.max_file_bytes = max_file_bytes
    self.rotate_seconds = rotate_seconds
    self._on_records_written = on_records_written or (lambda count: None)
    os.makedirs(directory, exist_ok=True)
    # Bounded so a stalled disk pushes back on requests instead of exhausting memory; records are never dropped.
    self._queue: queue.Queue = queue.Queue(maxsize=100_000)
    self._fd: int | None = None
    self._file_bytes = 0
    self._file_opened_at = 0.0
    self._sequence = 0
    self._stop_requested = threading.Event()
    self._thread = threading.Thread(
      target=self._write_loop, name='request-log-writer', daemon=True
    )
    self._thread.start()

  def log(self, request: LoggedRequest) -> None:
    """Encodes the request's records on the calling thread and enqueues the lines for the writer.

    Why here and not in the writer: encoding a flush interval's backlog (thousands of requests) in the writer
    thread held the GIL for tens of milliseconds at a time, and every system call of the event loop then
    waited for the writer's switch interval (a GIL convoy): at 64 clients that was most of the p99. Encoded
    here, per request, the cost is spread evenly and the writer only writes (without the GIL).
    """
    self._queue.put(_encode(request))

  @property
  def pending(self) -> int:
    return self._queue.qsize()

  def close(self) -> None:
    """Writes everything enqueued so far, fsyncs and closes. Idempotent."""
    if self._thread.is_alive():
      self._queue.put(_STOP)
      self._stop_requested.set()
      self._thread.join()

  # --- writer thread -------------------------------------------------------------------------------------
  def _open_new_file(self) -> None:
    self._close_file()
    while True:
      stamp = datetime.datetime.now(datetime.timezone.utc).strftime(
        '%Y%m%dT%H%M%S%fZ'
      )
      self._sequence += 1
      path = os.path.join(
        self.directory,
        f'requests-{stamp}-{os.getpid()}-{self._sequence:04d}.jsonl',
      )
      try:
        self._fd = os.open(
          path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644
        )
        break
      except FileExistsError:
        continue
    self._file_bytes = 0
    self._file_opened_at = time.monotonic()

  def _close_file(self) -> None:
    if self._fd is not None:
      os.fsync(self._fd)
      os.close(self._fd)
      self._fd = None

  def _write(self, lines: list[bytes], count: int) -> None:
    if not lines:
      return
    if (
      self._fd is None
      or self._file_bytes >= self.max_file_bytes
      or (time.monotonic() - self._file_opened_at >= self.rotate_seconds)
    ):
      self._open_new_file()
    data = b''.join(lines)
    view = memoryview(data)
    while view:
      written = os.write(self._fd, view)
      view = view[written:]
    os.fsync(self._fd)
    self._file_bytes += len(data)
    self._on_records_written(count)

  def _drain(self) -> tuple[list, bool]:
    """Everything queued now, and whether close() asked to stop."""
    items, stopping = [], False
    while True:
      try:
        item = self._queue.get_nowait()
      except queue.Empty:
        return items, stopping
      if item is _STOP:
        stopping = True
      else:
        items.append(item)

  def _write_loop(self) -> None:
    # The writer sleeps through the flush interval and then encodes the whole backlog at once: waking per
    # record would compete with request threads for the GIL on every request.
    pending: list[bytes] = []
    count = 0
    stopping = False
    while not stopping:
      self._stop_requested.wait(self.flush_seconds)
      items, stopping = self._drain()
      for lines in items:
        pending += lines
        count += len(lines)
      try:
        self._write(pending, count)
      except OSError:
        LOG.exception(
          'Request log write to %s failed; will retry', self.directory
        )
        if not stopping:
          continue
      pending, count = [], 0
    self._close_file()


def _encode(request: LoggedRequest) -> list[bytes]:
  """The request's JSON lines; none if it cannot be encoded (logged: one bad request must not stop the log)."""
  try:
    return [
      (
        json.dumps(record, separators=(',', ':'), allow_nan=False) + '\n'
      ).encode()
      for record in request.records()
    ]
  except Exception:  # noqa: BLE001 - one unencodable request must not stop the log.
    LOG.exception(
      'Could not encode request %s for the request log', request.request_id
    )
    return []


def log_files(log_dir: str) -> list[str]:
  """Log files in write order (their names start with the UTC time they were opened)."""
  return sorted(glob.glob(os.path.join(log_dir, FILE_PATTERN)))


def read_records(log_dir: str):
  """Yields every record of the request log in `log_dir`, oldest file first, in write order.

  A final line without its newline (only possible if the disk filled up mid-write) is skipped.
  """
  for path in log_files(log_dir):
    with open(path, 'rb') as f:
      for line in f:
        if not line.endswith(b'\n'):
          break
        yield json.loads(line)
