"""Flags every runner shares, each with one meaning: where ML Metadata and
the work directory are, and how the Beam-based components run.

Flink (docs/flink.md): `--beam-runner flink --flink-master HOST:PORT` runs
each Beam-based component as a job on that Flink cluster through Beam's
portable FlinkRunner and the job server at --beam-job-endpoint (as
scripts/flink_cluster.sh starts them), with --beam-parallelism. The Python
SDK harness runs in the PROCESS environment: each TaskManager starts SDK
workers with scripts/beam_sdk_boot, so that path and this virtualenv must
exist on every TaskManager's machine (true on the local cluster; on
Kubernetes an image holding the project at the same path), or with
--beam-environment loopback in the submitting process. Without
--flink-master, FlinkRunner takes its options from --beam-arg alone (the
Kubeflow compiler's pods).

`--beam-runner portable` is the same portable-runner protocol without a JVM:
Beam's Python job service runs the job and SDK workers booted by
scripts/beam_sdk_boot, in a worker pool this process starts, run its code in
separate processes; driver-side state, unpicklable functions and
staged-file assumptions fail there as they would on Flink.
"""

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Iterator, Optional, Sequence, Tuple

from core import metadata_uri

METADATA_FILE = 'metadata.sqlite'
PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_WORK_DIR = os.path.join(PROJECT_DIR, 'work')
SETUP_FILE = 'setup.py'
# --beam-runner accepts the short name or Beam's class name.
BEAM_RUNNERS = {
  'direct': 'DirectRunner',
  'dataflow': 'DataflowRunner',
  'flink': 'FlinkRunner',
  'spark': 'SparkRunner',
  'portable': 'PortableRunner',
}
# Options a distributed runner cannot start without.
REQUIRED_BEAM_OPTIONS = {
  'DataflowRunner': ('--project', '--region', '--temp_location'),
  'FlinkRunner': ('--flink_master',),
  'SparkRunner': ('--spark_master_url',),
}


def add_store_flags(
  parser: argparse.ArgumentParser, default_work_dir: str = DEFAULT_WORK_DIR
):
  parser.add_argument(
    '--work-dir',
    default=default_work_dir,
    help='pipeline roots, logs and the default metadata store (default: work)',
  )
  parser.add_argument(
    '--metadata-uri',
    type=metadata_uri.checked,
    help='ML Metadata store: an SQLite path or '
    'mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE '
    f'(default: <work-dir>/{METADATA_FILE})',
  )


def serving_model_dir(args: argparse.Namespace) -> str:
  """--serving-model-dir, or the project's serving_model/<model name>."""
  return os.path.abspath(
    args.serving_model_dir
    or os.path.join(PROJECT_DIR, 'serving_model', args.model_name)
  )


def store_uri(args: argparse.Namespace) -> str:
  """The metadata store the flags name."""
  return args.metadata_uri or os.path.join(
    os.path.abspath(args.work_dir), METADATA_FILE
  )


def _beam_runner(name: str) -> str:
  if name in BEAM_RUNNERS.values():
    return name
  if name.lower() in BEAM_RUNNERS:
    return BEAM_RUNNERS[name.lower()]
  raise argparse.ArgumentTypeError(
    f'unknown Beam runner {name!r}; one of ' + ', '.join(sorted(BEAM_RUNNERS))
  )


def _workers(text: str) -> int:
  value = int(text)
  if value < 0:
    raise argparse.ArgumentTypeError('must be 0 (one per CPU) or more')
  return value


def add_beam_flags(parser: argparse.ArgumentParser, default_workers: int = 1):
  parser.add_argument(
    '--beam-runner',
    type=_beam_runner,
    default='DirectRunner',
    metavar='RUNNER',
    help='Beam runner of the data components: direct, dataflow, flink or '
    'spark (default: direct)',
  )
  parser.add_argument(
    '--beam-workers',
    type=_workers,
    default=default_workers,
    help='DirectRunner processes: 1 runs Beam in the executor process, '
    f'0 one per CPU (default: {default_workers})',
  )
  parser.add_argument(
    '--beam-arg',
    action='append',
    default=[],
    metavar='ARG',
    help='extra Beam pipeline option, repeatable, e.g. '
    '--beam-arg=--project=my-project',
  )
  parser.add_argument(
    '--flink-master',
    metavar='HOST:PORT',
    help="with --beam-runner flink: the Flink cluster's REST address, e.g. "
    'localhost:8081 (scripts/flink_cluster.sh)',
  )
  parser.add_argument(
    '--beam-job-endpoint',
    default=DEFAULT_JOB_ENDPOINT,
    metavar='HOST:PORT',
    help="with --flink-master: Beam's Flink job server "
    f'(default: {DEFAULT_JOB_ENDPOINT})',
  )
  parser.add_argument(
    '--beam-parallelism',
    type=_workers,
    default=0,
    help="with --flink-master: each job's parallelism; 0 the cluster's "
    'default (default: 0)',
  )
  parser.add_argument(
    '--beam-environment',
    choices=ENVIRONMENTS,
    default='process',
    help='flink and portable: where the Python SDK workers run: process '
    '(started by each TaskManager) or loopback (in the submitting process) '
    '(default: process)',
  )


