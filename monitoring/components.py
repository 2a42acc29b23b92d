"""The monitoring pipeline's custom components; their logic lives in rows.py
and detection.py."""

import os
from typing import Any, Dict, List, Optional, Sequence

import apache_beam as beam
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.api import validation_api
from tensorflow_data_validation.skew.protos import feature_skew_results_pb2
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tfx import types
from tfx.components import FileBasedExampleGen
from tfx.components.example_gen import base_example_gen_executor
from tfx.dsl.component.experimental.annotations import (
  InputArtifact,
  OutputArtifact,
  Parameter,
)
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.components.base import (
  base_beam_component,
  base_beam_executor,
  executor_spec,
)
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, component_spec
from tfx.types.standard_artifacts import (
  ExampleAnomalies,
  Examples,
  ExampleStatistics,
  PushedModel,
  Schema,
)
from tfx.utils import io_utils

from components import custom_config
from monitoring import detection, feature_skew, rows
from monitoring.config import PREVIOUS_SPLIT, SERVING_SPLIT

SCHEMA_FILE = 'schema.pbtxt'
STATS_FILE = 'FeatureStats.pb'
ANOMALIES_FILE = 'SchemaDiff.pb'
SKEW_RESULTS_FILE = 'feature_skew_results.tfrecord'
SKEW_PAIRS_FILE = 'feature_skew_pairs.tfrecord'
REPORT_FILE = 'report.json'
# Custom config keys of the serving ExampleGen.
SCHEMA_PATH = 'schema_path'
MODEL_VERSION = 'model_version'


class FeatureSkewResults(types.Artifact):
  """TFDV FeatureSkew protos (TFRecord) of a training/serving join."""

  TYPE_NAME = 'FeatureSkewResults'


class MonitoringReport(types.Artifact):
  """The JSON report of one monitoring run."""

  TYPE_NAME = 'MonitoringReport'


def read_schema(uri: str) -> schema_pb2.Schema:
  return io_utils.parse_pbtxt_file(
    os.path.join(uri, SCHEMA_FILE), schema_pb2.Schema()
  )


def read_statistics(artifact: types.Artifact, split: str):
  return tfdv.load_stats_binary(
    os.path.join(artifact_utils.get_split_uri([artifact], split), STATS_FILE)
  )


# --- Serving rows -> tf.Examples ----------------------------------------------------------------------


