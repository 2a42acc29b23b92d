"""create_monitoring_pipeline: skew and drift checks of serving data against
the data that trained the served model.

Component ids are stable: the runner, tests and ML Metadata queries use them.
"""

import os

from tfx.components import ExampleValidator, StatisticsGen
from tfx.components.schema_gen.import_schema_gen.component import (
  ImportSchemaGen,
)
from tfx.dsl.components.common import importer
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.types.standard_artifacts import (
  Examples,
  ExampleStatistics,
  PushedModel,
)

from monitoring import components
from monitoring.config import PREVIOUS_SPLIT, SERVING_SPLIT, MonitoringConfig
from pipeline import metadata_uri


def _import(node_id: str, uri: str, artifact_type) -> importer.Importer:
  # reimport=False: the Importer reuses the training run's artifact of this
  # URI, so the monitoring run is linked to it in ML Metadata.
  return importer.Importer(
    source_uri=uri, artifact_type=artifact_type, reimport=False
  ).with_id(node_id)


def create_monitoring_pipeline(
  config: MonitoringConfig,
) -> tfx_pipeline.Pipeline:
  baseline = config.baseline
  pushed_model = _import(
    'pushed_model_importer', baseline.pushed_model_uri, PushedModel
  )
  baseline_examples = _import(
    'baseline_examples_importer', baseline.examples_uri, Examples
  )
  baseline_statistics = _import(
    'baseline_statistics_importer', baseline.statistics_uri, ExampleStatistics
  )
  schema_importer = ImportSchemaGen(
    schema_file=os.path.join(config.schema_dir, components.SCHEMA_FILE)
  ).with_id('schema_importer')

  data = config.serving_data
  splits = {SERVING_SPLIT: data.newest_pattern}
  if data.previous_pattern:
    splits[PREVIOUS_SPLIT] = data.previous_pattern
  example_gen = components.serving_example_gen(
    input_base=data.input_base,
    splits=splits,
    schema_path=os.path.join(config.schema_dir, components.SCHEMA_FILE),
    model_version=data.model_version,
  ).with_id('serving_example_gen')
  serving_schema = components.ServingSchema(
    schema=schema_importer.outputs['schema'],
    id_feature=config.id_feature,
    served_features=','.join(config.served_features),
  ).with_id('serving_schema')
  schema = serving_schema.outputs['serving_schema']
  # Typed by the schema, like the training pipeline's statistics.
  statistics_gen = StatisticsGen(
    examples=example_gen.outputs['examples'],
    schema=schema_importer.outputs['schema'],
  ).with_id('statistics_gen')
  example_validator = ExampleValidator(
    statistics=statistics_gen.outputs['statistics'],
    schema=schema,
    exclude_splits=[PREVIOUS_SPLIT],
  ).with_id('example_validator')
  feature_skew = components.FeatureSkewDetector(
    baseline_examples=baseline_examples.outputs['result'],
    serving_examples=example_gen.outputs['examples'],
    schema=schema,
    id_feature=config.id_feature,
    float_round_ndigits=config.float_round_ndigits,
    served_features=config.served_features,
  ).with_id('feature_skew_detector')
  report = components.SkewReport(
    pushed_model=pushed_model.outputs['result'],
    schema=schema,
    baseline_statistics=baseline_statistics.outputs['result'],
    serving_statistics=statistics_gen.outputs['statistics'],
    anomalies=example_validator.outputs['anomalies'],
    skew_results=feature_skew.outputs['feature_skew'],
    baseline_split=baseline.split,
    feature_skew_threshold=config.feature_skew_threshold,
    report_path=config.report_path,
  ).with_id('skew_report')

  return tfx_pipeline.Pipeline(
    pipeline_name=config.pipeline_name,
    pipeline_root=config.pipeline_root,
    components=[
      pushed_model,
      baseline_examples,
      baseline_statistics,
      schema_importer,
      example_gen,
      serving_schema,
      statistics_gen,
      example_validator,
      feature_skew,
      report,
    ],
    enable_cache=config.enable_cache,
    metadata_connection_config=(
      metadata_uri.connection_config(config.metadata_uri)
      if config.metadata_uri
      else None
    ),
    beam_pipeline_args=list(config.beam_pipeline_args),
  )
