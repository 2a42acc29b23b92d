"""Wall time, peak memory, per-component times and model quality of the
full-data pipeline next to the upstream TFX taxi example
(tfx/examples/chicago_taxi_pipeline/taxi_pipeline_native_keras.py, 9
components), both measured in this run on this machine.

    python benchmarks/pipeline_benchmark.py [--skip-upstream] [--train-steps N]

Each pipeline runs cold (empty work directory), then three times more
unchanged: the first rerun compares the candidate with the model the cold run
pushed (now the model in production, so both Evaluators run again), the
second has nothing new to look at (this project's runner sees that before
importing TFX and launches nothing), and the third is the second again with
TFX launched anyway (this project's --always-launch; the upstream example
always launches), so TFX's own cache check is measured too. Both get the
same Beam settings (this project's default: DirectRunner in memory, one
worker) and the same training steps (default: the upstream example's 1000);
the upstream script is copied and only those two settings are changed. The
shared libraries are imported once, untimed, before the first run, so that
neither pipeline pays for reading them from disk. Peak memory is the largest
sum of resident memory over the whole process tree (Beam workers and pip
subprocesses included), sampled every 0.2 s. Per-component times come from
each run's own ML Metadata store (execution created → last updated). Model
quality: AUC and log loss of both trained models on the same rows, the trips
that both pipelines held out (this project's test split ∩ the upstream
example's eval split), each model fed its own ExampleGen's tf.Examples
through its tf.Example signature.
"""

import argparse
import dataclasses
import glob
import math
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List

import numpy as np
import psutil
import tensorflow as tf
import tfx
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from sklearn import metrics

from core import names
from core.metadata_uri import connection_config
from models import features

PROJECT_DIR = pathlib.Path(__file__).resolve().parent.parent
UPSTREAM_DIR = (
  pathlib.Path(tfx.__file__).parent / 'examples' / 'chicago_taxi_pipeline'
)
UPSTREAM_NAME = 'chicago_taxi_native_keras'
# The upstream example's settings, replaced in its copy (see _upstream_script).
UPSTREAM_BEAM_ARGS = (
  "'--direct_running_mode=multi_processing',",
  "'--direct_num_workers=0',",
)
UPSTREAM_TRAIN_STEPS = 'train_args=trainer_pb2.TrainArgs(num_steps=1000)'
RUNS = ('cold', 'rerun', 'rerun2', 'rerun3')
# The run in which this project launches TFX although nothing changed.
ALWAYS_LAUNCH_RUN = 'rerun3'
STATE_NAMES = {
  metadata_store_pb2.Execution.COMPLETE: 'ran',
  metadata_store_pb2.Execution.CACHED: 'cached',
  metadata_store_pb2.Execution.FAILED: 'failed',
}


def _tree_rss(process: psutil.Process) -> int:
  total = 0
  for p in [process] + process.children(recursive=True):
    try:
      total += p.memory_info().rss
    except psutil.NoSuchProcess:
      pass
  return total


def measure(command, cwd, env) -> dict:
  """Runs `command`; returns wall seconds, peak tree RSS, exit code, the
  start time (ms since the epoch, as ML Metadata records times) and the
  sampled (ms since the epoch, tree RSS in bytes) timeline."""
  started_ms = time.time() * 1000
  started = time.monotonic()
  process = subprocess.Popen(
    command,
    cwd=cwd,
    env=env,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
  )
  watched = psutil.Process(process.pid)
  timeline = []
  done = threading.Event()

  def sample():
    while not done.is_set():
      try:
        timeline.append((time.time() * 1000, _tree_rss(watched)))
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
    'peak_mb': max((rss for _, rss in timeline), default=0) / 2**20,
    'returncode': returncode,
    'started_ms': started_ms,
    'timeline': timeline,
  }


@dataclasses.dataclass(frozen=True)
class Pipeline:
  """One pipeline under test: how to run it and where its results are."""

  name: str
  pipeline_name: str
  run: Callable[[str], dict]  # The run's name (RUNS) -> measure()'s figures.
  metadata_path: pathlib.Path
  pipeline_root: pathlib.Path
  # Relative to pipeline_root: the held-out split's tf.Example files, the
  # Trainer's SavedModel.
  held_out_glob: str
  model_glob: str
  signature: str
  output: str


def local_runner_command(root: pathlib.Path, *flags: str) -> List[str]:
  """`local_runner.py` with its work and serving directories under `root`
  (work/, serving/) and `flags`."""
  return [
    sys.executable,
    str(PROJECT_DIR / 'local_runner.py'),
    '--work-dir',
    str(root / 'work'),
    '--serving-model-dir',
    str(root / 'serving'),
    *flags,
  ]


