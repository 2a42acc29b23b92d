"""Server-side batching (merging, bounded queue) and a bounded concurrent load test with a live version push."""

import concurrent.futures
import http.client
import json
import threading
import time

import pytest
import requests

from tests.serving.conftest import (
  V1_WEIGHTS,
  V2_WEIGHTS,
  in_process_server,
  install_version,
  raw_instance,
  server_args,
  subprocess_server,
)
from tests.serving.test_rest_contract import metric_value


def batching_file(tmp_path, **params):
  path = tmp_path / 'batching.config'
  path.write_text(
    ''.join(f'{name} {{ value: {value} }}\n' for name, value in params.items())
  )
  return str(path)


def test_concurrent_requests_are_merged_into_fewer_model_calls(
  tmp_path, model_base_path, monitoring_config, toy_model_module
):
  config = batching_file(
    tmp_path,
    max_batch_size=64,
    batch_timeout_micros=5000,
    num_batch_threads=1,
    max_enqueued_batches=100,
  )
  args = server_args(
    model_base_path,
    str(tmp_path / 'logs'),
    '--enable_batching',
    f'--batching_parameters_file={config}',
    f'--monitoring_config_file={monitoring_config}',
    '--file_system_poll_wait_seconds=0',
  )
  fares = [1.0 + i for i in range(96)]
  with in_process_server(args) as (_, url):

    def call(fare):
      session = requests.Session()
      response = session.post(
        url + '/v1/models/taxi:predict',
        timeout=30,
        data=json.dumps({'instances': [raw_instance(fare, 2.0, 'Cash')]}),
      )
      assert response.status_code == 200, response.text
      return response.json()['predictions'][0]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
      predictions = list(pool.map(call, fares))
    metrics = requests.get(
      url + '/monitoring/prometheus/metrics', timeout=10
    ).text
  # Each request got its own row back, not a neighbour's.
  assert predictions == pytest.approx(
    [
      toy_model_module.reference_probability(f, 2.0, 'Cash', **V1_WEIGHTS)
      for f in fares
    ],
    abs=1e-6,
  )
  calls = metric_value(
    metrics,
    'serving_model_calls_total',
    model_name='taxi',
    signature='serving_default',
  )
  assert calls < len(fares) * 0.75, (
    f'{calls} model calls for {len(fares)} requests'
  )
  assert (
    metric_value(
      metrics,
      ':tensorflow:serving:batching_session:wrapped_run_count',
      model_name='taxi',
    )
    == calls
  )
  assert metric_value(
    metrics,
    ':tensorflow:serving:batching_session:processed_batch_size_sum',
    model_name='taxi',
  ) == len(fares)


def test_full_batch_queue_answers_503_and_recovers(tmp_path, model_base_path):
  config = batching_file(
    tmp_path,
    max_batch_size=1,
    batch_timeout_micros=0,
    num_batch_threads=1,
    max_enqueued_batches=1,
  )
  args = server_args(
    model_base_path,
    str(tmp_path / 'logs'),
    '--enable_batching',
    f'--batching_parameters_file={config}',
    '--file_system_poll_wait_seconds=0',
  )
  with in_process_server(args) as (_, url):
    big = json.dumps({'instances': [raw_instance()]})

    def call(_):
      return requests.post(
        url + '/v1/models/taxi:predict', data=big, timeout=30
      )

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
      responses = list(pool.map(call, range(256)))
    statuses = {r.status_code for r in responses}
    assert statuses <= {200, 503}
    refused = [r for r in responses if r.status_code == 503]
    assert refused, 'the one-row queue never overflowed'
    assert (
      'queue to which this task was submitted is full'
      in refused[0].json()['error']
    )
    assert (
      requests.post(
        url + '/v1/models/taxi:predict', data=big, timeout=30
      ).status_code
      == 200
    )


