"""Input artifacts typed as the compiled component declares them.

TFX's entry point finds an artifact's class from the title of its type
(kubeflow_v2_entrypoint_utils._retrieve_class_path). What reaches it on
open-source Kubeflow Pipelines does not always carry that title:
  - backend 2.0-2.4 resolves an upstream output with the type
    {"instanceSchema": ""} (yaml of '' is None: AttributeError in TFX);
  - an input passed down from a parent DAG has no type at all
    (UnboundLocalError in TFX);
  - a spec or backend that speaks KFP's own types gives `system.Model`,
    `system.Dataset`, `system.Artifact` (ImportError in TFX), and distinct
    TFX types collapse into one such title.
The component's inputs spec, which TFX compiles into every task's arguments
(--json_serialized_inputs_spec_args), declares each input's TFX type by key;
every input whose type does not name that title gets the declared type.
"""

from typing import List

import yaml
from kfp.pipeline_spec import pipeline_spec_pb2


def type_title(artifact_type: pipeline_spec_pb2.ArtifactTypeSchema) -> str:
  """The title a type names ('' when it names none)."""
  kind = artifact_type.WhichOneof('kind')
  if kind == 'schema_title':
    return artifact_type.schema_title
  if kind == 'instance_schema':
    try:
      schema = yaml.safe_load(artifact_type.instance_schema)
    except yaml.YAMLError:
      return ''
    if isinstance(schema, dict):
      return str(schema.get('title') or '')
  return ''


def restore_input_types(
  executor_input: pipeline_spec_pb2.ExecutorInput,
  inputs_spec: pipeline_spec_pb2.ComponentInputsSpec,
) -> List[str]:
  """Gives every input artifact its declared type where its own names
  another title or none; returns one line per artifact changed."""
  changed = []
  for key, artifacts in executor_input.inputs.artifacts.items():
    if key not in inputs_spec.artifacts:
      continue
    declared = inputs_spec.artifacts[key].artifact_type
    wanted = type_title(declared)
    for artifact in artifacts.artifacts:
      found = type_title(artifact.type)
      if found != wanted:
        artifact.type.CopyFrom(declared)
        changed.append(
          f'input {key!r} ({artifact.name or artifact.uri}): type '
          f'{found or "(none)"!s} -> {wanted}'
        )
  return changed
