"""Checks serving data for skew and drift against the data that trained the
served model, with a TFX pipeline recorded in the training's ML Metadata.

    python monitoring_runner.py [--serving-data PATH] [--report PATH]
        [--model-version N] [--previous-data PATH] [--work-dir DIR]
        [--serving-model-dir DIR] [--model-name NAME] [--labels PATH]

--serving-data: the server's request-log directory (default, as the server's:
work/request_logs/<model name>), a CSV or JSON-lines file of raw feature rows,
or a directory of span subdirectories (the newest is checked, drift is
measured against the one before). The baseline is the training run of the
pushed model version (--model-version, default the latest push), found in
<work-dir>/metadata.sqlite. --labels adds live model quality and concept
drift from feedback labels joined on trip_id. See docs/monitoring.md.

Each check also writes <work-dir>/reports/monitor-<time>.html. Exit status:
0 nothing found, 1 skew or drift found, 2 bad usage, unreadable input or a
failed run.
"""

import argparse
import json
import os
import sys
import time
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
warnings.filterwarnings('ignore', category=FutureWarning, module='google')

# pylint: disable=wrong-import-position
from ml_metadata import metadata_store
from tfx.v1.orchestration import LocalDagRunner

from components import feedback_labels, serving_rows, skew_detection
from core import (
  heap,
  lineage,
  metadata_uri,
  model_versions,
  names,
  runner_flags,
)
from core.progress import console_progress
from monitoring import spans
from monitoring.config import MonitoringPipelineConfig
from monitoring.pipeline import create_monitoring_pipeline
from pipeline.config import QualityGate
from reports.monitoring_report import write_monitoring_report
from reports.run_report import report_path
from serving import request_log

EXIT_CLEAN, EXIT_FOUND, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
  """Bad arguments or input: exit status 2 with this message."""


def parse_args(argv):
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument(
    '--model-name',
    default=names.TRAINING_PIPELINE,
    help='model and training pipeline name (default: taxi)',
  )
  parser.add_argument(
    '--serving-data',
    help='request-log directory, CSV / JSON-lines file or '
    'directory of spans (default: '
    'work/request_logs/<model name>)',
  )
  parser.add_argument(
    '--previous-data', help='previous span for drift (file or directory)'
  )
  parser.add_argument(
    '--model-version',
    help='pushed model version to compare with (default: the latest pushed)',
  )
  runner_flags.add_store_flags(parser)
  parser.add_argument(
    '--serving-model-dir',
    help='only consider versions pushed to this directory',
  )
  parser.add_argument(
    '--report',
    help='JSON report path (default: <work-dir>/monitoring/report-<time>.json)',
  )
  parser.add_argument(
    '--feature-skew-threshold',
    type=float,
    default=MonitoringPipelineConfig.feature_skew_threshold,
    help='fraction of id-joined examples whose value may '
    'differ (default: %(default)s)',
  )
  parser.add_argument(
    '--labels',
    help='feedback labels joined on trip_id: a CSV / JSON-lines file or a '
    'directory of them, with trip_id, tips and fare (or big_tipper); adds '
    'live model quality and concept drift',
  )
  parser.add_argument(
    '--min-auc',
    type=float,
    default=QualityGate.min_auc,
    help='live AUC below this is a model_quality finding (default: the '
    "training pipeline's gate, %(default)s)",
  )
  parser.add_argument(
    '--min-f1',
    type=float,
    default=QualityGate.min_f1,
    help='live F1 below this is a model_quality finding (default: %(default)s)',
  )
  runner_flags.add_beam_flags(parser, default_workers=1)
  args = parser.parse_args(argv)
  runner_flags.check_beam_flags(parser, args)
  if args.serving_data is None:
    args.serving_data = os.path.join(
      args.work_dir, 'request_logs', args.model_name
    )
  if args.model_version is not None and not model_versions.is_version(
    args.model_version
  ):
    parser.error(
      f'--model-version must be a number, not {args.model_version!r}'
    )
  if not 0 <= args.feature_skew_threshold < 1:
    parser.error('--feature-skew-threshold must be in [0, 1)')
  return args


def _find_baseline(args, store_uri: str):
  config = metadata_uri.connection_config(store_uri)
  if config.HasField('sqlite') and not os.path.isfile(
    config.sqlite.filename_uri
  ):
    raise UsageError(
      f'No ML Metadata store at {store_uri}: run the '
      'training pipeline (local_runner.py) first or pass '
      '--work-dir / --metadata-uri'
    )
  store = metadata_store.MetadataStore(config)
  try:
    return lineage.training_lineage(
      store,
      args.model_name,
      args.model_version,
      destination_dir=(
        os.path.abspath(args.serving_model_dir)
        if args.serving_model_dir
        else None
      ),
    )
  except lineage.LineageNotFound as e:
    raise UsageError(str(e)) from None


