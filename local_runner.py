"""Runs the taxi pipeline on this machine with TFX's LocalDagRunner.

    python local_runner.py [--data-root DIR] [--work-dir DIR]
        [--metadata-uri URI] [--model-name NAME] [--serving-model-dir DIR]
        [--train-steps N] [--beam-runner RUNNER] [--beam-workers N]
        [--beam-arg ARG ...] [--min-auc X] [--min-f1 X]
        [--rule-baseline FEATURE=VALUE] [--baseline-tolerance X]
        [--no-feature-report] [--infra-p99-budget-ms MS] [--no-cache]
        [--always-launch] [--flink-master HOST:PORT] [--beam-parallelism N]

--beam-runner flink --flink-master localhost:8081 runs the Beam-based
components on a Flink cluster (docs/flink.md); --beam-runner portable on
Beam's portable runner with SDK workers in separate processes.

ML Metadata lives in SQLite at <work-dir>/metadata.sqlite (or in MySQL /
MariaDB with --metadata-uri mysql://USER@HOST:PORT/DATABASE), pipeline outputs
under <work-dir>/pipelines/<model name>/, the full log of each run in
<work-dir>/logs/ and its HTML report in <work-dir>/reports/. Exit status: 0
when the run completed (blessed and pushed or not, the summary says which),
1 when it failed (data anomalies included), 2 for bad usage.

A rerun with nothing changed since the last successful run (same flags,
data files, code, schema, packages, served versions, store and outputs;
pipeline/unchanged.py) launches nothing: it prints that run's summary in
about a second instead of importing TFX to find every component cached.
"""

import argparse
import os
import sys
import time
import warnings
from typing import NamedTuple

# Before TensorFlow loads: keep its C++ start-up chatter and the cloud
# clients' Python-version notices off the console (the run log keeps the rest).
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
warnings.filterwarnings('ignore', category=FutureWarning, module='google')

# pylint: disable=wrong-import-position
from core import heap, model_versions, names, runner_flags
from core.work_dir_lock import WorkDirBusyError, exclusive_run
from models import features
from pipeline import config as config_lib
from pipeline import unchanged


def _rule(text: str):
  feature, equals, value = text.partition('=')
  if not equals or feature not in features.STRING_FEATURES or not value:
    raise argparse.ArgumentTypeError(
      f'{text!r} is not FEATURE=VALUE with FEATURE one of '
      + ', '.join(features.STRING_FEATURES)
    )
  return feature, value


def parse_args(argv):
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument(
    '--data-root',
    default=os.path.join(runner_flags.PROJECT_DIR, 'data', 'taxi'),
    help='directory of CSV files (default: data/taxi)',
  )
  runner_flags.add_store_flags(parser)
  parser.add_argument(
    '--model-name',
    default=names.TRAINING_PIPELINE,
    help='model and pipeline name (default: taxi)',
  )
  parser.add_argument(
    '--serving-model-dir',
    help='push target (default: serving_model/<model name>)',
  )
  parser.add_argument(
    '--train-steps',
    type=int,
    default=3000,
    help='training steps (default: 3000)',
  )
  runner_flags.add_beam_flags(parser, default_workers=1)
  config_lib.add_quality_gate_flags(parser)
  parser.add_argument(
    '--rule-baseline',
    type=_rule,
    default=config_lib.PipelineConfig.rule_baseline,
    metavar='FEATURE=VALUE',
    help='the rule baseline: a big tip exactly when the raw string feature '
    'FEATURE is VALUE (default: "payment_type=Credit Card")',
  )
  parser.add_argument(
    '--infra-p99-budget-ms',
    type=float,
    default=config_lib.PipelineConfig.infra_p99_budget_ms,
    help='infra_validator: the p99 latency budget of a request to the served '
    'candidate, in ms (default: %(default)s)',
  )
  parser.add_argument(
    '--no-feature-report',
    action='store_true',
    help='skip the feature report (mutual information, permutation '
    'importance, drop-one ablation) in model_analysis',
  )
  parser.add_argument(
    '--no-cache', action='store_true', help='rerun every component'
  )
  parser.add_argument(
    '--always-launch',
    action='store_true',
    help='launch TFX even when nothing changed since the last successful '
    'run (every component is then a cache hit); without it such a rerun '
    "prints that run's summary without importing TFX",
  )
  args = parser.parse_args(argv)
  if not os.path.isdir(args.data_root):
    parser.error(f'--data-root {args.data_root!r} is not a directory')
  if args.train_steps < 1:
    parser.error('--train-steps must be at least 1')
  runner_flags.check_beam_flags(parser, args)
  return args


def build_config(args, beam_args=None) -> config_lib.PipelineConfig:
  work_dir = os.path.abspath(args.work_dir)
  serving_model_dir = runner_flags.serving_model_dir(args)
  return config_lib.PipelineConfig(
    pipeline_name=args.model_name,
    data_root=os.path.abspath(args.data_root),
    pipeline_root=os.path.join(work_dir, 'pipelines', args.model_name),
    metadata_uri=runner_flags.store_uri(args),
    serving_model_dir=serving_model_dir,
    served_version=model_versions.newest_version_name(serving_model_dir),
    train_steps=args.train_steps,
    quality_gate=config_lib.quality_gate_of(args),
    rule_baseline=args.rule_baseline,
    feature_report=not args.no_feature_report,
    infra_p99_budget_ms=args.infra_p99_budget_ms,
    beam_pipeline_args=(
      runner_flags.beam_args_of(args) if beam_args is None else beam_args
    ),
    enable_cache=not args.no_cache,
  )


