"""Lineage a person can query, from the runners' ML Metadata store.

    python -m lineage model [VERSION] [--work-dir DIR | --metadata-uri URI] [--json]
    python -m lineage data PATH [--work-dir DIR | --metadata-uri URI] [--json]
    python -m lineage request REQUEST_ID [--request-log DIR] [--json]

Exit status: 0 answered, 1 nothing found, 2 bad usage or no store.
"""

import argparse
import json
import os
import sys
import warnings

# Before TensorFlow loads: keep its start-up chatter and the cloud clients'
# Python-version notices off the answer.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
warnings.filterwarnings('ignore', category=FutureWarning, module='google')

# pylint: disable=wrong-import-position
import tensorflow as tf
from ml_metadata import errors as mlmd_errors
from ml_metadata import metadata_store

from core import lineage, metadata_uri, names, runner_flags
from lineage import tree
from serving import request_log

EXIT_FOUND, EXIT_NOT_FOUND, EXIT_ERROR = 0, 1, 2


class Refused(Exception):
  """Exit status 2 with this one-line message."""


def parse_args(argv):
  common = argparse.ArgumentParser(add_help=False)
  runner_flags.add_store_flags(common)
  common.add_argument(
    '--model-name',
    default=names.TRAINING_PIPELINE,
    help='training pipeline name (default: taxi)',
  )
  common.add_argument('--json', action='store_true', help='print JSON')
  parser = argparse.ArgumentParser(
    prog='python -m lineage',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  queries = parser.add_subparsers(dest='query', required=True)
  model = queries.add_parser(
    'model', parents=[common], help='a pushed version back to its data'
  )
  model.add_argument(
    'version', nargs='?', help='pushed version (default: the latest)'
  )
  data = queries.add_parser(
    'data', parents=[common], help='the versions trained on data under PATH'
  )
  data.add_argument('path')
  request = queries.add_parser(
    'request',
    parents=[common],
    help='the version that served a request and the monitoring of it',
  )
  request.add_argument('request_id')
  request.add_argument(
    '--request-log',
    help="the server's request-log directory (default: "
    '<work-dir>/request_logs/<model name>)',
  )
  return parser.parse_args(argv)


def open_store(args) -> metadata_store.MetadataStore:
  uri = runner_flags.store_uri(args)
  config = metadata_uri.connection_config(uri)
  if config.HasField('sqlite') and not os.path.isfile(
    config.sqlite.filename_uri
  ):
    raise Refused(
      f'no ML Metadata store at {uri}: run local_runner.py first or pass '
      '--work-dir / --metadata-uri'
    )
  try:
    return metadata_store.MetadataStore(config)
  except (mlmd_errors.StatusError, RuntimeError) as e:
    raise Refused(
      f'cannot open ML Metadata store {metadata_uri.describe(uri)}: '
      f'{str(e).splitlines()[0]}'
    ) from None


def request_records(log_dir: str, request_id: str):
  if not request_log.log_files(log_dir):
    raise Refused(f'no request log (requests-*.jsonl) in {log_dir}')
  return [
    record
    for record in request_log.read_records(log_dir)
    if record.get('request_id') == request_id
  ]


def answer(args):
  """(JSON-ready answer, its tree), or (None, message) when none."""
  store = open_store(args)
  if args.query == 'model':
    chain = lineage.model_lineage(store, args.model_name, args.version)
    return chain, tree.model_tree(chain)
  if args.query == 'data':
    found = lineage.models_trained_on(store, args.model_name, args.path)
    if not found:
      return None, f'no pushed model was trained on data under {args.path}'
    return found, tree.data_tree(args.path, found)
  log_dir = args.request_log or os.path.join(
    args.work_dir, 'request_logs', args.model_name
  )
  records = request_records(log_dir, args.request_id)
  if not records:
    return None, f'no request {args.request_id} in the request log {log_dir}'
  found = lineage.request_lineage(
    store, args.model_name, f'{args.model_name}_monitoring', records
  )
  return found, tree.request_tree(found)


def main(argv=None) -> int:
  args = parse_args(argv)
  tf.get_logger().setLevel('ERROR')  # TFMA's deprecation notices.
  try:
    found, shown = answer(args)
  except Refused as e:
    print(f'error: {e}', file=sys.stderr)
    return EXIT_ERROR
  except lineage.LineageNotFound as e:
    print(f'not found: {e}', file=sys.stderr)
    return EXIT_NOT_FOUND
  if found is None:
    print(f'not found: {shown}', file=sys.stderr)
    return EXIT_NOT_FOUND
  print(json.dumps(found, indent=2) if args.json else tree.render(shown))
  return EXIT_FOUND


if __name__ == '__main__':
  sys.exit(main())
