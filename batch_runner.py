"""Scores CSV files with a pushed model version, as a Beam job.

    python batch_runner.py --data PATH --output DIR [--model-version N]
        [--serving-model-dir DIR] [--work-dir DIR] [--metadata-uri URI]
        [--id-column trip_id] [--beam-runner direct|flink|portable]
        [--flink-master HOST:PORT] [--beam-parallelism N] [--beam-arg ARG]

PATH is a CSV file or a directory of them (the training data's columns; the
label columns may be absent). Under DIR: predictions-*.csv (id, probability,
decision at the threshold exported with the model) and prediction_logs-*.gz
(PredictionLog TFRecords, as TFX's BulkInferrer writes them). The run is
recorded in ML Metadata (<work-dir>/metadata.sqlite by default): a
BatchScoring execution whose input is the version's PushedModel artifact and
whose output is an InferenceResult artifact at DIR. The probabilities are
those the REST endpoint returns for the same rows. Exit status: 0 done, 1
the job failed, 2 bad usage (no such version, no data, version not recorded
in ML Metadata).
"""

import argparse
import os
import sys
import time
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
warnings.filterwarnings('ignore', category=FutureWarning, module='google')

# pylint: disable=wrong-import-position
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.utils import io_utils

import schema
from components import batch_scoring, serving_rows
from core import (
  heap,
  lineage,
  metadata_uri,
  model_versions,
  names,
  runner_flags,
)
from models import features, signatures

EXECUTION_TYPE = 'BatchScoring'
RESULT_TYPE = 'InferenceResult'  # TFX's standard type for inference output.
CONTEXT_TYPE = 'batch_scoring'


class UsageError(Exception):
  """Exit status 2 with this message."""


def parse_args(argv):
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument('--data', required=True, help='CSV file or directory')
  parser.add_argument('--output', required=True, help='output directory')
  parser.add_argument(
    '--model-version', help='pushed version to score with (default: latest)'
  )
  parser.add_argument(
    '--model-name',
    default=names.TRAINING_PIPELINE,
    help='model and training pipeline name (default: taxi)',
  )
  parser.add_argument(
    '--serving-model-dir',
    help='where the versions were pushed (default: serving_model/<model name>)',
  )
  parser.add_argument(
    '--id-column',
    default=features.TRIP_ID,
    help=f'column identifying each row (default: {features.TRIP_ID})',
  )
  runner_flags.add_store_flags(parser)
  runner_flags.add_beam_flags(parser, default_workers=1)
  args = parser.parse_args(argv)
  runner_flags.check_beam_flags(parser, args)
  if args.model_version is not None and not model_versions.is_version(
    args.model_version
  ):
    parser.error(
      f'--model-version must be a number, not {args.model_version!r}'
    )
  return args


def resolve_model(args) -> tuple:
  """(version, version directory)."""
  base = runner_flags.serving_model_dir(args)
  found = model_versions.version_dirs(base)
  if args.model_version is not None:
    found = [(v, d) for v, d in found if v == int(args.model_version)]
  if not found:
    what = f'version {args.model_version}' if args.model_version else 'version'
    raise UsageError(f'no pushed model {what} under {base}')
  version, directory = found[-1]
  return version, os.path.join(base, directory)


def pushed_model_artifact(store, args, version: int):
  base = runner_flags.serving_model_dir(args)
  for pushed_version, artifact, _ in reversed(
    lineage.pushed_models(store, args.model_name)
  ):
    destination = artifact.custom_properties.get(names.PUSHED_DESTINATION)
    if (
      pushed_version.isdecimal()
      and int(pushed_version) == version
      and destination is not None
      and os.path.dirname(destination.string_value.rstrip('/')) == base
    ):
      return artifact
  raise UsageError(
    f'model version {version} under {base} is not recorded as pushed by '
    f'pipeline {args.model_name!r} in {runner_flags.store_uri(args)}'
  )


def _type_id(put, message):
  return put(message, can_add_fields=True)


