"""The pipeline on the local Flink cluster: every Beam-based component runs
as a Flink job, in more than one task slot, and the model is as good as the
DirectRunner's on the same sample."""

import re

import pytest

from tests.conftest import (
  E2E_ARGS,
  E2E_ROWS,
  run_local_runner,
  sample_rows,
  write_rows,
)
from tests.flink.conftest import FLINK_MASTER, rest

pytestmark = [pytest.mark.flink, pytest.mark.e2e]

# ExampleGen, StatisticsGen, Transform, Evaluator: at least one job each.
MIN_BEAM_JOBS = 4


def _test_auc(output: str) -> float:
  return float(re.search(r'^\s+overall\s+\d+\s+([0-9.]+)', output, re.M)[1])


def test_pipeline_runs_its_beam_jobs_on_flink(
  flink_with_job_server, trained_pipeline, tmp_path
):
  del flink_with_job_server
  write_rows(tmp_path / 'data' / 'data.csv', sample_rows(E2E_ROWS))
  run = run_local_runner(
    tmp_path / 'data',
    tmp_path / 'work',
    tmp_path / 'serving',
    *E2E_ARGS,
    '--beam-runner',
    'flink',
    '--flink-master',
    FLINK_MASTER,
    '--beam-parallelism',
    '2',
    timeout=2400,
  )
  assert run.returncode == 0, run.output[-5000:]
  assert 'BLESSED' in run.output
  jobs = rest('/jobs/overview')['jobs']
  finished = [j for j in jobs if j['state'] == 'FINISHED']
  assert len(finished) >= MIN_BEAM_JOBS, jobs
  assert not [j for j in jobs if j['state'] == 'FAILED']
  # More than one slot: some job ran vertices on both TaskManagers.
  managers = set()
  for job in finished:
    for vertex in rest(f'/jobs/{job["jid"]}')['vertices']:
      if vertex['parallelism'] > 1:
        info = rest(f'/jobs/{job["jid"]}/vertices/{vertex["id"]}/taskmanagers')
        managers |= {tm['taskmanager-id'] for tm in info['taskmanagers']}
  assert len(managers) >= 2
  # The same model within noise: the DirectRunner's run on the same rows.
  assert abs(_test_auc(run.output) - _test_auc(trained_pipeline.output)) < 0.02
