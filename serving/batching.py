"""Model calls off the HTTP event loop: a bounded task queue drained by worker threads.

With batching on (--enable_batching) a worker merges queued requests for the same version and signature, whose
inputs agree in dtype and non-batch shape, into one model call of at most max_batch_size rows, waiting up to
batch_timeout_micros for a batch to fill, and splits the outputs back per request. The queue holds at most
max_enqueued_batches * max_batch_size rows; a request that does not fit is refused with UNAVAILABLE (HTTP 503),
as TF Serving's batch scheduler does. Without batching each request is one model call on one of the workers.
TensorFlow releases the GIL while it computes, so workers overlap with the event loop and with each other.
A lone small request may instead run on the event loop thread (run_inline), which saves two thread wake-ups.
"""

import collections
import concurrent.futures
import logging
import threading
import time

import numpy as np

from serving.errors import ServingError

LOG = logging.getLogger(__name__)


class Task:
  __slots__ = (
    'servable',
    'signature',
    'inputs',
    'rows',
    'key',
    'future',
    'enqueued_at',
    'notify',
  )

  def __init__(
    self, servable, signature, inputs: dict[str, np.ndarray], notify=None
  ):
    self.servable = servable
    self.signature = signature
    self.inputs = inputs
    self.rows = batch_rows(signature, inputs)
    # Only tasks with equal keys may share a model call.
    self.key = (
      None
      if self.rows is None
      else (
        id(servable),
        signature.name,
        tuple(
          sorted(
            (name, array.dtype.str, array.shape[1:])
            for name, array in inputs.items()
          )
        ),
      )
    )
    self.future = concurrent.futures.Future()
    self.enqueued_at = time.perf_counter()
    # (event loop, callback(future)): called on that loop once done, together with the rest of its batch.
    self.notify = notify

  @property
  def size(self) -> int:
    return self.rows or 1


def batch_rows(signature, inputs: dict[str, np.ndarray]) -> int | None:
  """Rows in a request, or None when it cannot be merged (unbatched signature, scalar or ragged inputs)."""
  if not signature.batchable:
    return None
  sizes = {array.shape[0] if array.ndim else None for array in inputs.values()}
  if len(sizes) != 1 or None in sizes:
    return None
  return sizes.pop()


