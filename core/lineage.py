"""ML Metadata queries both pipelines share: a node's context, the artifacts
of an execution's events, the model versions a pipeline pushed, and the
lineage of a pushed version back to the data that trained it:

pusher (PushedModel, custom properties pushed_version/pushed_destination)
  <- Model <- trainer execution <- transformed examples <- transform
  execution <- Examples (example_gen) -> statistics_gen -> ExampleStatistics
             <- Schema (schema_importer)
"""

import dataclasses
import os
from typing import Dict, List, Optional, Tuple

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from core import names

# TFX records every node's executions under a context of this type, named
# "<pipeline name>.<node id>" (the node ids are the .with_id() names).
NODE_CONTEXT_TYPE = 'node'
_INPUT = metadata_store_pb2.Event.INPUT
_OUTPUT = metadata_store_pb2.Event.OUTPUT


def node_context(
  store: metadata_store.MetadataStore, pipeline_name: str, node_id: str
) -> Optional[metadata_store_pb2.Context]:
  return store.get_context_by_type_and_name(
    NODE_CONTEXT_TYPE, f'{pipeline_name}.{node_id}'
  )


def artifacts_by_key(
  store: metadata_store.MetadataStore,
  events: List[metadata_store_pb2.Event],
  kind: 'metadata_store_pb2.Event.Type',
) -> Dict[str, List[metadata_store_pb2.Artifact]]:
  """The artifacts of the `kind` (INPUT or OUTPUT) events, by the input or
  output key of the component (e.g. 'statistics'), in event order."""
  events = [e for e in events if e.type == kind]
  artifacts = {
    a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])
  }
  by_key: Dict[str, List[metadata_store_pb2.Artifact]] = {}
  for event in events:
    by_key.setdefault(event.path.steps[0].key, []).append(
      artifacts[event.artifact_id]
    )
  return by_key


@dataclasses.dataclass(frozen=True)
class TrainingLineage:
  """What trained a pushed model version: URIs of existing artifacts."""

  model_version: str
  pushed_model_uri: str
  model_uri: str
  examples_uri: str
  statistics_uri: str
  schema_uri: str
  # The split of the training data that serving data is compared with.
  split: str = names.TRAIN_SPLIT


class LineageNotFound(LookupError):
  """No pushed model (of the requested version), or broken lineage."""


def _inputs(store, execution_id: int):
  return artifacts_by_key(
    store, store.get_events_by_execution_ids([execution_id]), _INPUT
  )


def _producer(store, artifact: metadata_store_pb2.Artifact) -> int:
  for event in store.get_events_by_artifact_ids([artifact.id]):
    if event.type == _OUTPUT:
      return event.execution_id
  raise LineageNotFound(f'No execution produced artifact {artifact.uri}')


def _single(by_key, key: str, what: str) -> metadata_store_pb2.Artifact:
  if not by_key.get(key):
    raise LineageNotFound(f'{what}: no {key!r} input in ML Metadata')
  return by_key[key][-1]


def pushed_models(
  store: metadata_store.MetadataStore, pipeline_name: str
) -> List[Tuple[str, metadata_store_pb2.Artifact, int]]:
  """(pushed version, PushedModel artifact, pusher execution id) of every
  model the pipeline's pusher pushed, oldest first."""
  context = node_context(store, pipeline_name, names.PUSHER)
  if context is None:
    return []
  executions = store.get_executions_by_context(context.id)
  events = store.get_events_by_execution_ids([e.id for e in executions])
  outputs = [e for e in events if e.type == _OUTPUT]
  artifacts = {
    a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in outputs])
  }
  pushed = []
  for event in outputs:
    artifact = artifacts[event.artifact_id]
    props = artifact.custom_properties
    if (
      props.get(names.PUSHED)
      and props[names.PUSHED].int_value
      and names.PUSHED_VERSION in props
    ):
      pushed.append(
        (
          props[names.PUSHED_VERSION].string_value,
          artifact,
          event.execution_id,
        )
      )
  return sorted(
    pushed, key=lambda p: (int(p[0]) if p[0].isdecimal() else -1, p[1].id)
  )


def _pushed_under(artifact: metadata_store_pb2.Artifact, directory: str):
  destination = artifact.custom_properties.get(names.PUSHED_DESTINATION)
  return destination is not None and os.path.dirname(
    destination.string_value.rstrip('/')
  ) == directory.rstrip('/')


def training_lineage(
  store: metadata_store.MetadataStore,
  pipeline_name: str,
  model_version: Optional[str] = None,
  split: str = names.TRAIN_SPLIT,
  destination_dir: Optional[str] = None,
) -> TrainingLineage:
  """The lineage of pushed version `model_version` (default: the latest),
  among the versions pushed under `destination_dir` (default: anywhere)."""
  pushed = pushed_models(store, pipeline_name)
  if destination_dir is not None:
    pushed = [p for p in pushed if _pushed_under(p[1], destination_dir)]
  if not pushed:
    raise LineageNotFound(
      f'Pipeline {pipeline_name!r} has pushed no model'
      f'{" to " + destination_dir if destination_dir else ""} in this ML '
      'Metadata store'
    )
  if model_version is not None:
    pushed = [p for p in pushed if p[0] == str(model_version)]
    if not pushed:
      versions = ', '.join(v for v, _, _ in pushed_models(store, pipeline_name))
      where = f' to {destination_dir}' if destination_dir else ''
      raise LineageNotFound(
        f'Model version {model_version} was not pushed{where} by pipeline '
        f'{pipeline_name!r} (pushed versions: {versions or "none"})'
      )
  version, pushed_model, pusher_execution = pushed[-1]
  model = _single(_inputs(store, pusher_execution), names.MODEL, 'pusher')
  trainer_inputs = _inputs(store, _producer(store, model))
  transformed = _single(trainer_inputs, names.EXAMPLES, 'trainer')
  transform_inputs = _inputs(store, _producer(store, transformed))
  examples = _single(transform_inputs, names.EXAMPLES, 'transform')
  schema = _single(transform_inputs, names.SCHEMA, 'transform')
  statistics = None
  consumers = [
    e.execution_id
    for e in store.get_events_by_artifact_ids([examples.id])
    if e.type == _INPUT
  ]
  for execution_id in sorted(consumers, reverse=True):
    events = store.get_events_by_execution_ids([execution_id])
    found = artifacts_by_key(store, events, _OUTPUT).get(names.STATISTICS)
    if found:
      statistics = found[-1]
      break
  if statistics is None:
    raise LineageNotFound(
      f'No statistics of the training examples {examples.uri}'
    )
  return TrainingLineage(
    model_version=version,
    pushed_model_uri=pushed_model.uri,
    model_uri=model.uri,
    examples_uri=examples.uri,
    statistics_uri=statistics.uri,
    schema_uri=schema.uri,
    split=split,
  )
