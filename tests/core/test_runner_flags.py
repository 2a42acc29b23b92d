import argparse
import os

import pytest
from tfx.utils import dependency_utils

from core import runner_flags


def _parse(*argv, default_workers=1):
  parser = argparse.ArgumentParser()
  runner_flags.add_store_flags(parser, '/tmp/work')
  runner_flags.add_beam_flags(parser, default_workers)
  args = parser.parse_args(argv)
  runner_flags.check_beam_flags(parser, args)
  return args


def test_one_worker_runs_beam_in_this_process():
  assert runner_flags.direct_runner_args(1) == (
    '--direct_running_mode=in_memory',
    '--direct_num_workers=1',
  )


def test_more_workers_are_processes_and_zero_is_one_per_cpu():
  assert runner_flags.direct_runner_args(4) == (
    '--direct_running_mode=multi_processing',
    '--direct_num_workers=4',
  )
  assert runner_flags.direct_runner_args(0)[1] == '--direct_num_workers=0'


def test_beam_workers_mean_the_same_whatever_the_default():
  for default in (0, 1):
    assert runner_flags.beam_args_of(
      _parse('--beam-workers', '1', default_workers=default)
    ) == (
      f'--setup_file={runner_flags.PROJECT_DIR}/setup.py',
      '--runner=DirectRunner',
      *runner_flags.direct_runner_args(1),
    )


def test_direct_runner_names_the_project_so_tfx_builds_no_sdist():
  args = runner_flags.beam_pipeline_args('DirectRunner', 1)
  assert os.path.isfile(args[0].split('=', 1)[1])
  assert dependency_utils.make_beam_dependency_flags(list(args)) == list(args)
  # A runner that stages keeps TFX's default: no project setup.py forced on.
  assert not any(
    flag.startswith('--setup_file')
    for flag in runner_flags.beam_pipeline_args('DataflowRunner', 1)
  )


def test_negative_workers_are_refused(capsys):
  with pytest.raises(SystemExit):
    _parse('--beam-workers', '-1')
  assert 'must be 0 (one per CPU) or more' in capsys.readouterr().err


def test_runner_by_short_or_class_name():
  assert _parse('--beam-runner', 'direct').beam_runner == 'DirectRunner'
  assert _parse('--beam-runner', 'DirectRunner').beam_runner == 'DirectRunner'
  args = _parse(
    '--beam-runner', 'spark', '--beam-arg=--spark_master_url=spark://h:7077'
  )
  assert runner_flags.beam_args_of(args) == (
    '--runner=SparkRunner',
    '--spark_master_url=spark://h:7077',
  )


def test_unknown_runner_or_missing_options_are_usage_errors(capsys):
  with pytest.raises(SystemExit):
    _parse('--beam-runner', 'storm')
  assert "unknown Beam runner 'storm'" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    _parse('--beam-runner', 'flink')
  assert '--beam-arg=--flink_master=...' in capsys.readouterr().err


def test_store_defaults_to_sqlite_in_the_work_dir():
  assert runner_flags.store_uri(_parse()) == '/tmp/work/metadata.sqlite'
  assert (
    runner_flags.store_uri(_parse('--metadata-uri', 'mysql://u@h/db'))
    == 'mysql://u@h/db'
  )


def test_runners_default_to_the_projects_work_and_serving_model_dirs():
  parser = argparse.ArgumentParser()
  runner_flags.add_store_flags(parser)
  parser.add_argument('--serving-model-dir')
  parser.add_argument('--model-name', default='taxi')
  args = parser.parse_args([])
  assert args.work_dir == os.path.join(runner_flags.PROJECT_DIR, 'work')
  assert runner_flags.serving_model_dir(args) == os.path.join(
    runner_flags.PROJECT_DIR, 'serving_model', 'taxi'
  )
  args = parser.parse_args(['--serving-model-dir', 'elsewhere'])
  assert runner_flags.serving_model_dir(args) == os.path.abspath('elsewhere')