def ours(root: pathlib.Path, train_steps: int) -> Pipeline:
  work = root / 'work'
  command = local_runner_command(root, '--train-steps', str(train_steps))
  return Pipeline(
    name='this project',
    pipeline_name=names.TRAINING_PIPELINE,
    run=lambda run_name: measure(
      command + (['--always-launch'] if run_name == ALWAYS_LAUNCH_RUN else []),
      PROJECT_DIR,
      dict(os.environ),
    ),
    metadata_path=work / 'metadata.sqlite',
    pipeline_root=work / 'pipelines' / names.TRAINING_PIPELINE,
    held_out_glob=f'{names.EXAMPLE_GEN}/{names.EXAMPLES}/*/'
    f'Split-{names.TEST_SPLIT}/*',
    model_glob=f'{names.TRAINER}/{names.MODEL}/*/Format-Serving',
    signature='serving_tf_example',
    output='probability',
  )


def _upstream_script(train_steps: int) -> str:
  text = (UPSTREAM_DIR / 'taxi_pipeline_native_keras.py').read_text()
  replacements = {
    UPSTREAM_BEAM_ARGS[0]: "'--direct_running_mode=in_memory',",
    UPSTREAM_BEAM_ARGS[1]: "'--direct_num_workers=1',",
    UPSTREAM_TRAIN_STEPS: UPSTREAM_TRAIN_STEPS.replace(
      '1000', str(train_steps)
    ),
  }
  for old, new in replacements.items():
    if old not in text:
      sys.exit(f'the upstream example no longer contains {old!r}')
    text = text.replace(old, new)
  return text


def upstream(root: pathlib.Path, train_steps: int) -> Pipeline:
  """The example with its own paths under a temporary HOME."""
  taxi = root / 'taxi'
  (taxi / 'data' / 'simple').mkdir(parents=True)
  shutil.copy(
    UPSTREAM_DIR / 'data' / 'simple' / 'data.csv', taxi / 'data' / 'simple'
  )
  shutil.copy(UPSTREAM_DIR / 'taxi_utils_native_keras.py', taxi)
  (root / 'taxi_pipeline_native_keras.py').write_text(
    _upstream_script(train_steps)
  )
  # The upstream Keras example needs Keras 2 in TF 2.16.
  env = dict(os.environ, HOME=str(root), TF_USE_LEGACY_KERAS='1')
  command = [sys.executable, 'taxi_pipeline_native_keras.py']
  return Pipeline(
    name='upstream example',
    pipeline_name=UPSTREAM_NAME,
    run=lambda run_name: measure(command, root, env),
    metadata_path=root / 'tfx' / 'metadata' / UPSTREAM_NAME / 'metadata.db',
    pipeline_root=root / 'tfx' / 'pipelines' / UPSTREAM_NAME,
    held_out_glob='CsvExampleGen/examples/*/Split-eval/*',
    model_glob='Trainer/model/*/Format-Serving',
    signature='serving_default',
    output='outputs',
  )


def component_windows(
  metadata_path: pathlib.Path, pipeline_name: str, since_ms: float
) -> Dict[str, tuple]:
  """Component id -> (start ms, end ms, 'ran' | 'cached' | ...) of the
  executions a run started at `since_ms` recorded (execution created → last
  updated, ms since the epoch)."""
  store = metadata_store.MetadataStore(connection_config(str(metadata_path)))
  prefix = f'{pipeline_name}.'
  windows = {}
  for context in store.get_contexts_by_type('node'):
    if not context.name.startswith(prefix):
      continue
    for execution in store.get_executions_by_context(context.id):
      if execution.create_time_since_epoch < since_ms:
        continue
      state = STATE_NAMES.get(execution.last_known_state, 'unfinished')
      windows[context.name[len(prefix) :]] = (
        execution.create_time_since_epoch,
        execution.last_update_time_since_epoch,
        state,
      )
  return windows


def component_times(pipeline: Pipeline, since_ms: float) -> Dict[str, tuple]:
  """Component id -> (seconds, 'ran' | 'cached' | ...) of the executions a
  run started at `since_ms` recorded."""
  windows = component_windows(
    pipeline.metadata_path, pipeline.pipeline_name, since_ms
  )
  return {
    component: ((end - start) / 1000, state)
    for component, (start, end, state) in windows.items()
  }


def _feature_key(example: tf.train.Example) -> tuple:
  """The trip's raw values, whatever types each ExampleGen gave them."""
  key = []
  for name, feature in sorted(example.features.feature.items()):
    if name == features.TRIP_ID:
      continue
    kind = feature.WhichOneof('kind')
    values = getattr(feature, kind).value if kind else []
    if kind == 'bytes_list':
      values = [v.decode() for v in values]
    elif values:
      values = [round(float(v), 4) for v in values]
    if values:
      key.append((name, tuple(values)))
  return tuple(key)


def _examples(pipeline: Pipeline) -> Dict[tuple, bytes]:
  files = glob.glob(str(pipeline.pipeline_root / pipeline.held_out_glob))
  examples = {}
  for record in tf.data.TFRecordDataset(files, compression_type='GZIP'):
    serialized = record.numpy()
    examples[_feature_key(tf.train.Example.FromString(serialized))] = serialized
  return examples


