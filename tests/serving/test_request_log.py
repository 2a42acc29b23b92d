"""Request log content, sampling, and durability across SIGKILL / SIGTERM / restart of a real server process."""

import base64
import json
import os
import signal
import time

import pytest
import requests

from serving.request_log import log_files, read_records
from tests.serving.conftest import (
  in_process_server,
  raw_instance,
  server_args,
  subprocess_server,
  wait_until,
)


def post(url, path, body):
  response = requests.post(url + path, data=json.dumps(body), timeout=30)
  assert response.status_code == 200, response.text
  return response


def records_for(log_dir, request_id):
  return [r for r in read_records(log_dir) if r['request_id'] == request_id]


def test_records_hold_raw_features_outputs_and_metadata(contract_server):
  url, log_dir = contract_server['url'], contract_server['log_dir']
  rows = [raw_instance(12.5, 3.0, 'Cash'), raw_instance(float('nan'), 1.0, '')]
  response = post(url, '/v1/models/taxi:predict', {'instances': rows})
  request_id = response.headers['X-Request-Id']
  records = wait_until(lambda: records_for(log_dir, request_id), timeout=10)
  assert [r['instance_index'] for r in records] == [0, 1]
  first = records[0]
  assert set(first) == {
    'timestamp',
    'model_name',
    'model_version',
    'signature_name',
    'method',
    'request_id',
    'instance_index',
    'features',
    'outputs',
    'latency_us',
  }
  assert (
    first['model_name'],
    first['model_version'],
    first['signature_name'],
    first['method'],
  ) == ('taxi', 1, 'serving_default', 'predict')
  assert first['features'] == rows[0]
  assert (
    records[1]['features']['fare'] is None
    and records[1]['features']['payment_type'] == ''
  )
  predictions = response.json()['predictions']
  assert [r['outputs']['probability'] for r in records] == pytest.approx(
    predictions, abs=1e-6
  )
  assert first['latency_us'] > 0 and first['timestamp'].endswith('Z')


def test_columnar_classify_and_tf_example_requests_are_logged_per_instance(
  contract_server,
):
  from tensorflow.core.example import example_pb2

  url, log_dir = contract_server['url'], contract_server['log_dir']
  columns = {name: [value, value] for name, value in raw_instance().items()}
  columnar_id = post(
    url, '/v1/models/taxi:predict', {'inputs': columns}
  ).headers['X-Request-Id']
  classify_id = post(
    url,
    '/v1/models/taxi:classify',
    {
      'signature_name': 'classification',
      'context': {'company': 'Flash Cab'},
      'examples': [{'fare': 7.0, 'payment_type': 'Cash'}],
    },
  ).headers['X-Request-Id']
  example = example_pb2.Example()
  example.features.feature['fare'].float_list.value.append(3.5)
  example.features.feature['company'].bytes_list.value.append(
    b'Taxi Affiliation'
  )
  b64 = base64.b64encode(example.SerializeToString()).decode()
  example_id = post(
    url,
    '/v1/models/taxi:predict',
    {'signature_name': 'serving_tf_example', 'instances': [{'b64': b64}]},
  ).headers['X-Request-Id']
  columnar = wait_until(lambda: records_for(log_dir, columnar_id), timeout=10)
  assert len(columnar) == 2 and columnar[1]['features'] == raw_instance()
  (classified,) = wait_until(
    lambda: records_for(log_dir, classify_id), timeout=10
  )
  assert classified['method'] == 'classify'
  assert classified['features'] == {
    'company': 'Flash Cab',
    'fare': 7.0,
    'payment_type': 'Cash',
  }
  assert (
    classified['outputs']['classes'] == ['0', '1']
    and len(classified['outputs']['scores']) == 2
  )
  (decoded,) = wait_until(lambda: records_for(log_dir, example_id), timeout=10)
  assert decoded['features'] == {'fare': 3.5, 'company': 'Taxi Affiliation'}


def test_sampling_zero_and_disabled_log_write_nothing(
  tmp_path, model_base_path
):
  for name, flag in (
    ('sampled', '--request_log_sampling_rate=0'),
    ('off', '--enable_request_log=false'),
  ):
    log_dir = str(tmp_path / name)
    with in_process_server(
      server_args(
        model_base_path, log_dir, flag, '--file_system_poll_wait_seconds=0'
      )
    ) as (_, url):
      for _ in range(5):
        post(url, '/v1/models/taxi:predict', {'instances': [raw_instance()]})
    assert list(read_records(log_dir)) == []


def test_sigkill_loses_at_most_the_flush_window_and_restart_appends(
  tmp_path, model_base_path
):
  log_dir = str(tmp_path / 'logs')
  flush_seconds = 1.0
  args = server_args(
    model_base_path,
    log_dir,
    f'--request_log_flush_seconds={flush_seconds}',
    '--file_system_poll_wait_seconds=0',
  )
  acknowledged = []  # (request id, time acknowledged)
  with subprocess_server(args) as (process, url):
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
      response = post(
        url, '/v1/models/taxi:predict', {'instances': [raw_instance()]}
      )
      acknowledged.append((response.headers['X-Request-Id'], time.monotonic()))
    process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    process.wait(timeout=10)
  logged = {r['request_id'] for r in read_records(log_dir)}
  lost = [(rid, at) for rid, at in acknowledged if rid not in logged]
  # Every record acknowledged more than one flush interval (plus scheduling slack) before the kill is on disk.
  assert all(killed_at - at <= flush_seconds + 0.5 for _, at in lost), lost
  assert len(logged) >= len(acknowledged) * 0.3
  first_files = log_files(log_dir)
  sizes = {path: os.path.getsize(path) for path in first_files}

  # A restart appends a new file; a clean SIGTERM then flushes everything it acknowledged.
  with subprocess_server(args) as (process, url):
    second = [
      post(
        url, '/v1/models/taxi:predict', {'instances': [raw_instance()]}
      ).headers['X-Request-Id']
      for _ in range(20)
    ]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
  assert len(log_files(log_dir)) == len(first_files) + 1
  assert all(os.path.getsize(path) == size for path, size in sizes.items())
  logged = {r['request_id'] for r in read_records(log_dir)}
  assert set(second) <= logged


def test_reader_skips_a_torn_final_line(tmp_path):
  path = tmp_path / 'requests-20240101T000000000000Z-1-0001.jsonl'
  path.write_text(
    json.dumps({'request_id': 'a'}) + '\n' + '{"request_id": "b", "feat'
  )
  assert [r['request_id'] for r in read_records(str(tmp_path))] == ['a']
