import argparse
import json
import socket

import pytest

from core import runner_flags


def parse(*argv):
  parser = argparse.ArgumentParser()
  runner_flags.add_beam_flags(parser)
  args = parser.parse_args(argv)
  runner_flags.check_beam_flags(parser, args)
  return args


def test_flink_runs_portably_through_the_job_server_with_process_workers():
  args = parse(
    '--beam-runner',
    'flink',
    '--flink-master',
    'flink-jm:8081',
    '--beam-parallelism',
    '4',
    '--beam-arg=--max_parallelism=8',
  )
  options = runner_flags.beam_args_of(args)
  assert options[:5] == (
    '--runner=FlinkRunner',
    '--flink_master=flink-jm:8081',
    '--flink_version=1.18',
    '--job_endpoint=localhost:8099',
    '--parallelism=4',
  )
  assert '--environment_type=PROCESS' in options
  config = json.loads(
    next(o for o in options if o.startswith('--environment_config=')).split(
      '=', 1
    )[1]
  )
  assert config['command'].endswith('scripts/beam_sdk_boot')
  assert config['env']['BEAM_SDK_PYTHON']
  assert options[-1] == '--max_parallelism=8'


def test_flink_loopback_and_cluster_default_parallelism():
  options = runner_flags.beam_args_of(
    parse(
      '--beam-runner',
      'flink',
      '--flink-master',
      'localhost:8081',
      '--beam-environment',
      'loopback',
    )
  )
  assert '--environment_type=LOOPBACK' in options
  assert not any(o.startswith('--parallelism') for o in options)


def test_bad_parallelism_is_a_usage_error():
  with pytest.raises(SystemExit):
    parse('--beam-parallelism', '-1')


def test_unreachable_flink_is_refused_with_what_to_do():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  args = parse('--beam-runner', 'flink', '--flink-master', f'localhost:{port}')
  with pytest.raises(runner_flags.RunnerUnavailable, match='flink_cluster.sh'):
    runner_flags.check_reachable(args)
  runner_flags.check_reachable(parse())  # Nothing to check for direct.


def test_flink_without_flink_master_keeps_the_beam_args_alone():
  """As the Kubeflow compiler passes them: its pods bring their own."""
  args = parse(
    '--beam-runner',
    'FlinkRunner',
    '--beam-arg=--flink_master=flink-jobmanager:8081',
    '--beam-arg=--environment_type=EXTERNAL',
  )
  assert runner_flags.beam_args_of(args) == (
    '--runner=FlinkRunner',
    '--flink_master=flink-jobmanager:8081',
    '--environment_type=EXTERNAL',
  )


def test_beam_args_override_the_generated_options():
  options = runner_flags.beam_args_of(
    parse(
      '--beam-runner',
      'flink',
      '--flink-master',
      'localhost:8081',
      '--beam-arg=--sdk_worker_parallelism=2',
    )
  )
  assert [o for o in options if o.startswith('--sdk_worker_parallelism')] == [
    '--sdk_worker_parallelism=2'
  ]


def test_portable_without_a_pool_is_loopback():
  assert runner_flags.beam_args_of(parse('--beam-runner', 'portable')) == (
    '--runner=PortableRunner',
    '--job_endpoint=embed',
    '--environment_type=LOOPBACK',
  )


def _closed_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def test_runners_refuse_an_unreachable_flink_before_running(tmp_path, capsys):
  import local_runner  # pylint: disable=import-outside-toplevel
  import monitoring_runner  # pylint: disable=import-outside-toplevel

  flink = [
    '--beam-runner',
    'flink',
    '--flink-master',
    f'localhost:{_closed_port()}',
  ]
  assert local_runner.main(['--work-dir', str(tmp_path), *flink]) == 1
  assert 'REFUSED: no Flink REST API' in capsys.readouterr().err
  assert monitoring_runner.main(['--work-dir', str(tmp_path), *flink]) == 2
  assert 'flink_cluster.sh start' in capsys.readouterr().err
  assert not (tmp_path / 'logs').exists()
