"""Metrics of a worker group (--workers N): one scrape answers for all workers.

A scrape lands on whichever worker the kernel gives the connection to. Each worker therefore publishes its
rendered metrics to a file in a directory shared by the group (every PUBLISH_SECONDS, atomically renamed), and
the worker answering a scrape merges its own current metrics with the other workers' latest files: counters and
histograms are summed, gauges summed too except serving_model_version (the highest). So Prometheus sees one
monotonic series per label set, as from one process; the other workers' share is at most PUBLISH_SECONDS old.
"""

import glob
import os
import threading

from serving.metrics import _number

PUBLISH_SECONDS = 1.0
_MAX_GAUGES = {'serving_model_version'}


def _parse(text: str, families: dict) -> None:
  """Adds the samples of one exposition text into families: name -> [help, type, {series: value}]."""
  family = None
  for line in text.splitlines():
    if line.startswith('# HELP '):
      name, _, help_text = line[7:].partition(' ')
      family = families.setdefault(name, [help_text, 'untyped', {}])
    elif line.startswith('# TYPE '):
      name, _, kind = line[7:].partition(' ')
      family = families.setdefault(name, ['', kind, {}])
      family[1] = kind
    elif line and not line.startswith('#') and family is not None:
      series, _, value = line.rpartition(' ')
      try:
        number = float(value)
      except ValueError:
        continue
      samples = family[2]
      name = series.split('{', 1)[0]
      if family[1] == 'gauge' and name in _MAX_GAUGES:
        samples[series] = max(samples.get(series, number), number)
      else:
        samples[series] = samples.get(series, 0.0) + number


def merge(texts: list[str]) -> str:
  """One exposition text from several workers' (the first one's family order)."""
  families: dict = {}
  for text in texts:
    _parse(text, families)
  lines = []
  for name, (help_text, kind, samples) in families.items():
    lines.append(f'# HELP {name} {help_text}')
    lines.append(f'# TYPE {name} {kind}')
    lines.extend(
      f'{series} {_number(value)}' for series, value in samples.items()
    )
  return '\n'.join(lines) + '\n'


class WorkerMetrics:
  """Publishes this worker's metrics for the group and merges the group's on a scrape."""

  def __init__(self, render, directory: str, index: int):
    self._render = render
    self._directory = directory
    self._path = os.path.join(directory, f'worker-{index}.prom')
    self._stop = threading.Event()
    self._thread = threading.Thread(
      target=self._publish_loop, name='metrics-publisher', daemon=True
    )
    self._thread.start()

  def render(self) -> str:
    texts = [self._render()]
    for path in sorted(glob.glob(os.path.join(self._directory, '*.prom'))):
      if path == self._path:
        continue
      try:
        with open(path, encoding='utf-8') as f:
          texts.append(f.read())
      except OSError:
        continue  # The worker is being replaced or the group is stopping.
    return merge(texts)

  def publish(self) -> None:
    temporary = f'{self._path}.tmp'
    with open(temporary, 'w', encoding='utf-8') as f:
      f.write(self._render())
    os.replace(temporary, self._path)

  def close(self) -> None:
    """Publishes a last time, so the group keeps this worker's final counts."""
    self._stop.set()
    self._thread.join(timeout=5)
    try:
      self.publish()
    except OSError:
      pass

  def _publish_loop(self) -> None:
    while not self._stop.wait(PUBLISH_SECONDS):
      try:
        self.publish()
      except OSError:
        pass  # The group's directory is gone: the parent is shutting down.
