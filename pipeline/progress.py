"""Readable progress on the console while the full log goes to a file.

TFX's LocalDagRunner logs "Component X is running/finished" at INFO among
thousands of other lines; this shows only those, with timings, and keeps the
rest in `log_path` for when something fails.
"""
import contextlib
import logging
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

  def __init__(self, node_ids: Sequence[str], stream=sys.stdout):
    super().__init__(logging.INFO)
    self._positions = {node: i + 1 for i, node in enumerate(node_ids)}
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

  def _prefix(self, node: str) -> str:
    return f'[{self._positions.get(node, "?")}/{len(self._positions)}]'

  def _print(self, line: str) -> None:
    print(line, file=self._stream, flush=True)


@contextlib.contextmanager
def console_progress(node_ids: Sequence[str], log_path: str) -> Iterator[None]:
  """Within the block: progress lines on stdout, every log line in log_path."""
  root = logging.getLogger()
  saved_level, saved_handlers = root.level, list(root.handlers)
  # TensorFlow's logger prints on its own; route it through the root instead.
  tf_logger = logging.getLogger('tensorflow')
  saved_tf = tf_logger.handlers[:], tf_logger.propagate
  tf_logger.handlers[:], tf_logger.propagate = [], True
  absl_verbosity = absl_logging.get_verbosity()
  absl_logging.set_verbosity(absl_logging.INFO)
  file_handler = logging.FileHandler(log_path)
  file_handler.setFormatter(
      logging.Formatter('%(asctime)s %(levelname)s %(name)s: %(message)s'))
  # Replacing the root handlers also turns later logging.basicConfig() calls
  # (Beam makes one) into no-ops.
  root.handlers[:] = [file_handler, ProgressHandler(node_ids)]
  root.setLevel(logging.INFO)
  logging.captureWarnings(True)
  try:
    yield
  finally:
    logging.captureWarnings(False)
    file_handler.close()
    absl_logging.set_verbosity(absl_verbosity)
    tf_logger.handlers[:], tf_logger.propagate = saved_tf
    root.setLevel(saved_level)
    root.handlers[:] = saved_handlers