def test_load_with_a_version_push_has_zero_failures(
  tmp_path, model_v1_template, toy_model_module
):
  base = str(tmp_path / 'taxi')
  install_version(model_v1_template, base, 1, 1)
  config = batching_file(
    tmp_path, max_batch_size=128, batch_timeout_micros=0, num_batch_threads=2
  )
  args = server_args(
    base,
    str(tmp_path / 'logs'),
    '--enable_batching',
    f'--batching_parameters_file={config}',
    '--file_system_poll_wait_seconds=0.2',
  )
  p1 = toy_model_module.reference_probability(12.5, 3.0, 'Cash', **V1_WEIGHTS)
  p2 = toy_model_module.reference_probability(12.5, 3.0, 'Cash', **V2_WEIGHTS)
  body = json.dumps({'instances': [raw_instance(12.5, 3.0, 'Cash')]})
  duration, clients = 6.0, 24
  results = {'ok': 0, 'failures': [], 'v1': 0, 'v2': 0, 'v2_then_v1': 0}
  lock = threading.Lock()
  with subprocess_server(args) as (_, url):
    port = int(url.rsplit(':', 1)[1])
    stop_at = time.monotonic() + duration

    def client():
      connection = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
      seen_v2 = False
      while time.monotonic() < stop_at:
        try:
          connection.request(
            'POST',
            '/v1/models/taxi:predict',
            body,
            {'Content-Type': 'application/json'},
          )
          response = connection.getresponse()
          payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
          with lock:
            results['failures'].append(repr(exc))
          connection.close()
          continue
        with lock:
          if response.status != 200:
            results['failures'].append((response.status, payload[:200]))
            continue
          results['ok'] += 1
          p = json.loads(payload)['predictions'][0]
          version = (
            'v1' if abs(p - p1) < 1e-5 else 'v2' if abs(p - p2) < 1e-5 else None
          )
          assert version, p
          results[version] += 1
          if version == 'v2':
            seen_v2 = True
          elif seen_v2:
            results['v2_then_v1'] += 1
      connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
      thread.start()
    time.sleep(duration / 3)
    install_version(
      model_v1_template, base, 2, 2
    )  # Atomic push while under load.
    for thread in threads:
      thread.join(timeout=duration + 60)
  assert results['failures'] == []
  assert results['v1'] > 0 and results['v2'] > 0, results
  assert results['v2_then_v1'] == 0, results
  assert results['ok'] > 200, results


class _RecordingLoop:
  """Stands in for an event loop: records the thread-safe wake-ups a worker asks for."""

  def __init__(self):
    self.wakeups = []

  def call_soon_threadsafe(self, function, *args):
    self.wakeups.append((function, args))


def test_a_batch_wakes_the_event_loop_once_for_all_its_requests():
  import types

  import numpy as np

  from serving.batching import InferenceQueue
  from serving.metrics import ServingMetrics

  servable = types.SimpleNamespace(
    name='toy', run=lambda signature, inputs: {'y': inputs['x'] * 2}
  )
  signature = types.SimpleNamespace(name='s', batchable=True)
  # A long batch timeout: the worker waits until the batch is full, so the four requests share one call.
  queue = InferenceQueue(
    num_threads=1,
    metrics=ServingMetrics(),
    max_batch_size=4,
    batch_timeout_micros=60_000_000,
    max_enqueued_batches=10,
  )
  loop, delivered = _RecordingLoop(), []
  try:
    futures = [
      queue.submit(
        servable,
        signature,
        {'x': np.array([float(i)], dtype=np.float32)},
        notify=(loop, delivered.append),
      )
      for i in range(4)
    ]
    results = [future.result(timeout=30)[0]['y'].tolist() for future in futures]
  finally:
    queue.close()
  assert results == [[0.0], [2.0], [4.0], [6.0]]
  assert len(loop.wakeups) == 1
  function, args = loop.wakeups[0]
  function(
    *args
  )  # What the event loop would run: every request's callback, in queue order.
  assert delivered == futures


def test_the_heap_is_frozen_once_the_models_are_loaded(contract_server):
  import gc

  # Full collections would otherwise walk TensorFlow's objects with the GIL held (serving.server.freeze_heap).
  assert gc.get_freeze_count() > 0
