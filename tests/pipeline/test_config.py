from pipeline import config


def test_one_worker_runs_beam_in_this_process():
  assert config.direct_runner_args(1) == (
    '--direct_running_mode=in_memory',
    '--direct_num_workers=1',
  )


def test_more_workers_are_processes_and_zero_is_one_per_cpu():
  assert config.direct_runner_args(4) == (
    '--direct_running_mode=multi_processing',
    '--direct_num_workers=4',
  )
  assert config.direct_runner_args(0)[1] == '--direct_num_workers=0'
