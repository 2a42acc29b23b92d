"""ExampleGen over serving data: CSV, JSON-lines and request-log files
become tf.Examples typed by the schema (the row logic is in serving_rows.py).
"""

from typing import Any, Dict, Optional, Sequence

import apache_beam as beam
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx import v1 as tfx
from tfx.components import FileBasedExampleGen
from tfx.components.example_gen import base_example_gen_executor
from tfx.dsl.components.base import executor_spec
from tfx.utils import io_utils

from components import custom_config, serving_rows

# Keys of the component's custom config.
SCHEMA_PATH = 'schema_path'
MODEL_VERSION = 'model_version'


@beam.ptransform_fn
def ReadServingExamples(
  pipeline: beam.Pipeline,
  paths: Sequence[str],
  kinds: Dict[str, str],
  model_version: Optional[int] = None,
):
  """tf.Examples of the rows of CSV and JSON-lines files.

  One ReadAllFromText per format rather than a read per file: Beam's
  in-memory runner holds the whole output of a Flatten of several reads,
  so memory would grow with the data.
  """
  csv_paths = [p for p in paths if serving_rows.file_format(p) == 'csv']
  json_paths = [p for p in paths if serving_rows.file_format(p) == 'json']
  examples = []
  if json_paths:
    examples.append(
      pipeline
      | 'JsonFiles' >> beam.Create(json_paths)
      | 'ReadJson' >> beam.io.ReadAllFromText()
      # Blank lines and other model versions' records give no row.
      | 'ParseJson'
      >> beam.FlatMap(
        lambda line: filter(
          None, [serving_rows.parse_json_line(line, model_version)]
        )
      )
      | 'JsonToExample' >> beam.Map(serving_rows.to_example, kinds, False)
    )
  if csv_paths:
    headers = {path: serving_rows.csv_header(path) for path in csv_paths}
    examples.append(
      pipeline
      | 'CsvFiles' >> beam.Create(csv_paths)
      | 'ReadCsv'
      >> beam.io.ReadAllFromText(skip_header_lines=1, with_filename=True)
      | 'SkipBlank' >> beam.Filter(lambda item: item[1].strip())
      | 'ParseCsv'
      >> beam.Map(
        lambda item: serving_rows.parse_csv_line(item[1], headers[item[0]])
      )
      | 'CsvToExample' >> beam.Map(serving_rows.to_example, kinds, True)
    )
  return (
    examples[0]
    if len(examples) == 1
    else examples | 'Flatten' >> beam.Flatten()
  )


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _ServingRowsToExample(
  pipeline: beam.Pipeline, exec_properties: Dict[str, Any], split_pattern: str
) -> beam.pvalue.PCollection:
  config = custom_config.unpack(exec_properties)
  kinds = serving_rows.feature_kinds(
    io_utils.parse_pbtxt_file(config[SCHEMA_PATH], schema_pb2.Schema())
  )
  version = config.get(MODEL_VERSION)
  version = int(version) if version not in (None, '') else None
  paths = serving_rows.data_files(exec_properties['input_base'], split_pattern)
  if not paths:
    raise serving_rows.UnreadableInput(
      f'No serving data matches {split_pattern!r} under '
      f'{exec_properties["input_base"]}'
    )
  return pipeline | 'ReadServingExamples' >> ReadServingExamples(
    paths, kinds, version
  )


class ServingExampleGenExecutor(
  base_example_gen_executor.BaseExampleGenExecutor
):
  """One output split per input split, typed by the schema."""

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    return _ServingRowsToExample


def serving_example_gen(
  input_base: str,
  splits: Dict[str, str],
  schema_path: str,
  model_version: Optional[int] = None,
) -> FileBasedExampleGen:
  """`splits` maps split names to file patterns relative to `input_base`."""
  return FileBasedExampleGen(
    input_base=input_base,
    input_config=tfx.proto.Input(
      splits=[
        tfx.proto.Input.Split(name=name, pattern=pattern)
        for name, pattern in splits.items()
      ]
    ),
    # Empty: one output split per input split, no hash partitioning.
    output_config=tfx.proto.Output(),
    custom_config=custom_config.pack(
      {
        SCHEMA_PATH: schema_path,
        MODEL_VERSION: '' if model_version is None else str(model_version),
      }
    ),
    custom_executor_spec=executor_spec.BeamExecutorSpec(
      ServingExampleGenExecutor
    ),
  )
