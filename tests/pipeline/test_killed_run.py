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

from core import lineage, metadata_uri, model_versions, names
from tests.conftest import E2E_ARGS, PROJECT_DIR, run_local_runner

OTHER_STEPS = ('--train-steps', '150')  # a new Trainer input: no cache hit


def _versions(directory):
  return sorted(os.listdir(directory))


def _executions(work, node):
  """The node's executions in the run's store, oldest first."""
  path = work / 'metadata.sqlite'
  if not path.exists():
    return []
  store = metadata_store.MetadataStore(
    metadata_uri.connection_config(str(path))
  )
  context = lineage.node_context(store, names.TRAINING_PIPELINE, node)
  if context is None:
    return []
  return sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)


def _kill_inside(command, work, node, timeout=600):
  """Starts `command` and SIGKILLs it as soon as ML Metadata records a new
  RUNNING execution of `node` (TFX registers it before the executor runs)."""
  before = {e.id for e in _executions(work, node)}
  process = subprocess.Popen(
    command,
    cwd=PROJECT_DIR,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
  )
  deadline = time.monotonic() + timeout
  while process.poll() is None:
    started = [
      e
      for e in _executions(work, node)
      if e.id not in before
      and e.last_known_state == metadata_store_pb2.Execution.RUNNING
    ]
    if started:
      process.send_signal(signal.SIGKILL)
      break
    assert time.monotonic() < deadline, f'{node} never started'
    time.sleep(0.1)  # The polling interval, not a guess at timing.
  process.wait()
  return process.returncode


def _states(work, node):
  return [e.last_known_state for e in _executions(work, node)]


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
    _kill_inside(base + ['--no-cache', *E2E_ARGS], work, names.TRANSFORM)
    == -signal.SIGKILL
  )
  assert _versions(serving) == served  # nothing new, nothing half-written

  args = [a for a in E2E_ARGS]
  args[args.index('--train-steps') + 1] = OTHER_STEPS[1]
  assert _kill_inside(base + args, work, names.TRAINER) == -signal.SIGKILL
  assert _versions(serving) == served

  resumed = run_local_runner(trained_pipeline.data_root, work, serving, *args)
  assert resumed.returncode == 0, resumed.output[-3000:]
  assert 'reused from cache: example_gen' in resumed.output
  assert 'transform' in resumed.output.split('reused from cache:')[1]
  versions = _versions(serving)
  assert len(versions) == 2 and all(
    model_versions.is_version(v) for v in versions
  )

  # A killed execution stays RUNNING in the record; it is never reused.
  complete, running, cached = (
    metadata_store_pb2.Execution.COMPLETE,
    metadata_store_pb2.Execution.RUNNING,
    metadata_store_pb2.Execution.CACHED,
  )
  transform = _states(work, names.TRANSFORM)
  assert transform[:2] == [complete, running] and running not in transform[2:]
  assert transform[-1] == cached
  assert _states(work, names.TRAINER) == [complete, running, complete]
