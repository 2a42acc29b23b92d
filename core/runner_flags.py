"""Flags every runner shares, each with one meaning: where ML Metadata and
the work directory are, and how the Beam-based components run."""

import argparse
import os
from typing import Sequence, Tuple

from core import metadata_uri

METADATA_FILE = 'metadata.sqlite'
# --beam-runner accepts the short name or Beam's class name.
BEAM_RUNNERS = {
  'direct': 'DirectRunner',
  'dataflow': 'DataflowRunner',
  'flink': 'FlinkRunner',
  'spark': 'SparkRunner',
}
# Options a distributed runner cannot start without.
REQUIRED_BEAM_OPTIONS = {
  'DataflowRunner': ('--project', '--region', '--temp_location'),
  'FlinkRunner': ('--flink_master',),
  'SparkRunner': ('--spark_master_url',),
}


def add_store_flags(parser: argparse.ArgumentParser, default_work_dir: str):
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


def check_beam_flags(parser: argparse.ArgumentParser, args) -> None:
  """Exits with a usage error when a runner lacks an option it needs."""
  missing = [
    option
    for option in REQUIRED_BEAM_OPTIONS.get(args.beam_runner, ())
    if not any(arg.startswith(option + '=') for arg in args.beam_arg)
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
  runner: str, workers: int, extra: Sequence[str] = ()
) -> Tuple[str, ...]:
  """The data components' Beam options."""
  if runner != 'DirectRunner':
    return (f'--runner={runner}', *extra)
  return ('--runner=DirectRunner', *direct_runner_args(workers), *extra)


def beam_args_of(args: argparse.Namespace) -> Tuple[str, ...]:
  return beam_pipeline_args(args.beam_runner, args.beam_workers, args.beam_arg)
