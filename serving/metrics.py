"""Prometheus metrics under TF Serving's names, plus the input/output monitoring metrics practitioners watch.

Written by hand rather than with prometheus_client because TF Serving's names (":tensorflow:serving:request_count")
must be exposed exactly, and prometheus_client renames counters to "<name>_total".
Text exposition format 0.0.4. Label values come from the server's own vocabulary (configured model name, signature
input names, status codes), never from free client text, so label cardinality stays bounded.
"""

import bisect
import math
import threading


def exponential_buckets(
  start: float, factor: float, count: int
) -> tuple[float, ...]:
  return tuple(start * factor**i for i in range(count))


def _escape(value: str) -> str:
  return (
    str(value).replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')
  )


def _labels_text(names, values, extra: str = '') -> str:
  parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)]
  if extra:
    parts.append(extra)
  return '{' + ','.join(parts) + '}' if parts else ''


def _number(value: float) -> str:
  if math.isinf(value):
    return '+Inf' if value > 0 else '-Inf'
  return (
    repr(float(value)) if not float(value).is_integer() else str(int(value))
  )


class _Metric:
  kind = ''

  def __init__(
    self, name: str, help_text: str, labelnames: tuple[str, ...] = ()
  ):
    self.name, self.help, self.labelnames = name, help_text, tuple(labelnames)
    self._lock = threading.Lock()
    self._values: dict[tuple, object] = {}

  def _header(self) -> list[str]:
    return [
      f'# HELP {self.name} {self.help}',
      f'# TYPE {self.name} {self.kind}',
    ]


class Counter(_Metric):
  kind = 'counter'

  def inc(self, *labels, amount: float = 1.0) -> None:
    with self._lock:
      self._values[labels] = self._values.get(labels, 0.0) + amount

  def render(self) -> list[str]:
    with self._lock:
      items = sorted(self._values.items())
    return self._header() + [
      f'{self.name}{_labels_text(self.labelnames, k)} {_number(v)}'
      for k, v in items
    ]


class Gauge(Counter):
  kind = 'gauge'

  def __init__(self, name, help_text, labelnames=(), function=None):
    super().__init__(name, help_text, labelnames)
    self._function = (
      function  # Read at scrape time, for values owned by another component.
    )

  def set(self, *labels, value: float) -> None:
    with self._lock:
      self._values[labels] = value

  def render(self) -> list[str]:
    if self._function is not None:
      with self._lock:
        self._values[()] = float(self._function())
    return super().render()


class Histogram(_Metric):
  kind = 'histogram'

  def __init__(
    self,
    name,
    help_text,
    labelnames=(),
    buckets=exponential_buckets(10, 1.8, 33),
  ):
    super().__init__(name, help_text, labelnames)
    self.buckets = tuple(sorted(buckets))

  def observe(self, *labels, value: float) -> None:
    with self._lock:
      state = self._values.get(labels)
      if state is None:
        state = self._values[labels] = [[0] * len(self.buckets), 0.0, 0]
      if value == value:  # NaN counts only towards +Inf and _count.
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.buckets):
          state[0][index] += 1
        state[1] += value
      state[2] += 1

  def render(self) -> list[str]:
    with self._lock:
      items = sorted(
        (k, ([*v[0]], v[1], v[2])) for k, v in self._values.items()
      )
    lines = self._header()
    for labels, (counts, total, count) in items:
      cumulative = 0
      for bound, bucket_count in zip(self.buckets, counts):
        cumulative += bucket_count
        le = _labels_text(self.labelnames, labels, f'le="{_number(bound)}"')
        lines.append(f'{self.name}_bucket{le} {cumulative}')
      inf = _labels_text(self.labelnames, labels, 'le="+Inf"')
      lines.append(f'{self.name}_bucket{inf} {count}')
      lines.append(
        f'{self.name}_sum{_labels_text(self.labelnames, labels)} {_number(total)}'
      )
      lines.append(
        f'{self.name}_count{_labels_text(self.labelnames, labels)} {count}'
      )
    return lines


class Registry:
  def __init__(self):
    self._metrics: list[_Metric] = []

  def add(self, metric):
    self._metrics.append(metric)
    return metric

  def render(self) -> str:
    return (
      '\n'.join(line for metric in self._metrics for line in metric.render())
      + '\n'
    )


SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))


class ServingMetrics:
  """Every metric the server exports. See docs/serving.md for the list and meaning."""

  def __init__(self):
    r = self.registry = Registry()
    tf = ':tensorflow:serving:'
    self.request_count = r.add(
      Counter(
        f'{tf}request_count',
        'The total number of requests.',
        ('model_name', 'status'),
      )
    )
    self.request_latency = r.add(
      Histogram(
        f'{tf}request_latency',
        'Distribution of wall time (in microseconds) for requests.',
        ('model_name', 'API', 'entrypoint'),
      )
    )
    self.runtime_latency = r.add(
      Histogram(
        f'{tf}runtime_latency',
        'Distribution of wall time (in microseconds) for model runtime.',
        ('model_name', 'API', 'runtime'),
      )
    )
    self.request_example_counts = r.add(
      Histogram(
        f'{tf}request_example_counts',
        'The number of tensorflow.Examples or instances per request.',
        ('model_name', 'API'),
        exponential_buckets(1, 2, 16),
      )
    )
    self.request_example_count_total = r.add(
      Counter(
        f'{tf}request_example_count_total',
        'The total number of tensorflow.Examples or instances.',
        ('model_name', 'API'),
      )
    )
    self.load_attempt_count = r.add(
      Counter(
        ':tensorflow:cc:saved_model:load_attempt_count',
        'The number of times a SavedModel was successfully loaded.',
        ('model_path', 'status'),
      )
    )
    self.batch_size = r.add(
      Histogram(
        f'{tf}batching_session:processed_batch_size',
        'Tracks the batch size distribution on processing.',
        ('model_name',),
        exponential_buckets(1, 2, 16),
      )
    )
    self.queuing_latency = r.add(
      Histogram(
        f'{tf}batching_session:queuing_latency',
        'Tracks the latency (in microseconds) of tasks in the batch queue.',
        ('model_name',),
      )
    )
    self.wrapped_run_count = r.add(
      Counter(
        f'{tf}batching_session:wrapped_run_count',
        'Tracks the number of model calls made for batched requests.',
        ('model_name',),
      )
    )
    # Ours: what a monitoring practitioner watches besides TF Serving's metrics.
    self.model_calls = r.add(
      Counter(
        'serving_model_calls_total',
        'Model (signature function) invocations, with or without batching.',
        ('model_name', 'signature'),
      )
    )
    self.model_version = r.add(
      Gauge(
        'serving_model_version',
        'The model version being served (0: none).',
        ('model_name',),
      )
    )
    self.missing_values = r.add(
      Counter(
        'serving_input_missing_values_total',
        'Input values that are missing (NaN float, empty string, empty '
        'tf.Example feature), per raw feature of serving_default.',
        ('model_name', 'feature'),
      )
    )
    self.input_values = r.add(
      Counter(
        'serving_input_values_total',
        'Input values received per feature (denominator of the missing rate).',
        ('model_name', 'feature'),
      )
    )
    self.request_body_bytes = r.add(
      Histogram(
        'serving_request_body_bytes',
        'Request body sizes in bytes.',
        ('model_name', 'API'),
        exponential_buckets(64, 4, 12),
      )
    )
    self.prediction_score = r.add(
      Histogram(
        'serving_prediction_score',
        'Distribution of float scores returned, per output tensor.',
        ('model_name', 'output'),
        SCORE_BUCKETS,
      )
    )
    self.failed_predictions = r.add(
      Counter(
        'serving_failed_predictions_total',
        'Predict/classify/regress requests answered with an error.',
        ('model_name', 'API', 'status'),
      )
    )
    self.empty_predictions = r.add(
      Counter(
        'serving_empty_predictions_total',
        'Returned predictions whose score is NaN (no usable prediction).',
        ('model_name', 'API'),
      )
    )
    self.request_log_records = r.add(
      Counter(
        'serving_request_log_records_total',
        'Records (one per instance) written to the request log (all models).',
      )
    )
    self.rejected_connections = r.add(
      Counter(
        'serving_rejected_connections_total',
        'Connections refused because --max_connections was reached.',
      )
    )

  def add_gauge_function(self, name: str, help_text: str, function) -> None:
    self.registry.add(Gauge(name, help_text, (), function))

  def render(self) -> str:
    return self.registry.render()