def build_config(args, beam_args=None) -> MonitoringPipelineConfig:
  work_dir = os.path.abspath(args.work_dir)
  store_uri = runner_flags.store_uri(args)
  baseline = _find_baseline(args, store_uri)
  version = (
    int(baseline.model_version)
    if model_versions.is_version(baseline.model_version)
    else None
  )
  try:
    data = spans.resolve(args.serving_data, args.previous_data, version)
    for path in spans.files(data):
      serving_rows.check_readable(path, version)
  except serving_rows.UnreadableInput as e:
    raise UsageError(f'Unreadable serving data: {e}') from None
  if args.labels:
    try:  # Read once here so a bad file is one line, not a failed run.
      feedback_labels.read_labels(args.labels)
    except serving_rows.UnreadableInput as e:
      raise UsageError(f'Unreadable labels: {e}') from None
  report = args.report or os.path.join(
    work_dir, 'monitoring', time.strftime('report-%Y%m%d-%H%M%S.json')
  )
  return MonitoringPipelineConfig(
    serving_data=data,
    baseline=baseline,
    pipeline_name=f'{args.model_name}_monitoring',
    pipeline_root=os.path.join(
      work_dir, 'pipelines', f'{args.model_name}_monitoring'
    ),
    metadata_uri=store_uri,
    report_path=os.path.abspath(report),
    feature_skew_threshold=args.feature_skew_threshold,
    labels_path=os.path.abspath(args.labels) if args.labels else None,
    min_auc=args.min_auc,
    min_f1=args.min_f1,
    beam_pipeline_args=(
      runner_flags.beam_args_of(args) if beam_args is None else beam_args
    ),
  )


def main(argv=None) -> int:
  args = parse_args(argv)
  try:
    with runner_flags.beam_runner(args) as beam_args:
      try:
        config = build_config(args, beam_args)
      except UsageError as e:
        print(f'error: {e}', file=sys.stderr)
        return EXIT_ERROR
      return _run(args, config)
  except runner_flags.RunnerUnavailable as e:
    print(f'error: {e}', file=sys.stderr)
    return EXIT_ERROR


def _run(args, config) -> int:
  tfx_pipeline = create_monitoring_pipeline(config)
  log_dir = os.path.join(os.path.abspath(args.work_dir), 'logs')
  os.makedirs(log_dir, exist_ok=True)
  log_path = os.path.join(log_dir, time.strftime('monitor-%Y%m%d-%H%M%S.log'))
  data = config.serving_data
  print(
    f'Checking {os.path.join(data.input_base, data.newest_pattern)} '
    f'against model version {config.baseline.model_version}\n'
    f'  full log {log_path}',
    flush=True,
  )
  started = time.time()
  try:
    with console_progress(log_path) as progress:
      progress.track([component.id for component in tfx_pipeline.components])
      LocalDagRunner().run(tfx_pipeline)
  except Exception as e:  # pylint: disable=broad-except
    unreadable = isinstance(
      e, serving_rows.UnreadableInput
    ) or 'UnreadableInput' in (str(type(e)) + str(e))
    print(
      f'\nFAILED: {"unreadable serving data: " if unreadable else ""}{e}'
      f'\nFull log: {log_path}',
      file=sys.stderr,
    )
    return EXIT_ERROR
  with open(config.report_path) as f:
    report = json.load(f)
  if not report.get('serving_examples'):
    print(
      f'error: no serving rows in {args.serving_data} (request-log '
      f'records are only those served by model version '
      f'{config.baseline.model_version}; see --model-version)',
      file=sys.stderr,
    )
    return EXIT_ERROR
  findings = skew_detection.read_findings(report)
  print(skew_detection.format_table(findings))
  for note in report.get('not_compared', []):
    print(f'  {note["description"]}')
  labels = report.get('labels')
  if labels:
    print(
      '  labels: '
      + ', '.join(f'{k.replace("_", " ")} {v}' for k, v in labels.items())
    )
  print(f'  {report["verdict"]}')
  print(
    f'  {report["serving_examples"]} serving examples; report '
    f'{config.report_path}; wall time {time.time() - started:.1f} s'
  )
  name = os.path.splitext(os.path.basename(log_path))[0]
  try:
    print(
      '  HTML report: '
      + write_monitoring_report(
        tfx_pipeline.metadata_connection_config,
        config.pipeline_name,
        config.report_path,
        args.serving_data if request_log.log_files(args.serving_data) else None,
        report_path(os.path.abspath(args.work_dir), name),
      )
    )
  except Exception as e:  # pylint: disable=broad-except
    # The check's outcome stands; a report it cannot write is one line.
    print(f'  HTML report not written: {e}', file=sys.stderr)
  return EXIT_FOUND if findings else EXIT_CLEAN


if __name__ == '__main__':
  sys.exit(heap.run_settled(main))