def check_beam_flags(parser: argparse.ArgumentParser, args) -> None:
  """Exits with a usage error when a runner lacks an option it needs."""
  given = set(_option_names(args.beam_arg))
  if getattr(args, 'flink_master', None):
    given.add('--flink_master')
  missing = [
    option
    for option in REQUIRED_BEAM_OPTIONS.get(args.beam_runner, ())
    if option not in given
  ]
  if missing:
    parser.error(
      f'--beam-runner {args.beam_runner} needs '
      + ', '.join(f'--beam-arg={option}=...' for option in missing)
    )


def direct_runner_args(workers: int) -> Tuple[str, ...]:
  """DirectRunner options: in the executor's process for one worker
  (cheapest on small data), else `workers` processes (0: one per CPU)."""
  if workers == 1:
    return ('--direct_running_mode=in_memory', '--direct_num_workers=1')
  return (
    '--direct_running_mode=multi_processing',
    f'--direct_num_workers={workers}',
  )


def beam_pipeline_args(
  runner: str,
  workers: int,
  extra: Sequence[str] = (),
  project_dir: str = PROJECT_DIR,
) -> Tuple[str, ...]:
  """The data components' Beam options. On the DirectRunner they name the
  project's setup.py as the workers' dependency: given no dependency flag,
  TFX builds an sdist of itself for every Beam component (2 s each, 8 s of
  a cold run), and the DirectRunner, whose workers run this interpreter,
  stages neither that nor setup.py. Runners that stage (Dataflow) get no
  such default: their --beam-arg says what their workers install.
  project_dir: where the workers' machine holds this project (the image's
  directory for Kubeflow)."""
  if runner != 'DirectRunner':
    return (f'--runner={runner}', *extra)
  return (
    f'--setup_file={project_dir.rstrip("/")}/{SETUP_FILE}',
    '--runner=DirectRunner',
    *direct_runner_args(workers),
    *extra,
  )


def beam_args_of(
  args: argparse.Namespace,
  worker_pool: Optional[str] = None,
  project_dir: str = PROJECT_DIR,
) -> Tuple[str, ...]:
  """The Beam options of the parsed flags (worker_pool: for `portable`, the
  address worker_pool() yields; project_dir: see beam_pipeline_args)."""
  if args.beam_runner == 'FlinkRunner' and getattr(args, 'flink_master', None):
    return _unless_given(flink_runner_args(args), args.beam_arg)
  if args.beam_runner == 'PortableRunner':
    return _unless_given(portable_runner_args(args, worker_pool), args.beam_arg)
  return beam_pipeline_args(
    args.beam_runner, args.beam_workers, args.beam_arg, project_dir
  )


# --- Portable runners: Flink, and Beam's own portable job service --------------

FLINK_VERSION = '1.18'
DEFAULT_JOB_ENDPOINT = 'localhost:8099'
ENVIRONMENTS = ('process', 'loopback')
BOOT_COMMAND = os.path.join(PROJECT_DIR, 'scripts', 'beam_sdk_boot')


class RunnerUnavailable(Exception):
  """The runner's services cannot be reached: the message says what to do."""


def _option_names(options: Sequence[str]):
  return [option.split('=', 1)[0] for option in options]


def _unless_given(generated: Sequence[str], extra: Sequence[str]):
  """`generated` without the options --beam-arg sets itself, then those."""
  own = set(_option_names(extra))
  return (
    *[o for o in generated if o.split('=', 1)[0] not in own],
    *extra,
  )


def process_environment_config() -> str:
  """The PROCESS environment: scripts/beam_sdk_boot with this Python."""
  return json.dumps(
    {'command': BOOT_COMMAND, 'env': {'BEAM_SDK_PYTHON': sys.executable}}
  )


def _environment_args(environment: str) -> Tuple[str, ...]:
  if environment == 'loopback':
    return ('--environment_type=LOOPBACK',)
  return (
    '--environment_type=PROCESS',
    f'--environment_config={process_environment_config()}',
  )