def _label(key: tuple) -> int:
  values = dict(key)
  fare = values.get('fare', (0.0,))[0]
  tips = values.get('tips', (0.0,))[0]
  return int(features.is_big_tipper(tips, fare))


def _probabilities(pipeline: Pipeline, serialized: List[bytes]) -> np.ndarray:
  (model_dir,) = glob.glob(str(pipeline.pipeline_root / pipeline.model_glob))
  signature = tf.saved_model.load(model_dir).signatures[pipeline.signature]
  outputs = signature(examples=tf.constant(serialized))[pipeline.output]
  return outputs.numpy().reshape(-1)


def quality_on_shared_rows(pipelines: List[Pipeline]) -> dict:
  held_out = [_examples(p) for p in pipelines]
  shared = sorted(set.intersection(*(set(e) for e in held_out)))
  labels = np.array([_label(key) for key in shared])
  scores = {}
  for pipeline, examples in zip(pipelines, held_out):
    probabilities = _probabilities(pipeline, [examples[k] for k in shared])
    scores[pipeline.name] = {
      'auc': metrics.roc_auc_score(labels, probabilities),
      'log_loss': metrics.log_loss(
        labels, np.clip(probabilities, 1e-7, 1 - 1e-7)
      ),
    }
  return {'rows': len(shared), 'positives': int(labels.sum()), **scores}


def _print_runs(results: Dict[str, Dict[str, dict]]) -> None:
  print(
    f'\n{"pipeline":<18} {"run":<6} {"wall s":>8} {"peak MB":>9} {"exit":>5}'
  )
  for name, runs in results.items():
    for run_name, r in runs.items():
      print(
        f'{name:<18} {run_name:<6} {r["seconds"]:>8.1f} '
        f'{r["peak_mb"]:>9.0f} {r["returncode"]:>5}'
      )


def _print_components(name: str, runs: Dict[str, dict]) -> None:
  print(f'\n{name}: seconds per component ({", ".join(RUNS)})')
  cold = runs['cold']
  for component in sorted(cold, key=lambda c: -cold[c][0]):
    cells = []
    for run_name in RUNS:
      seconds, state = runs[run_name].get(component, (math.nan, '-'))
      cells.append(f'{seconds:>7.1f} {state:<8}')
    print(f'  {component:<28} ' + '  '.join(cells))
  for run_name in RUNS[1:]:
    ran = [c for c, (_, state) in runs[run_name].items() if state == 'ran']
    print(f'  {run_name} executed: {", ".join(sorted(ran)) or "nothing"}')


def warm_shared_libraries() -> None:
  """Both pipelines import the same TensorFlow, TFX, TFMA and Beam. The
  first process to do so after the machine has been idle reads them from
  disk (TFX's imports, measured: 6.7 s from the page cache, 11.8 s after
  dropping it), so whichever pipeline ran first would pay for both."""
  subprocess.run(
    [
      sys.executable,
      '-c',
      'import tfx.v1, tensorflow_model_analysis, tensorflow_transform.beam',
    ],
    check=True,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
  )


def main():
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument('--skip-upstream', action='store_true')
  parser.add_argument(
    '--train-steps',
    type=int,
    default=1000,
    help='training steps of both pipelines (default: the upstream 1000)',
  )
  args = parser.parse_args()
  print('warming the shared libraries (untimed) ...', flush=True)
  warm_shared_libraries()
  with tempfile.TemporaryDirectory() as tmp:
    pipelines = [ours(pathlib.Path(tmp) / 'ours', args.train_steps)]
    if not args.skip_upstream:
      pipelines.append(
        upstream(pathlib.Path(tmp) / 'upstream', args.train_steps)
      )
    results, breakdown = {}, {}
    for pipeline in pipelines:
      results[pipeline.name] = {}
      for run_name in RUNS:
        print(f'{pipeline.name}: {run_name} run ...', flush=True)
        run = pipeline.run(run_name)
        results[pipeline.name][run_name] = run
        breakdown[pipeline.name, run_name] = component_times(
          pipeline, run['started_ms']
        )
    _print_runs(results)
    for pipeline in pipelines:
      _print_components(
        pipeline.name,
        {run_name: breakdown[pipeline.name, run_name] for run_name in RUNS},
      )
    if len(pipelines) > 1:
      mine, base = (results[p.name] for p in pipelines)
      for run_name in RUNS:
        print(
          f'\nratio {run_name} (this project / upstream): wall '
          f'{mine[run_name]["seconds"] / base[run_name]["seconds"]:.2f}, '
          f'peak memory '
          f'{mine[run_name]["peak_mb"] / base[run_name]["peak_mb"]:.2f}'
        )
      quality = quality_on_shared_rows(pipelines)
      print(
        f'\nmodel quality on the {quality["rows"]} trips both held out '
        f'({quality["positives"]} big tippers):'
      )
      for pipeline in pipelines:
        q = quality[pipeline.name]
        print(
          f'  {pipeline.name:<18} AUC {q["auc"]:.4f}  '
          f'log loss {q["log_loss"]:.4f}'
        )


if __name__ == '__main__':
  main()
