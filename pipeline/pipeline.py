"""create_pipeline: the one definition of the pipeline's components and wiring.

Component ids are stable: tests, summaries and ML Metadata queries use them.
"""

import os

from tfx.components import (
  Evaluator,
  ExampleValidator,
  Pusher,
  SchemaGen,
  StatisticsGen,
  Trainer,
  Transform,
)
from tfx.components.schema_gen.import_schema_gen.component import (
  ImportSchemaGen,
)
from tfx.dsl.components.common import resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
  LatestBlessedModelStrategy,
)
from tfx.orchestration import data_types
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import pusher_pb2, trainer_pb2, transform_pb2
from tfx.types import Channel
from tfx.types.standard_artifacts import Model, ModelBlessing

from components import atomic_pusher
from components.data_gate import DataGate
from components.stratified_example_gen import stratified_csv_example_gen
from pipeline import metadata_uri
from pipeline.config import PipelineConfig
from pipeline.eval_config import make_eval_config

SCHEMA_FILE = 'schema.pbtxt'
STRATUM_FN = 'models.features.split_stratum'


def _train_args(train_steps):
  if isinstance(train_steps, data_types.RuntimeParameter):
    return train_steps  # TrainArgs JSON, set per run (see PipelineConfig).
  return trainer_pb2.TrainArgs(splits=['train'], num_steps=train_steps)


def create_pipeline(config: PipelineConfig) -> tfx_pipeline.Pipeline:
  """The taxi pipeline: ingest, validate, transform, train, evaluate, push."""
  split_names = [name for name, _ in config.split_weights]
  example_gen = stratified_csv_example_gen(
    input_base=config.data_root,
    split_weights=config.split_weights,
    id_feature='trip_id',
    stratum_fn=STRATUM_FN,
  ).with_id('example_gen')
  schema_importer = ImportSchemaGen(
    schema_file=os.path.join(config.schema_dir, SCHEMA_FILE)
  ).with_id('schema_importer')
  schema = schema_importer.outputs['schema']
  # Typed by the curated schema: its categorical integers (hour, day, month,
  # community areas) get value counts, which skew and drift checks compare
  # (see monitoring/).
  statistics_gen = StatisticsGen(
    examples=example_gen.outputs['examples'], schema=schema
  ).with_id('statistics_gen')
  # Inferred from this run's data and kept for review against schema/.
  schema_gen = SchemaGen(
    statistics=statistics_gen.outputs['statistics']
  ).with_id('schema_gen')
  example_validator = ExampleValidator(
    statistics=statistics_gen.outputs['statistics'], schema=schema
  ).with_id('example_validator')
  data_gate = DataGate(
    anomalies=example_validator.outputs['anomalies']
  ).with_id('data_gate')

  transform = Transform(
    examples=example_gen.outputs['examples'],
    schema=schema,
    module_file=config.transform_module,
    # StatisticsGen already describes the raw data; skipping Transform's own
    # pre/post statistics halves its run time.
    disable_statistics=True,
    splits_config=transform_pb2.SplitsConfig(
      analyze=['train'], transform=split_names
    ),
  ).with_id('transform')
  transform.add_upstream_node(data_gate)

  trainer = Trainer(
    module_file=config.trainer_module,
    examples=transform.outputs['transformed_examples'],
    transform_graph=transform.outputs['transform_graph'],
    train_args=_train_args(config.train_steps),
    eval_args=trainer_pb2.EvalArgs(splits=['eval']),
  ).with_id('trainer')

  baseline_resolver = resolver.Resolver(
    strategy_class=LatestBlessedModelStrategy,
    model=Channel(type=Model),
    model_blessing=Channel(type=ModelBlessing),
  ).with_id('latest_blessed_model_resolver')
  baselines = [baseline_resolver] if config.compare_with_blessed_model else []
  evaluator = Evaluator(
    examples=example_gen.outputs['examples'],
    example_splits=['test'],
    model=trainer.outputs['model'],
    baseline_model=(baseline_resolver.outputs['model'] if baselines else None),
    eval_config=make_eval_config(config.quality_gate),
  ).with_id('evaluator')

  pusher = Pusher(
    model=trainer.outputs['model'],
    model_blessing=evaluator.outputs['blessing'],
    push_destination=pusher_pb2.PushDestination(
      filesystem=pusher_pb2.PushDestination.Filesystem(
        base_directory=config.serving_model_dir
      )
    ),
    custom_executor_spec=atomic_pusher.EXECUTOR_SPEC,
  ).with_id('pusher')

  return tfx_pipeline.Pipeline(
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
      *baselines,
      evaluator,
      pusher,
    ],
    enable_cache=config.enable_cache,
    metadata_connection_config=(
      metadata_uri.connection_config(config.metadata_uri)
      if config.metadata_uri
      else None
    ),
    beam_pipeline_args=list(config.beam_pipeline_args),
  )