@beam.ptransform_fn
def ReadServingExamples(
  pipeline: beam.Pipeline,
  paths: Sequence[str],
  kinds: Dict[str, str],
  model_version: Optional[int] = None,
):
  """tf.Examples of the rows of CSV and JSON-lines files (rows.py).

  One ReadAllFromText per format rather than a read per file: Beam's
  in-memory runner holds the whole output of a Flatten of several reads,
  so memory would grow with the data.
  """
  csv_paths = [p for p in paths if rows.file_format(p) == 'csv']
  json_paths = [p for p in paths if rows.file_format(p) == 'json']
  examples = []
  if json_paths:
    examples.append(
      pipeline
      | 'JsonFiles' >> beam.Create(json_paths)
      | 'ReadJson' >> beam.io.ReadAllFromText()
      # Blank lines and other model versions' records give no row.
      | 'ParseJson'
      >> beam.FlatMap(
        lambda line: filter(None, [rows.parse_json_line(line, model_version)])
      )
      | 'JsonToExample' >> beam.Map(rows.to_example, kinds, False)
    )
  if csv_paths:
    headers = {path: rows.csv_header(path) for path in csv_paths}
    examples.append(
      pipeline
      | 'CsvFiles' >> beam.Create(csv_paths)
      | 'ReadCsv'
      >> beam.io.ReadAllFromText(skip_header_lines=1, with_filename=True)
      | 'SkipBlank' >> beam.Filter(lambda item: item[1].strip())
      | 'ParseCsv'
      >> beam.Map(lambda item: rows.parse_csv_line(item[1], headers[item[0]]))
      | 'CsvToExample' >> beam.Map(rows.to_example, kinds, True)
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
  kinds = rows.feature_kinds(
    io_utils.parse_pbtxt_file(config[SCHEMA_PATH], schema_pb2.Schema())
  )
  version = config.get(MODEL_VERSION)
  version = int(version) if version not in (None, '') else None
  paths = rows.data_files(exec_properties['input_base'], split_pattern)
  if not paths:
    raise rows.UnreadableInput(
      f'No serving data matches {split_pattern!r} under '
      f'{exec_properties["input_base"]}'
    )
  return pipeline | 'ReadServingExamples' >> ReadServingExamples(
    paths, kinds, version
  )


class ServingExampleGenExecutor(
  base_example_gen_executor.BaseExampleGenExecutor
):
  """tf.Examples from CSV / JSON-lines / request-log files, one output split
  per input split, typed by the schema (rows.py)."""

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    return _ServingRowsToExample


def serving_example_gen(
  input_base: str,
  splits: Dict[str, str],
  schema_path: str,
  model_version: Optional[int] = None,
) -> FileBasedExampleGen:
  """ExampleGen over serving data: `splits` maps split names to file
  patterns relative to `input_base`."""
  return FileBasedExampleGen(
    input_base=input_base,
    input_config=example_gen_pb2.Input(
      splits=[
        example_gen_pb2.Input.Split(name=name, pattern=pattern)
        for name, pattern in splits.items()
      ]
    ),
    # Empty: one output split per input split, no hash partitioning.
    output_config=example_gen_pb2.Output(),
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


# --- The schema serving data must follow ----------------------------------------------------------


@component
def ServingSchema(
  schema: InputArtifact[Schema],  # A TFX component.
  serving_schema: OutputArtifact[Schema],
  id_feature: Parameter[str],
  served_features: Parameter[str],
):
  """The schema in the SERVING environment (detection.serving_schema);
  `served_features` is comma-separated."""
  result = detection.serving_schema(
    read_schema(schema.uri), id_feature, served_features.split(',')
  )
  io_utils.write_pbtxt_file(
    os.path.join(serving_schema.uri, SCHEMA_FILE), result
  )


# --- Feature skew (Beam) --------------------------------------------------------------------------


class FeatureSkewSpec(component_spec.ComponentSpec):
  PARAMETERS = {
    'id_feature': component_spec.ExecutionParameter(type=str),
    'serving_split': component_spec.ExecutionParameter(type=str),
    'float_round_ndigits': component_spec.ExecutionParameter(type=int),
    # Comma-separated: the features the server takes.
    'served_features': component_spec.ExecutionParameter(type=str),
  }
  INPUTS = {
    'baseline_examples': component_spec.ChannelParameter(type=Examples),
    'serving_examples': component_spec.ChannelParameter(type=Examples),
    'schema': component_spec.ChannelParameter(type=Schema),
  }
  OUTPUTS = {
    'feature_skew': component_spec.ChannelParameter(type=FeatureSkewResults),
  }


def _example_files(artifact: types.Artifact, splits: List[str]) -> List[str]:
  files = []
  for split in splits:
    split_uri = artifact_utils.get_split_uri([artifact], split)
    files += sorted(
      os.path.join(split_uri, name) for name in tf.io.gfile.listdir(split_uri)
    )
  return files


def _read_examples(pipeline, files: List[str], label: str):
  return (
    pipeline
    | f'Files[{label}]' >> beam.Create(files)
    | f'Read[{label}]'
    >> beam.io.ReadAllFromTFRecord(
      coder=beam.coders.ProtoCoder(tf.train.Example)
    )
  )


class FeatureSkewExecutor(base_beam_executor.BaseBeamExecutor):
  """tfdv.DetectFeatureSkew between every training example and the serving
  examples that carry its id."""

  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    baseline = artifact_utils.get_single_instance(
      input_dict['baseline_examples']
    )
    serving = artifact_utils.get_single_instance(input_dict['serving_examples'])
    schema = read_schema(
      artifact_utils.get_single_instance(input_dict['schema']).uri
    )
    output = artifact_utils.get_single_instance(output_dict['feature_skew'])
    id_feature = exec_properties['id_feature']
    baseline_files = _example_files(
      baseline, artifact_utils.decode_split_names(baseline.split_names)
    )
    serving_files = _example_files(serving, [exec_properties['serving_split']])
    with self._make_beam_pipeline() as pipeline:
      results, pairs = (
        _read_examples(pipeline, baseline_files, 'training'),
        _read_examples(pipeline, serving_files, 'serving'),
      ) | 'DetectSkew' >> feature_skew.DetectSkew(
        id_feature,
        feature_skew.features_to_ignore(
          schema, exec_properties['served_features'].split(','), id_feature
        ),
        exec_properties['float_round_ndigits'],
      )
      _ = (
        results
        | 'WriteResults'
        >> validation_api.WriteFeatureSkewResultsToTFRecord(
          os.path.join(output.uri, SKEW_RESULTS_FILE)
        )
      )
      _ = pairs | 'WritePairs' >> validation_api.WriteSkewPairsToTFRecord(
        os.path.join(output.uri, SKEW_PAIRS_FILE)
      )


class FeatureSkewDetector(base_beam_component.BaseBeamComponent):
  """Feature skew: training vs serving values of the same example id."""

  SPEC_CLASS = FeatureSkewSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(FeatureSkewExecutor)

  def __init__(
    self,
    baseline_examples,
    serving_examples,
    schema,
    id_feature: str,
    float_round_ndigits: int,
    served_features: Sequence[str],
    serving_split: str = SERVING_SPLIT,
  ):
    super().__init__(
      spec=FeatureSkewSpec(
        baseline_examples=baseline_examples,
        serving_examples=serving_examples,
        schema=schema,
        id_feature=id_feature,
        serving_split=serving_split,
        float_round_ndigits=float_round_ndigits,
        served_features=','.join(served_features),
        feature_skew=types.Channel(type=FeatureSkewResults),
      )
    )


def read_feature_skew(uri: str) -> List[feature_skew_results_pb2.FeatureSkew]:
  path = os.path.join(uri, SKEW_RESULTS_FILE)
  if not tf.io.gfile.exists(path):
    return []
  return [
    feature_skew_results_pb2.FeatureSkew.FromString(record.numpy())
    for record in tf.data.TFRecordDataset(path)
  ]


# --- The report -------------------------------------------------------------------------------------


@component
def SkewReport(  # A TFX component.
  pushed_model: InputArtifact[PushedModel],
  schema: InputArtifact[Schema],
  baseline_statistics: InputArtifact[ExampleStatistics],
  serving_statistics: InputArtifact[ExampleStatistics],
  anomalies: InputArtifact[ExampleAnomalies],
  skew_results: InputArtifact[FeatureSkewResults],
  report: OutputArtifact[MonitoringReport],
  baseline_split: Parameter[str],
  feature_skew_threshold: Parameter[float],
  report_path: Parameter[str],
):
  """Every finding of the run in one JSON report (detection.make_report),
  kept as an artifact and written to `report_path`."""
  serving_schema = read_schema(schema.uri)
  splits = artifact_utils.decode_split_names(serving_statistics.split_names)
  serving = read_statistics(serving_statistics, SERVING_SPLIT)
  with open(
    os.path.join(
      artifact_utils.get_split_uri([anomalies], SERVING_SPLIT), ANOMALIES_FILE
    ),
    'rb',
  ) as f:
    schema_anomalies = anomalies_pb2.Anomalies.FromString(f.read())
  skew = read_feature_skew(skew_results.uri)
  findings = detection.all_findings(
    serving_schema,
    serving,
    schema_anomalies,
    read_statistics(baseline_statistics, baseline_split),
    skew,
    feature_skew_threshold,
    previous=(
      read_statistics(serving_statistics, PREVIOUS_SPLIT)
      if PREVIOUS_SPLIT in splits
      else None
    ),
  )
  version = pushed_model.get_string_custom_property('pushed_version')
  result = detection.make_report(
    findings,
    model_version=version,
    pushed_model=pushed_model.get_string_custom_property('pushed_destination')
    or pushed_model.uri,
    serving_examples=int(serving.datasets[0].num_examples),
    # Serving examples joined by id to a training example (feature skew).
    joined_examples=detection.joined_examples(skew),
    baseline_statistics=baseline_statistics.uri,
    previous_span=PREVIOUS_SPLIT in splits,
  )
  detection.write_report(result, os.path.join(report.uri, REPORT_FILE))
  if report_path:
    detection.write_report(result, report_path)
  report.set_string_custom_property('model_version', version)
  report.set_int_custom_property('findings', len(findings))
  for kind, count in result['counts'].items():
    report.set_int_custom_property(kind, count)
