"""`python -m serving` as users run it: --help, and the switch to the real tensorflow_model_server."""

import os
import stat

from tests.serving.conftest import assert_refused, run_cli

ALL_FLAGS = [
  '--model_name',
  '--model_base_path',
  '--rest_api_port',
  '--port',
  '--rest_api_num_threads',
  '--rest_api_timeout_in_ms',
  '--file_system_poll_wait_seconds',
  '--monitoring_config_file',
  '--enable_batching',
  '--batching_parameters_file',
  '--rest_api_host',
  '--version_labels',
  '--enable_request_log',
  '--request_log_dir',
  '--request_log_sampling_rate',
  '--request_log_flush_seconds',
  '--request_log_max_file_bytes',
  '--request_log_rotate_seconds',
  '--max_body_bytes',
  '--max_header_bytes',
  '--max_connections',
  '--idle_connection_timeout_seconds',
  '--workers',
  '--proxy_to',
  '--use_real_binary',
]


def test_help_documents_every_flag():
  result = run_cli('--help')
  assert result.returncode == 0
  for flag in ALL_FLAGS:
    assert flag in result.stdout, flag


def test_real_binary_is_executed_with_the_tf_serving_flags(tmp_path):
  record = tmp_path / 'argv.txt'
  fake = tmp_path / 'bin' / 'tensorflow_model_server'
  fake.parent.mkdir()
  fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$0" "$@" > {record}\n')
  fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
  env = {
    'PATH': f'{fake.parent}{os.pathsep}{os.environ["PATH"]}',
    'SERVING_USE_REAL_BINARY': '1',
  }
  result = run_cli(
    '--model_name=taxi',
    f'--model_base_path={tmp_path}/m',
    '--rest_api_port=8601',
    '--request_log_dir=/tmp/ignored',
    '--enable_batching',
    env=env,
  )
  assert result.returncode == 0, result.stderr
  argv = record.read_text().split('\n')[1:-1]
  assert argv == [
    '--rest_api_port=8601',
    '--model_name=taxi',
    f'--model_base_path={tmp_path}/m',
    '--enable_batching=true',
  ]


def test_missing_real_binary_is_a_clear_error(tmp_path):
  result = run_cli(
    '--model_base_path=m', '--use_real_binary', env={'PATH': str(tmp_path)}
  )
  assert result.returncode == 2
  assert 'tensorflow_model_server is not on PATH' in result.stderr


def test_a_typo_in_the_batching_file_stops_the_server_with_one_line(tmp_path):
  batching = tmp_path / 'batching.config'
  batching.write_text('max_batch_sise { value: 8 }\n')
  assert_refused(
    [
      f'--model_base_path={tmp_path}/m',
      '--enable_batching',
      f'--batching_parameters_file={batching}',
    ],
    'error: Error parsing text-format '
    'tensorflow.serving.BatchingParameters: 1:1 : Message type '
    '"tensorflow.serving.BatchingParameters" has no field named '
    f'"max_batch_sise". (Invalid protobuf file: \'{batching}\')',
  )
