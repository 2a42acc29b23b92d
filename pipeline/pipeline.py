"""create_pipeline: the one definition of the pipeline's components and wiring.

Component ids are stable (core.names): tests, summaries and ML Metadata
queries use them.
"""

import os

from tfx import v1 as tfx

from components import atomic_pusher
from components.baseline_trainer import BaselineTrainer
from components.data_gate import DataGate
from components.infra_validator import InfraValidator
from components.model_analysis import ModelAnalysis
from components.model_quality import AnalysisSettings
from components.production_baseline import (
  BaselineAwareEvaluator,
  ProductionBaseline,
)
from components.stratified_example_gen import stratified_csv_example_gen
from core import metadata_uri, names
from models import features
from pipeline.config import PREPROCESSING_FN, RUN_FN, PipelineConfig
from pipeline.eval_config import make_eval_config

STRATUM_FN = 'models.features.split_stratum'


def _train_args(train_steps):
  if isinstance(train_steps, tfx.dsl.experimental.RuntimeParameter):
    return train_steps  # TrainArgs JSON, set per run (see PipelineConfig).
  return tfx.proto.TrainArgs(splits=[names.TRAIN_SPLIT], num_steps=train_steps)


def _user_code(config: PipelineConfig, **function_path):
  """How Transform or the Trainer finds its user code: a module path, with
  the code's fingerprint in its cache key."""
  return dict(
    function_path,
    custom_config={names.USER_CODE_FINGERPRINT: config.user_code_fingerprint},
  )