def main(argv=None) -> int:
  args = parse_args(argv)
  try:
    with runner_flags.beam_runner(args) as beam_args:
      return _run(args, build_config(args, beam_args))
  except runner_flags.RunnerUnavailable as e:
    print(f'REFUSED: {e}', file=sys.stderr)
    return 1


def _run(args, config) -> int:
  work_dir = os.path.abspath(args.work_dir)
  print(
    f'Running pipeline {config.pipeline_name!r} on {config.data_root}\n'
    f'  work dir {work_dir}\n'
    f'  {runner_flags.describe(args)}',
    flush=True,
  )
  try:
    with exclusive_run(work_dir):
      return _reuse_or_launch(args, config, work_dir)
  except WorkDirBusyError as e:
    print(f'\nREFUSED: {e}', file=sys.stderr)
    return 1


def _reuse_or_launch(args, config, work_dir: str) -> int:
  """Prints the last successful run's summary when nothing changed since
  it (pipeline/unchanged.py), else launches TFX and records a success."""
  record_file = unchanged.record_path(work_dir, config.pipeline_name)
  key = None
  if unchanged.fast_path_possible(config):
    key = unchanged.inputs_key(config, runner_flags.PROJECT_DIR)
    record = unchanged.read_record(record_file)
    changed = unchanged.changed_parts(
      record, {**key, **unchanged.state_key(config)}
    )
    if record is not None and not changed and not args.always_launch:
      print(
        f'  unchanged since the run that finished {record.finished} (full '
        f'log {record.log}): same {", ".join(record.key)}, so every '
        'component would be reused from cache and nothing was launched '
        '(--always-launch launches TFX anyway, --no-cache reruns every '
        f'component)\n{record.summary}\n  report: '
        + (record.report or 'not written')
      )
      return 0
    if record is not None:
      print(
        f'  changed since the run that finished {record.finished}: '
        + (', '.join(changed) or 'nothing (--always-launch)'),
        flush=True,
      )
  unchanged.forget(record_file)
  outcome = _launch(config, work_dir)
  if outcome.returncode == 0 and key is not None:
    unchanged.write_record(
      record_file,
      unchanged.Record(
        key={**key, **unchanged.state_key(config)},
        summary=outcome.summary,
        report=outcome.report,
        log=outcome.log,
        finished=unchanged.finished_now(),
      ),
    )
  return outcome.returncode


class _Outcome(NamedTuple):
  returncode: int
  summary: str
  report: str
  log: str


def _launch(config, work_dir: str) -> _Outcome:
  # Imported here, not at the top: TFX, TFMA and TFDV take ~10 s to
  # import, which an unchanged rerun does not pay.
  # pylint: disable=import-outside-toplevel
  from tfx.v1.orchestration import LocalDagRunner

  from core.progress import console_progress
  from pipeline.pipeline import create_pipeline
  from pipeline.report import format_summary
  from pipeline.summary import summarize
  from reports.run_report import report_path, write_run_report

  heap.settle_imports()
  log_dir = os.path.join(work_dir, 'logs')
  os.makedirs(log_dir, exist_ok=True)
  log_path = os.path.join(log_dir, time.strftime('run-%Y%m%d-%H%M%S.log'))
  print(f'  full log {log_path}', flush=True)
  started = time.time()
  error = None
  tfx_pipeline = None
  try:
    with console_progress(log_path) as progress:
      tfx_pipeline = create_pipeline(config)
      progress.track([component.id for component in tfx_pipeline.components])
      LocalDagRunner().run(tfx_pipeline)
  except Exception as e:  # A component failed: summarise, exit non-zero.
    error = e
  if tfx_pipeline is None:  # The pipeline could not even be built.
    print(f'\nFAILED: {error}\nFull log: {log_path}', file=sys.stderr)
    return _Outcome(1, '', '', log_path)
  summary = format_summary(
    summarize(
      tfx_pipeline.metadata_connection_config,
      config.pipeline_name,
      [component.id for component in tfx_pipeline.components],
      started,
    )
  )
  print(summary)
  print(f'  wall time: {time.time() - started:.1f} s')
  run_name = os.path.splitext(os.path.basename(log_path))[0]
  report_started = time.time()
  path = ''
  try:
    path = write_run_report(
      tfx_pipeline.metadata_connection_config,
      config.pipeline_name,
      [component.id for component in tfx_pipeline.components],
      started,
      report_path(work_dir, run_name),
    )
    print(f'  report: {path} ({time.time() - report_started:.1f} s)')
  except Exception as e:  # pylint: disable=broad-except
    # The run's outcome stands; a report it cannot write is one line.
    print(f'  report not written: {e}', file=sys.stderr)
  if error is not None:
    print(f'\nFAILED: {error}\nFull log: {log_path}', file=sys.stderr)
    return _Outcome(1, summary, path, log_path)
  return _Outcome(0, summary, path, log_path)


if __name__ == '__main__':
  returncode = main()
  heap.skip_final_collection()
  sys.exit(returncode)
