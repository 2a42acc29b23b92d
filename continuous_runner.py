"""Runs one cycle of continuous training and exits.

    python continuous_runner.py --data-root SPANS [--work-dir DIR]
        [--serving-model-dir DIR] [--window N] [--metadata-uri URI]
        [--alert-webhook URL] [--metrics-textfile PATH]
        [--request-log DIR --labels PATH]
        [--train-steps N] [--min-auc X] [--min-f1 X] [--baseline-tolerance X]

--data-root holds labelled spans: span-1/, span-2/, ... of CSV files with
the training columns (tips included). With no model pushed yet, the cycle
trains on the newest --window spans (default: all) and pushes, as
local_runner.py would. Otherwise it monitors each span not yet checked
(recorded in ML Metadata) against the served version: schema skew,
distribution skew, drift against the span before, live model quality and
concept drift from the span's labels. It retrains on the window when a
finding needs it (a candidate is pushed only through every gate), refuses a
span that breaks the schema, and otherwise does nothing. The decision and
its reason are recorded in ML Metadata, linked to the span checks, the
monitoring reports and the pushed version; the decision and each finding
are posted to --alert-webhook (Alertmanager webhook JSON), the newest
span's scores written as Prometheus gauges (--metrics-textfile, default
<work-dir>/metrics/<model name>_monitoring.prom). See docs/monitoring.md.

Process labeling: with --request-log (the server's request-log directory;
clients send trip_id through the serving_with_id signature) and --labels
(CSV or JSON lines of trip_id, tips, fare and any training column the
server is not sent; a directory of such files), the cycle first joins the
two and writes the newly labelled requests as the next span, span-<N+1>/,
then checks it as any other span. Unmatched requests and labels,
duplicates and conflicting labels are counted in the summary.

Exit status: 0 the cycle completed (retrained or not: the summary says
which), 1 a run failed or the data was refused, 2 bad usage.
"""

import argparse
import os
import sys
import time
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
warnings.filterwarnings('ignore', category=FutureWarning, module='google')

# pylint: disable=wrong-import-position
from tfx.v1.orchestration import LocalDagRunner

from continuous import cycle, spans
from core import heap, names, runner_flags
from core.progress import console_progress
from core.work_dir_lock import WorkDirBusyError, exclusive_run
from pipeline import config as config_lib


def _window(text: str) -> int:
  if not text.isdecimal() or int(text) < 1:
    raise argparse.ArgumentTypeError(f'must be a whole number >= 1: {text!r}')
  return int(text)


def parse_args(argv):
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument(
    '--data-root',
    required=True,
    help='directory of labelled spans (span-1/, span-2/, ... of CSV files)',
  )
  runner_flags.add_store_flags(parser)
  parser.add_argument(
    '--model-name',
    default=names.TRAINING_PIPELINE,
    help='model and pipeline name (default: taxi)',
  )
  parser.add_argument(
    '--serving-model-dir',
    help='push target the server polls (default: serving_model/<model name>)',
  )
  parser.add_argument(
    '--window',
    type=_window,
    help='retrain on the newest N spans (default: all)',
  )
  parser.add_argument(
    '--alert-webhook',
    help='URL that gets the decision and the findings as Alertmanager '
    'webhook JSON',
  )
  parser.add_argument(
    '--metrics-textfile',
    help='Prometheus gauges for node_exporter (default: '
    '<work-dir>/metrics/<model name>_monitoring.prom)',
  )
  parser.add_argument(
    '--request-log',
    help='process labeling: the request-log directory to join with --labels '
    'into the next span',
  )
  parser.add_argument(
    '--labels',
    help='process labeling: feedback labels (CSV / JSON lines of trip_id, '
    'tips, fare, ...; or a directory of them)',
  )
  parser.add_argument('--train-steps', type=int, default=3000)
  config_lib.add_quality_gate_flags(parser)
  runner_flags.add_beam_flags(parser, default_workers=1)
  args = parser.parse_args(argv)
  runner_flags.check_beam_flags(parser, args)
  if not os.path.isdir(args.data_root):
    parser.error(f'--data-root {args.data_root!r} is not a directory')
  if bool(args.request_log) != bool(args.labels):
    parser.error('--request-log and --labels go together (process labeling)')
  if args.train_steps < 1:
    parser.error('--train-steps must be at least 1')
  if args.alert_webhook and not args.alert_webhook.startswith(
    ('http://', 'https://')
  ):
    parser.error(
      f'--alert-webhook must be an http(s) URL: {args.alert_webhook}'
    )
  return args


def build_config(args) -> cycle.CycleConfig:
  work_dir = os.path.abspath(args.work_dir)
  return cycle.CycleConfig(
    data_root=os.path.abspath(args.data_root),
    work_dir=work_dir,
    serving_model_dir=runner_flags.serving_model_dir(args),
    metadata_uri=runner_flags.store_uri(args),
    model_name=args.model_name,
    window=args.window,
    train_steps=args.train_steps,
    quality_gate=config_lib.quality_gate_of(args),
    alert_webhook=args.alert_webhook,
    metrics_textfile=os.path.abspath(
      args.metrics_textfile
      or os.path.join(work_dir, 'metrics', f'{args.model_name}_monitoring.prom')
    ),
    beam_pipeline_args=runner_flags.beam_args_of(args),
    request_log=args.request_log and os.path.abspath(args.request_log),
    labels=args.labels and os.path.abspath(args.labels),
  )


def main(argv=None) -> int:
  args = parse_args(argv)
  config = build_config(args)
  log_dir = os.path.join(config.work_dir, 'logs')
  os.makedirs(log_dir, exist_ok=True)
  log_path = os.path.join(log_dir, time.strftime('cycle-%Y%m%d-%H%M%S.log'))
  print(
    f'Continuous training cycle on {config.data_root}\n'
    f'  work dir {config.work_dir}, full log {log_path}',
    flush=True,
  )
  started = time.time()
  try:
    with exclusive_run(config.work_dir), console_progress(log_path) as progress:

      def run(tfx_pipeline):
        progress.track([c.id for c in tfx_pipeline.components])
        LocalDagRunner().run(tfx_pipeline)

      outcome = cycle.run_cycle(config, run)
  except spans.SpanError as e:
    print(f'error: {e}', file=sys.stderr)
    return cycle.EXIT_USAGE
  except WorkDirBusyError as e:
    print(f'\nREFUSED: {e}', file=sys.stderr)
    return cycle.EXIT_FAILED
  except Exception as e:  # pylint: disable=broad-except
    print(f'\nFAILED: {e}\nFull log: {log_path}', file=sys.stderr)
    return cycle.EXIT_FAILED
  cycle.notify(config, outcome)
  print(outcome.summary())
  print(f'  wall time: {time.time() - started:.1f} s')
  return outcome.exit_status


if __name__ == '__main__':
  sys.exit(heap.run_settled(main))