def record(store, pushed_model, args, version: int, rows: int, beam_args):
  """The BatchScoring execution: PushedModel in, InferenceResult out."""
  execution_type = _type_id(
    store.put_execution_type,
    metadata_store_pb2.ExecutionType(
      name=EXECUTION_TYPE,
      properties={
        'model_version': metadata_store_pb2.INT,
        'data': metadata_store_pb2.STRING,
        'rows': metadata_store_pb2.INT,
        'beam_runner': metadata_store_pb2.STRING,
      },
    ),
  )
  result_type = _type_id(
    store.put_artifact_type,
    metadata_store_pb2.ArtifactType(
      name=RESULT_TYPE, properties={'model_version': metadata_store_pb2.INT}
    ),
  )
  context_type = _type_id(
    store.put_context_type,
    metadata_store_pb2.ContextType(name=CONTEXT_TYPE),
  )
  context_name = f'{args.model_name}.{CONTEXT_TYPE}'
  context = store.get_context_by_type_and_name(CONTEXT_TYPE, context_name)
  if context is None:
    context = metadata_store_pb2.Context(
      type_id=context_type, name=context_name
    )
  execution = metadata_store_pb2.Execution(
    type_id=execution_type,
    last_known_state=metadata_store_pb2.Execution.COMPLETE,
  )
  execution.properties['model_version'].int_value = version
  execution.properties['data'].string_value = os.path.abspath(args.data)
  execution.properties['rows'].int_value = rows
  execution.properties['beam_runner'].string_value = args.beam_runner
  execution.custom_properties['beam_args'].string_value = ' '.join(beam_args)
  result = metadata_store_pb2.Artifact(
    type_id=result_type,
    uri=os.path.abspath(args.output),
    state=metadata_store_pb2.Artifact.LIVE,
  )
  result.properties['model_version'].int_value = version

  def event(kind, key):
    e = metadata_store_pb2.Event(type=kind)
    e.path.steps.add().key = key
    return e

  execution_id, _, _ = store.put_execution(
    execution,
    [
      (pushed_model, event(metadata_store_pb2.Event.INPUT, 'pushed_model')),
      (result, event(metadata_store_pb2.Event.OUTPUT, 'inference_result')),
    ],
    [context],
  )
  return execution_id


def score(args, model_dir: str, beam_args) -> int:
  """Runs the Beam job; returns the number of rows scored."""
  paths = batch_scoring.data_paths(args.data)
  if not paths:
    raise UsageError(f'no CSV files at {args.data}')
  for path in paths:
    serving_rows.check_readable(path, None)
  kinds = serving_rows.feature_kinds(
    io_utils.parse_pbtxt_file(
      os.path.join(schema.SCHEMA_DIR, 'schema.pbtxt'),
      schema_pb2.Schema(),
    )
  )
  with beam.Pipeline(options=PipelineOptions(list(beam_args))) as pipeline:
    _ = pipeline | 'Score' >> batch_scoring.ScoreCsv(
      paths,
      kinds,
      model_dir,
      args.output,
      args.id_column,
      signature='serving_tf_example',
      outputs=(signatures.PROBABILITY, features.LABEL),
    )
  return len(batch_scoring.read_predictions(args.output))


def main(argv=None) -> int:
  args = parse_args(argv)
  try:
    version, model_dir = resolve_model(args)
    store = metadata_store.MetadataStore(
      metadata_uri.connection_config(runner_flags.store_uri(args))
    )
    pushed_model = pushed_model_artifact(store, args, version)
    started = time.time()
    print(
      f'Scoring {args.data} with model version {version} ({model_dir})\n'
      f'  {runner_flags.describe(args)}',
      flush=True,
    )
    with runner_flags.beam_runner(args) as beam_args:
      rows = score(args, model_dir, beam_args)
  except (UsageError, runner_flags.RunnerUnavailable) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  except Exception as e:  # pylint: disable=broad-except
    print(f'FAILED: {e}', file=sys.stderr)
    return 1
  execution_id = record(store, pushed_model, args, version, rows, beam_args)
  print(
    f'  {rows} rows scored into {os.path.abspath(args.output)} '
    f'(ML Metadata execution {execution_id}); wall time '
    f'{time.time() - started:.1f} s'
  )
  return 0


if __name__ == '__main__':
  sys.exit(heap.run_settled(main))
