"""Runs killed mid-way (SIGKILL during Transform, during the Trainer) leave
the served model alone, and the next run completes, reusing the upstream
work. (A kill during the sub-second push is covered by the atomic pusher's
own tests: a version directory appears by one rename.)"""

import os
import signal
import subprocess
import sys
import time

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline import metadata_uri
from tests.conftest import E2E_ARGS, PROJECT_DIR, run_local_runner

OTHER_STEPS = ('--train-steps', '150')  # a new Trainer input: no cache hit


def _versions(directory):
  return sorted(os.listdir(directory))


def _kill_when(command, marker, timeout=600):
  """Starts `command`, SIGKILLs it once a stdout line contains `marker`."""
  process = subprocess.Popen(
    command,
    cwd=PROJECT_DIR,
    stdout=subprocess.PIPE,
    stderr=subprocess.DEVNULL,
    text=True,
  )
  deadline = time.monotonic() + timeout
  for line in process.stdout:
    if marker in line:
      time.sleep(3)  # well inside the component
      process.send_signal(signal.SIGKILL)
      break
    assert time.monotonic() < deadline, f'{marker!r} never printed'
  process.wait()
  return process.returncode


def _states(work, node):
  store = metadata_store.MetadataStore(
    metadata_uri.connection_config(str(work / 'metadata.sqlite'))
  )
  context = store.get_context_by_type_and_name('node', f'taxi.{node}')
  return [
    e.last_known_state
    for e in sorted(
      store.get_executions_by_context(context.id), key=lambda e: e.id
    )
  ]


def test_killed_runs_keep_the_old_model_and_the_next_run_resumes(
  trained_pipeline, tmp_path
):
  work, serving = tmp_path / 'work', tmp_path / 'serving'
  first = run_local_runner(trained_pipeline.data_root, work, serving, *E2E_ARGS)
  assert first.returncode == 0, first.output[-3000:]
  served = _versions(serving)
  assert len(served) == 1

  base = [
    sys.executable,
    'local_runner.py',
    '--data-root',
    str(trained_pipeline.data_root),
    '--work-dir',
    str(work),
    '--serving-model-dir',
    str(serving),
  ]
  assert (
    _kill_when(base + ['--no-cache', *E2E_ARGS], 'transform ...')
    == -signal.SIGKILL
  )
  assert _versions(serving) == served  # nothing new, nothing half-written

  args = [a for a in E2E_ARGS]
  args[args.index('--train-steps') + 1] = OTHER_STEPS[1]
  assert _kill_when(base + args, 'trainer ...') == -signal.SIGKILL
  assert _versions(serving) == served

  resumed = run_local_runner(trained_pipeline.data_root, work, serving, *args)
  assert resumed.returncode == 0, resumed.output[-3000:]
  assert 'reused from cache: example_gen' in resumed.output
  assert 'transform' in resumed.output.split('reused from cache:')[1]
  versions = _versions(serving)
  assert len(versions) == 2 and all(v.isdigit() for v in versions)

  # A killed execution stays RUNNING in the record; it is never reused.
  complete, running, cached = (
    metadata_store_pb2.Execution.COMPLETE,
    metadata_store_pb2.Execution.RUNNING,
    metadata_store_pb2.Execution.CACHED,
  )
  transform = _states(work, 'transform')
  assert transform[:2] == [complete, running] and running not in transform[2:]
  assert transform[-1] == cached
  assert _states(work, 'trainer') == [complete, running, complete]