def flink_runner_args(args) -> Tuple[str, ...]:
  parallelism = (
    (f'--parallelism={args.beam_parallelism}',) if args.beam_parallelism else ()
  )
  return (
    '--runner=FlinkRunner',
    f'--flink_master={args.flink_master}',
    f'--flink_version={FLINK_VERSION}',
    f'--job_endpoint={args.beam_job_endpoint}',
    *parallelism,
    *_environment_args(args.beam_environment),
    # One SDK worker per TaskManager, kept for the whole job rather than
    # started anew (TensorFlow imports and all) for every stage.
    '--sdk_worker_parallelism=1',
    '--environment_cache_millis=600000',
  )


def portable_runner_args(args, worker_pool: Optional[str]) -> Tuple[str, ...]:
  environment = (
    ('--environment_type=EXTERNAL', f'--environment_config={worker_pool}')
    if worker_pool and args.beam_environment == 'process'
    else ('--environment_type=LOOPBACK',)
  )
  return ('--runner=PortableRunner', '--job_endpoint=embed', *environment)


def flink_overview(flink_master: str, timeout: float = 5) -> dict:
  """Flink's /overview (task managers, slots, jobs) from its REST API."""
  url = flink_master if '://' in flink_master else f'http://{flink_master}'
  with urllib.request.urlopen(f'{url}/overview', timeout=timeout) as response:
    return json.load(response)


def _split_address(address: str) -> Tuple[str, int]:
  host, _, port = address.rpartition(':')
  return host or 'localhost', int(port)


def check_reachable(args) -> None:
  """Raises RunnerUnavailable unless the Flink cluster and Beam's job server
  of --flink-master / --beam-job-endpoint answer (nothing to check for the
  other runners)."""
  if args.beam_runner != 'FlinkRunner' or not getattr(
    args, 'flink_master', None
  ):
    return
  hint = 'start them with scripts/flink_cluster.sh start (docs/flink.md)'
  try:
    overview = flink_overview(args.flink_master)
  except (OSError, urllib.error.URLError, ValueError) as e:
    raise RunnerUnavailable(
      f'no Flink REST API at {args.flink_master} ({e}): {hint}'
    ) from None
  if not overview.get('taskmanagers'):
    raise RunnerUnavailable(f'Flink at {args.flink_master} has no TaskManager')
  try:
    with socket.create_connection(
      _split_address(args.beam_job_endpoint), timeout=5
    ):
      pass
  except OSError as e:
    raise RunnerUnavailable(
      f'no Beam job server at {args.beam_job_endpoint} ({e}): {hint}'
    ) from None


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@contextlib.contextmanager
def worker_pool(args) -> Iterator[Optional[str]]:
  """For `portable` with the process environment: a Beam worker pool whose
  SDK workers scripts/beam_sdk_boot starts, for the duration of the block;
  yields its address (None for the other runners)."""
  if args.beam_runner != 'PortableRunner' or args.beam_environment != 'process':
    yield None
    return
  port = _free_port()
  pool = subprocess.Popen(
    [
      sys.executable,
      '-m',
      'apache_beam.runners.worker.worker_pool_main',
      f'--service_port={port}',
      f'--container_executable={BOOT_COMMAND}',
    ],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
    env={**os.environ, 'BEAM_SDK_PYTHON': sys.executable},
  )
  try:
    deadline = time.time() + 60
    while True:
      try:
        with socket.create_connection(('127.0.0.1', port), timeout=1):
          break
      except OSError:
        if pool.poll() is not None or time.time() > deadline:
          raise RunnerUnavailable(
            'the Beam worker pool did not start'
          ) from None
        time.sleep(0.2)
    yield f'localhost:{port}'
  finally:
    pool.terminate()
    try:
      pool.wait(timeout=20)
    except subprocess.TimeoutExpired:
      pool.kill()
      pool.wait()


def describe(args) -> str:
  """One line for the console: where the Beam components run."""
  if args.beam_runner == 'FlinkRunner' and getattr(args, 'flink_master', None):
    return (
      f'Beam on Flink at {args.flink_master} (job server '
      f'{args.beam_job_endpoint}, {args.beam_environment} SDK workers'
      + (
        f', parallelism {args.beam_parallelism}'
        if args.beam_parallelism
        else ''
      )
      + ')'
    )
  if args.beam_runner == 'PortableRunner':
    return f"Beam's portable runner ({args.beam_environment} SDK workers)"
  if args.beam_runner == 'DirectRunner':
    return f'Beam DirectRunner, --beam-workers {args.beam_workers}'
  return f'Beam {args.beam_runner}'


@contextlib.contextmanager
def beam_runner(args) -> Iterator[Tuple[str, ...]]:
  """Checks the runner's services and yields the Beam options, with the
  worker pool `portable` needs alive for the block."""
  check_reachable(args)
  with worker_pool(args) as pool:
    yield beam_args_of(args, pool)