def create_pipeline(config: PipelineConfig) -> tfx.dsl.Pipeline:
  """The taxi pipeline: ingest, validate, transform, train, evaluate,
  validate the served model, push."""
  example_gen = stratified_csv_example_gen(
    input_base=config.data_root,
    split_weights=config.split_weights,
    id_feature=features.TRIP_ID,
    stratum_fn=STRATUM_FN,
  ).with_id(names.EXAMPLE_GEN)
  examples = example_gen.outputs[names.EXAMPLES]
  schema_importer = tfx.components.ImportSchemaGen(
    schema_file=os.path.join(config.schema_dir, names.SCHEMA_FILE)
  ).with_id(names.SCHEMA_IMPORTER)
  schema = schema_importer.outputs[names.SCHEMA]
  # Typed by the curated schema: its categorical integers (hour, day, month,
  # community areas) get value counts, which skew and drift checks compare
  # (see monitoring/).
  statistics_gen = tfx.components.StatisticsGen(
    examples=examples, schema=schema
  ).with_id(names.STATISTICS_GEN)
  statistics = statistics_gen.outputs[names.STATISTICS]
  # Inferred from this run's data and kept for review against schema/.
  schema_gen = tfx.components.SchemaGen(statistics=statistics).with_id(
    names.SCHEMA_GEN
  )
  example_validator = tfx.components.ExampleValidator(
    statistics=statistics, schema=schema
  ).with_id(names.EXAMPLE_VALIDATOR)
  data_gate = DataGate(
    anomalies=example_validator.outputs[names.ANOMALIES]
  ).with_id(names.DATA_GATE)

  transform = tfx.components.Transform(
    examples=examples,
    schema=schema,
    **_user_code(config, preprocessing_fn=PREPROCESSING_FN),
    # StatisticsGen already describes the raw data; skipping Transform's own
    # pre/post statistics halves its run time.
    disable_statistics=True,
    # The analyzer cache serves pipelines that feed it back over rolling
    # spans; nothing here reads it, and writing it costs a quarter of the
    # step (one sink per analyzer, the train split read twice).
    disable_analyzer_cache=True,
    # TFT's TF2 mode traces preprocessing_fn once per analysis phase and
    # again for the saved function; compat.v1 mode builds one graph. The
    # executor 22.4 s -> 14.7 s, transformed features and predictions within
    # 2.4e-7 of TF2 mode's; the Trainer's TFT layer loads either graph.
    force_tf_compat_v1=True,
    # Only the Trainer reads transformed examples (train and eval); the test
    # split is evaluated raw, through the served model's own Transform graph.
    splits_config=tfx.proto.SplitsConfig(
      analyze=[names.TRAIN_SPLIT],
      transform=[names.TRAIN_SPLIT, names.EVAL_SPLIT],
    ),
  ).with_id(names.TRANSFORM)
  transform.add_upstream_node(data_gate)

  trainer = tfx.components.Trainer(
    **_user_code(config, run_fn=RUN_FN),
    examples=transform.outputs[names.TRANSFORMED_EXAMPLES],
    transform_graph=transform.outputs[names.TRANSFORM_GRAPH],
    train_args=_train_args(config.train_steps),
    eval_args=tfx.proto.EvalArgs(splits=[names.EVAL_SPLIT]),
  ).with_id(names.TRAINER)
  model = trainer.outputs[names.MODEL]

  # The version production serves: the Evaluator's change thresholds and
  # model_analysis's production baseline compare against it.
  production_baseline = ProductionBaseline(
    serving_model_dir=config.serving_model_dir,
    cache_key=config.served_version,
  ).with_id(names.PRODUCTION_BASELINE)
  evaluator = BaselineAwareEvaluator(
    examples=examples,
    example_splits=[names.TEST_SPLIT],
    model=model,
    baseline_model=production_baseline.outputs[names.BASELINE],
    eval_config=make_eval_config(config.quality_gate),
  ).with_id(names.EVALUATOR)

  # The simple trained baseline, and the analysis that gates the candidate
  # against every baseline on top of the Evaluator's verdict.
  baseline_trainer = BaselineTrainer(examples=examples).with_id(
    names.BASELINE_TRAINER
  )
  baseline_trainer.add_upstream_node(data_gate)
  rule_feature, rule_value = config.rule_baseline
  model_analysis = ModelAnalysis(
    examples=examples,
    model=model,
    baseline_model=baseline_trainer.outputs[names.BASELINE_MODEL],
    evaluator_blessing=evaluator.outputs[names.BLESSING],
    production_model=production_baseline.outputs[names.BASELINE],
    settings=AnalysisSettings(
      rule_feature=rule_feature,
      rule_value=rule_value,
      gate=config.quality_gate.beat_baselines,
      tolerance=config.quality_gate.baseline_tolerance,
      feature_report=config.feature_report,
    ).to_json(),
  ).with_id(names.MODEL_ANALYSIS)

  # The candidate served and asked real requests; when it passes, its
  # InfraBlessing holds the model with TF Serving's warm-up requests, which
  # the Pusher pushes (TFX's Pusher pushes the infra blessing's model when it
  # has no `model` input).
  infra_validator = InfraValidator(
    model=model,
    examples=examples,
    model_name=config.pipeline_name,
    p99_budget_ms=config.infra_p99_budget_ms,
  ).with_id(names.INFRA_VALIDATOR)
  infra_validator.add_upstream_node(model_analysis)

  pusher = tfx.components.Pusher(
    model_blessing=model_analysis.outputs[names.BLESSING],
    infra_blessing=infra_validator.outputs[names.BLESSING],
    push_destination=tfx.proto.PushDestination(
      filesystem=tfx.proto.PushDestination.Filesystem(
        base_directory=config.serving_model_dir
      )
    ),
    custom_executor_spec=atomic_pusher.EXECUTOR_SPEC,
  ).with_id(names.PUSHER)

  return tfx.dsl.Pipeline(
    pipeline_name=config.pipeline_name,
    pipeline_root=config.pipeline_root,
    components=[
      example_gen,
      statistics_gen,
      schema_gen,
      schema_importer,
      example_validator,
      data_gate,
      transform,
      trainer,
      production_baseline,
      evaluator,
      baseline_trainer,
      model_analysis,
      infra_validator,
      pusher,
    ],
    enable_cache=config.enable_cache,
    metadata_connection_config=metadata_uri.optional_connection_config(
      config.metadata_uri
    ),
    beam_pipeline_args=list(config.beam_pipeline_args),
  )
