"""Input artifacts as open-source Kubeflow Pipelines hands them to a task,
one failure mode each: TFX's own parser fails on them, and after
restore_input_types it gives the declared TFX classes. TFX's parser is the
one kfp_entrypoint runs (kubeflow_v2_entrypoint_utils), so these tests also
guard the TFX-internal module it depends on."""

import pytest
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration.kubeflow.v2.container import (
  kubeflow_v2_entrypoint_utils as tfx_parser,
)
from tfx.types import standard_artifacts

from kfp_entrypoint import artifact_types
from kfp_local import launcher

EXAMPLES_SCHEMA = (
  'title: tfx.Examples\ntype: object\nproperties:\n  span:\n    type: integer\n'
  '  split_names:\n    type: string\n'
)
SCHEMA_SCHEMA = 'title: tfx.Schema\ntype: object\n'
MODEL_SCHEMA = 'title: tfx.Model\ntype: object\n'


def _inputs_spec(**schemas) -> pipeline_spec_pb2.ComponentInputsSpec:
  spec = pipeline_spec_pb2.ComponentInputsSpec()
  for key, schema in schemas.items():
    spec.artifacts[key].artifact_type.instance_schema = schema
  return spec


def _recorded(uri, schema, **metadata):
  """An output as the launcher recorded it: the spec's type."""
  artifact = pipeline_spec_pb2.RuntimeArtifact(uri=uri)
  artifact.type.instance_schema = schema
  artifact.metadata.update(metadata)
  return artifact


def _executor_input(**artifacts) -> pipeline_spec_pb2.ExecutorInput:
  executor_input = pipeline_spec_pb2.ExecutorInput()
  for key, artifact in artifacts.items():
    executor_input.inputs.artifacts[key].artifacts.append(artifact)
  return executor_input


def _untyped(uri):
  artifact = pipeline_spec_pb2.RuntimeArtifact(name='7', uri=uri)
  artifact.metadata.update({'display_name': 'model'})
  return artifact


def _titled(uri, title):
  artifact = pipeline_spec_pb2.RuntimeArtifact(name='8', uri=uri)
  artifact.type.schema_title = title
  return artifact


def test_empty_instance_schema_from_the_kubeflow_driver():
  # What KFP's driver (backend 2.0-2.4) hands over for an upstream output.
  examples = launcher.kubeflow_input_artifact(
    _recorded('/r/examples', EXAMPLES_SCHEMA, span=0, split_names='["train"]'),
    artifact_id=42,
    output_key='examples',
  )
  assert examples.type.WhichOneof('kind') == 'instance_schema'
  assert examples.type.instance_schema == ''
  executor_input = _executor_input(examples=examples)
  with pytest.raises(AttributeError):
    tfx_parser.parse_raw_artifact_dict(executor_input.inputs.artifacts)

  changed = artifact_types.restore_input_types(
    executor_input, _inputs_spec(examples=EXAMPLES_SCHEMA)
  )

  assert changed == ["input 'examples' (42): type (none) -> tfx.Examples"]
  [parsed] = tfx_parser.parse_raw_artifact_dict(
    executor_input.inputs.artifacts
  )['examples']
  assert isinstance(parsed, standard_artifacts.Examples)
  assert parsed.uri == '/r/examples'
  assert parsed.split_names == '["train"]'
  assert parsed.span == 0


@pytest.mark.parametrize(
  'model, error, match',
  [
    # An input passed down from a parent DAG.
    (_untyped('/r/model'), UnboundLocalError, 'title'),
    # A spec or backend that speaks KFP's own types.
    (_titled('/r/model', 'system.Model'), ImportError, 'system.Model'),
  ],
  ids=['no type', 'system title'],
)
def test_model_input_tfx_cannot_type(model, error, match):
  executor_input = _executor_input(model=model)
  with pytest.raises(error, match=match):
    tfx_parser.parse_raw_artifact_dict(executor_input.inputs.artifacts)

  artifact_types.restore_input_types(
    executor_input, _inputs_spec(model=MODEL_SCHEMA)
  )

  [parsed] = tfx_parser.parse_raw_artifact_dict(
    executor_input.inputs.artifacts
  )['model']
  assert isinstance(parsed, standard_artifacts.Model)


def test_distinct_tfx_types_collapsed_into_one_title():
  executor_input = _executor_input(
    examples=_titled('/r/examples', 'system.Dataset'),
    schema=_titled('/r/schema', 'system.Dataset'),
  )

  artifact_types.restore_input_types(
    executor_input,
    _inputs_spec(examples=EXAMPLES_SCHEMA, schema=SCHEMA_SCHEMA),
  )

  parsed = tfx_parser.parse_raw_artifact_dict(executor_input.inputs.artifacts)
  assert isinstance(parsed['examples'][0], standard_artifacts.Examples)
  assert isinstance(parsed['schema'][0], standard_artifacts.Schema)


def test_inputs_typed_as_declared_are_left_alone():
  # Vertex AI keeps the spec's instance schema on every input.
  typed = _recorded('/r/schema', SCHEMA_SCHEMA)
  executor_input = _executor_input(schema=typed)
  before = executor_input.SerializeToString()

  assert (
    artifact_types.restore_input_types(
      executor_input, _inputs_spec(schema=SCHEMA_SCHEMA)
    )
    == []
  )
  assert executor_input.SerializeToString() == before


@pytest.mark.parametrize(
  'schema, title',
  [
    ('title: tfx.Model\ntype: object\n', 'tfx.Model'),
    ('', ''),
    ('- a list\n', ''),
    ('title: [unclosed\n', ''),
  ],
)
def test_type_title(schema, title):
  artifact_type = pipeline_spec_pb2.ArtifactTypeSchema(instance_schema=schema)
  assert artifact_types.type_title(artifact_type) == title
