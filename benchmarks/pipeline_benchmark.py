"""Wall time and peak memory of the full-data pipeline next to the upstream
TFX taxi example (tfx/examples/chicago_taxi_pipeline, 9 components), both
measured in this run on this machine, cold (empty work directories).

    python benchmarks/pipeline_benchmark.py [--skip-upstream]

Peak memory is the largest sum of resident memory over the whole process tree
(Beam workers and pip subprocesses included), sampled every 0.2 s.
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import psutil
import tfx

PROJECT_DIR = pathlib.Path(__file__).resolve().parent.parent
UPSTREAM_DIR = (
  pathlib.Path(tfx.__file__).parent / 'examples' / 'chicago_taxi_pipeline'
)


def _tree_rss(process: psutil.Process) -> int:
  total = 0
  for p in [process] + process.children(recursive=True):
    try:
      total += p.memory_info().rss
    except psutil.NoSuchProcess:
      pass
  return total


def measure(command, cwd, env) -> dict:
  """Runs `command`; returns wall seconds, peak tree RSS, exit code."""
  started = time.monotonic()
  process = subprocess.Popen(
    command,
    cwd=cwd,
    env=env,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
  )
  watched = psutil.Process(process.pid)
  peak = 0
  done = threading.Event()

  def sample():
    nonlocal peak
    while not done.is_set():
      try:
        peak = max(peak, _tree_rss(watched))
      except psutil.NoSuchProcess:
        return
      done.wait(0.2)

  sampler = threading.Thread(target=sample, daemon=True)
  sampler.start()
  returncode = process.wait()
  done.set()
  sampler.join()
  return {
    'seconds': time.monotonic() - started,
    'peak_mb': peak / 2**20,
    'returncode': returncode,
  }


def ours(root: pathlib.Path) -> dict:
  return measure(
    [
      sys.executable,
      str(PROJECT_DIR / 'local_runner.py'),
      '--work-dir',
      str(root / 'work'),
      '--serving-model-dir',
      str(root / 'serving'),
    ],
    PROJECT_DIR,
    dict(os.environ),
  )


def upstream(root: pathlib.Path) -> dict:
  """The example as published, with its own paths under a temporary HOME."""
  taxi = root / 'taxi'
  (taxi / 'data' / 'simple').mkdir(parents=True)
  shutil.copy(
    UPSTREAM_DIR / 'data' / 'simple' / 'data.csv', taxi / 'data' / 'simple'
  )
  shutil.copy(UPSTREAM_DIR / 'taxi_utils_native_keras.py', taxi)
  shutil.copy(UPSTREAM_DIR / 'taxi_pipeline_native_keras.py', root)
  # The upstream Keras example needs Keras 2 in TF 2.16.
  env = dict(os.environ, HOME=str(root), TF_USE_LEGACY_KERAS='1')
  return measure([sys.executable, 'taxi_pipeline_native_keras.py'], root, env)


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--skip-upstream', action='store_true')
  args = parser.parse_args()
  results = {}
  with tempfile.TemporaryDirectory() as tmp:
    print(
      "running this project's pipeline (11 nodes, full data) ...", flush=True
    )
    results['this project'] = ours(pathlib.Path(tmp) / 'ours')
    if not args.skip_upstream:
      print(
        'running the upstream TFX taxi example (9 components) ...', flush=True
      )
      results['upstream example'] = upstream(pathlib.Path(tmp) / 'upstream')
  print(f'\n{"pipeline":<18} {"wall s":>8} {"peak MB":>9} {"exit":>5}')
  for name, r in results.items():
    print(
      f'{name:<18} {r["seconds"]:>8.1f} {r["peak_mb"]:>9.0f} '
      f'{r["returncode"]:>5}'
    )
  if 'upstream example' in results:
    base, mine = results['upstream example'], results['this project']
    print(
      f'\nratio (this project / upstream): wall '
      f'{mine["seconds"] / base["seconds"]:.2f}, peak memory '
      f'{mine["peak_mb"] / base["peak_mb"]:.2f}'
    )


if __name__ == '__main__':
  main()