class InferenceQueue:
  def __init__(
    self,
    *,
    num_threads: int,
    metrics,
    max_batch_size: int | None = None,
    batch_timeout_micros: int = 0,
    max_enqueued_batches: int | None = None,
  ):
    self.merge = max_batch_size is not None
    self.max_batch_size = max_batch_size or 0
    self.batch_timeout = batch_timeout_micros / 1e6
    self.max_queued_rows = (
      max_batch_size * max_enqueued_batches
      if self.merge and max_enqueued_batches
      else None
    )
    self._metrics = metrics
    self._queue: collections.deque[Task] = collections.deque()
    self._queued_rows = 0
    self._cond = threading.Condition()
    self._closed = False
    self._threads = [
      threading.Thread(target=self._work, name=f'inference-{i}', daemon=True)
      for i in range(num_threads)
    ]
    for thread in self._threads:
      thread.start()

  @property
  def queued_rows(self) -> int:
    return self._queued_rows

  @property
  def inline_allowed(self) -> bool:
    """Whether run_inline may replace submit: always without batching; with batching only when a batch would
    not wait for company (batch_timeout_micros 0), so a lone request gains nothing from the queue."""
    return not self.merge or self.batch_timeout == 0

  def run_inline(
    self, servable, signature, inputs: dict[str, np.ndarray]
  ) -> concurrent.futures.Future:
    """Runs one request on the calling thread (same metrics and errors as a worker); returns its done future."""
    task = Task(servable, signature, inputs)
    if self._closed:
      raise ServingError('UNAVAILABLE', 'Server is shutting down')
    task.future.set_running_or_notify_cancel()
    self._run([task])
    return task.future

  def submit(
    self, servable, signature, inputs: dict[str, np.ndarray], notify=None
  ) -> concurrent.futures.Future:
    """Queues a model call. `notify=(loop, callback)` has callback(future) called on that event loop when it is
    done; a batch wakes each loop once (a thread-safe wake-up per request cost the worker GIL time)."""
    task = Task(servable, signature, inputs, notify)
    with self._cond:
      if self._closed:
        raise ServingError('UNAVAILABLE', 'Server is shutting down')
      if (
        self.max_queued_rows is not None
        and self._queued_rows + task.size > self.max_queued_rows
      ):
        raise ServingError(
          'UNAVAILABLE',
          'The batch scheduling queue to which this task was submitted is full',
        )
      self._queue.append(task)
      self._queued_rows += task.size
      self._cond.notify()
    return task.future

  def close(self) -> None:
    """Finishes queued work, then stops the workers."""
    with self._cond:
      self._closed = True
      self._cond.notify_all()
    for thread in self._threads:
      thread.join(timeout=30)

  def _take_batch(self) -> list[Task] | None:
    with self._cond:
      while not self._queue:
        if self._closed:
          return None
        self._cond.wait()
      first = self._queue.popleft()
      self._queued_rows -= first.size
      batch = [first]
      if not self.merge or first.key is None:
        return batch
      rows = first.rows
      deadline = first.enqueued_at + self.batch_timeout
      while rows < self.max_batch_size:
        for task in list(self._queue):
          if task.key == first.key and rows + task.rows <= self.max_batch_size:
            self._queue.remove(task)
            self._queued_rows -= task.size
            batch.append(task)
            rows += task.rows
        remaining = deadline - time.perf_counter()
        if rows >= self.max_batch_size or remaining <= 0 or self._closed:
          break
        self._cond.wait(remaining)
      return batch

  def _work(self) -> None:
    while True:
      batch = self._take_batch()
      if batch is None:
        return
      # Tasks whose caller gave up (deadline) are dropped before costing a model call.
      batch = [
        task for task in batch if task.future.set_running_or_notify_cancel()
      ]
      if batch:
        self._run(batch)

  def _run(self, batch: list[Task]) -> None:
    first = batch[0]
    started = time.perf_counter()
    labels = (first.servable.name,)
    for task in batch:
      self._metrics.queuing_latency.observe(
        *labels, value=(started - task.enqueued_at) * 1e6
      )
    try:
      if len(batch) == 1:
        inputs = first.inputs
      else:
        inputs = {
          name: np.concatenate([task.inputs[name] for task in batch])
          for name in first.inputs
        }
      outputs = first.servable.run(first.signature, inputs)
      results = _split(outputs, batch)
    except ServingError as exc:
      results = [exc] * len(batch)
    except Exception as exc:  # noqa: BLE001 - a worker must answer every task, whatever happened.
      results = [
        ServingError('INTERNAL', f'{type(exc).__name__}: {exc}')
      ] * len(batch)
    self._metrics.model_calls.inc(*labels, first.signature.name)
    if self.merge:
      self._metrics.wrapped_run_count.inc(*labels)
      self._metrics.batch_size.observe(
        *labels, value=sum(task.size for task in batch)
      )
    runtime_us = (time.perf_counter() - started) * 1e6
    callbacks = {}
    for task, result in zip(batch, results):
      if isinstance(result, ServingError):
        task.future.set_exception(result)
      else:
        task.future.set_result((result, runtime_us))
      if task.notify is not None:
        loop, callback = task.notify
        callbacks.setdefault(loop, []).append((callback, task.future))
    for loop, calls in callbacks.items():
      try:
        loop.call_soon_threadsafe(_call_all, calls)
      except RuntimeError:  # The loop is closed: nobody is waiting any more.
        pass


def _call_all(calls) -> None:
  for callback, future in calls:
    try:
      callback(future)
    except Exception:  # noqa: BLE001 - one failing callback must not leave the rest of the batch unanswered.
      LOG.exception('Error delivering a model result')


def _split(outputs: dict[str, np.ndarray], batch: list[Task]) -> list:
  if len(batch) == 1:
    return [outputs]
  total = sum(task.rows for task in batch)
  for name, array in outputs.items():
    if array.ndim == 0 or array.shape[0] != total:
      raise ServingError(
        'INTERNAL',
        f"Batched output '{name}' has {array.shape[:1]} rows, expected {total}",
      )
  results, offset = [], 0
  for task in batch:
    results.append(
      {
        name: array[offset : offset + task.rows]
        for name, array in outputs.items()
      }
    )
    offset += task.rows
  return results
