"""Readable progress on the console while the full log goes to a file.

TFX's LocalDagRunner logs "Component X is running/finished" at INFO among
thousands of other lines, and its subprocesses (wheel builds, pip) and Keras
write to the terminal directly; this shows only the component lines, with
timings, and sends everything else to `log_path` for when something fails.
"""

import contextlib
import logging
import os
import re
import sys
import time
from typing import Iterator, Sequence

from absl import logging as absl_logging

_RUNNING = re.compile(r'Component (\S+) is running\.')
_FINISHED = re.compile(r'Component (\S+) is finished\.')
_CACHED = re.compile(r'A cached execution \d+ is used\.')


class ProgressHandler(logging.Handler):
  """Prints one line per component: position, name, seconds, cached."""

  def __init__(self, stream):
    super().__init__(logging.INFO)
    self._positions = {}
    self._stream = stream
    self._started = {}
    self._cached = set()
    self._current = None

  def emit(self, record: logging.LogRecord) -> None:
    message = record.getMessage()
    if match := _RUNNING.fullmatch(message):
      self._current = match.group(1)
      self._started[self._current] = time.monotonic()
      self._print(f'{self._prefix(self._current)} {self._current} ...')
    elif _CACHED.fullmatch(message) and self._current:
      self._cached.add(self._current)
    elif match := _FINISHED.fullmatch(message):
      node = match.group(1)
      seconds = time.monotonic() - self._started.get(node, time.monotonic())
      note = ' (cached)' if node in self._cached else ''
      self._print(f'{self._prefix(node)} {node} done in {seconds:.1f} s{note}')

  def track(self, node_ids: Sequence[str]) -> None:
    """The pipeline's nodes, in the order their positions are shown."""
    self._positions = {node: i + 1 for i, node in enumerate(node_ids)}

  def _prefix(self, node: str) -> str:
    return f'[{self._positions.get(node, "?")}/{len(self._positions)}]'

  def _print(self, line: str) -> None:
    print(line, file=self._stream, flush=True)


@contextlib.contextmanager
def _terminal_output_to(log_file) -> Iterator:
  """Points file descriptors 1 and 2 (so subprocesses too) at `log_file`;
  yields a stream on the original stdout."""
  sys.stdout.flush()
  sys.stderr.flush()
  saved = os.dup(1), os.dup(2)
  os.dup2(log_file.fileno(), 1)
  os.dup2(log_file.fileno(), 2)
  console = os.fdopen(os.dup(saved[0]), 'w', buffering=1)
  try:
    yield console
  finally:
    sys.stdout.flush()
    sys.stderr.flush()
    console.close()
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    os.close(saved[0])
    os.close(saved[1])


@contextlib.contextmanager
def console_progress(log_path: str) -> Iterator[ProgressHandler]:
  """Within the block: progress lines on the console, all other output in
  log_path. Yields the handler; tell it the pipeline's nodes with track()."""
  root = logging.getLogger()
  saved_level, saved_handlers = root.level, list(root.handlers)
  # TensorFlow's logger prints on its own; route it through the root instead.
  tf_logger = logging.getLogger('tensorflow')
  saved_tf = tf_logger.handlers[:], tf_logger.propagate
  tf_logger.handlers[:], tf_logger.propagate = [], True
  absl_verbosity = absl_logging.get_verbosity()
  absl_logging.set_verbosity(absl_logging.INFO)
  log_file = open(log_path, 'a', buffering=1)
  file_handler = logging.StreamHandler(log_file)
  file_handler.setFormatter(
    logging.Formatter('%(asctime)s %(levelname)s %(name)s: %(message)s')
  )
  with _terminal_output_to(log_file) as console:
    progress = ProgressHandler(console)
    # Replacing the root handlers also turns later logging.basicConfig()
    # calls (Beam makes one) into no-ops.
    root.handlers[:] = [file_handler, progress]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
      yield progress
    finally:
      logging.captureWarnings(False)
      absl_logging.set_verbosity(absl_verbosity)
      tf_logger.handlers[:], tf_logger.propagate = saved_tf
      root.setLevel(saved_level)
      root.handlers[:] = saved_handlers
  log_file.close()
