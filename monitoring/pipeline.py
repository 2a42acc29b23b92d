"""create_monitoring_pipeline: skew and drift checks of serving data against
the data that trained the served model.

Component ids are stable (core.names): the runner, tests and ML Metadata
queries use them.
"""

import os

from tfx import v1 as tfx

from components.feature_skew_detector import FeatureSkewDetector
from components.live_model_quality import LiveModelQuality
from components.serving_example_gen import serving_example_gen
from components.serving_schema import ServingSchema
from components.skew_report import SkewReport
from core import metadata_uri, names
from monitoring.config import MonitoringPipelineConfig


def _import(node_id: str, uri: str, artifact_type) -> tfx.dsl.Importer:
  # reimport=False: the Importer reuses the training run's artifact of this
  # URI, so the monitoring run is linked to it in ML Metadata.
  return tfx.dsl.Importer(
    source_uri=uri, artifact_type=artifact_type, reimport=False
  ).with_id(node_id)


def create_monitoring_pipeline(
  config: MonitoringPipelineConfig,
) -> tfx.dsl.Pipeline:
  baseline = config.baseline
  standard = tfx.types.standard_artifacts
  pushed_model = _import(
    names.PUSHED_MODEL_IMPORTER, baseline.pushed_model_uri, standard.PushedModel
  )
  baseline_examples = _import(
    names.BASELINE_EXAMPLES_IMPORTER, baseline.examples_uri, standard.Examples
  )
  baseline_statistics = _import(
    names.BASELINE_STATISTICS_IMPORTER,
    baseline.statistics_uri,
    standard.ExampleStatistics,
  )
  schema_file = os.path.join(config.schema_dir, names.SCHEMA_FILE)
  schema_importer = tfx.components.ImportSchemaGen(
    schema_file=schema_file
  ).with_id(names.SCHEMA_IMPORTER)

  data = config.serving_data
  splits = {names.SERVING_SPLIT: data.newest_pattern}
  if data.previous_pattern:
    splits[names.PREVIOUS_SPLIT] = data.previous_pattern
  example_gen = serving_example_gen(
    input_base=data.input_base,
    splits=splits,
    schema_path=schema_file,
    model_version=data.model_version,
  ).with_id(names.SERVING_EXAMPLE_GEN)
  serving_schema = ServingSchema(
    schema=schema_importer.outputs[names.SCHEMA],
    id_feature=config.id_feature,
    served_features=','.join(config.served_features),
  ).with_id(names.SERVING_SCHEMA)
  schema = serving_schema.outputs['serving_schema']
  # Typed by the schema, like the training pipeline's statistics.
  statistics_gen = tfx.components.StatisticsGen(
    examples=example_gen.outputs[names.EXAMPLES],
    schema=schema_importer.outputs[names.SCHEMA],
  ).with_id(names.STATISTICS_GEN)
  example_validator = tfx.components.ExampleValidator(
    statistics=statistics_gen.outputs[names.STATISTICS],
    schema=schema,
    exclude_splits=[names.PREVIOUS_SPLIT],
  ).with_id(names.EXAMPLE_VALIDATOR)
  feature_skew = FeatureSkewDetector(
    baseline_examples=baseline_examples.outputs[names.IMPORTER_RESULT],
    serving_examples=example_gen.outputs[names.EXAMPLES],
    schema=schema,
    id_feature=config.id_feature,
    float_round_ndigits=config.float_round_ndigits,
    served_features=config.served_features,
  ).with_id(names.FEATURE_SKEW_DETECTOR)
  quality = None
  if config.labels_path:
    quality = LiveModelQuality(
      pushed_model=pushed_model.outputs[names.IMPORTER_RESULT],
      serving_examples=example_gen.outputs[names.EXAMPLES],
      baseline_examples=baseline_examples.outputs[names.IMPORTER_RESULT],
      labels_path=config.labels_path,
      min_auc=config.min_auc,
      min_f1=config.min_f1,
    ).with_id(names.LIVE_MODEL_QUALITY)
  report = SkewReport(
    pushed_model=pushed_model.outputs[names.IMPORTER_RESULT],
    schema=schema,
    baseline_statistics=baseline_statistics.outputs[names.IMPORTER_RESULT],
    serving_statistics=statistics_gen.outputs[names.STATISTICS],
    anomalies=example_validator.outputs[names.ANOMALIES],
    skew_results=feature_skew.outputs[names.FEATURE_SKEW],
    baseline_split=baseline.split,
    feature_skew_threshold=config.feature_skew_threshold,
    report_path=config.report_path,
    live_quality=quality.outputs[names.LIVE_QUALITY] if quality else None,
  ).with_id(names.SKEW_REPORT)

  return tfx.dsl.Pipeline(
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
      *([quality] if quality else []),
      report,
    ],
    enable_cache=config.enable_cache,
    metadata_connection_config=metadata_uri.optional_connection_config(
      config.metadata_uri
    ),
    beam_pipeline_args=list(config.beam_pipeline_args),
  )
