"""Finds the baseline of a pushed model version through ML Metadata lineage.

pusher (PushedModel, custom properties pushed_version/pushed_destination)
  <- Model <- trainer execution <- transformed examples <- transform
  execution <- Examples (example_gen) -> statistics_gen -> ExampleStatistics
             <- Schema (schema_importer)
"""

import os
from typing import Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from monitoring.config import Baseline
from pipeline import lineage

_INPUT = metadata_store_pb2.Event.INPUT
_OUTPUT = metadata_store_pb2.Event.OUTPUT


class BaselineNotFound(LookupError):
  """No pushed model (of the requested version), or broken lineage."""


def _inputs(store, execution_id: int):
  return lineage.artifacts_by_key(
    store, store.get_events_by_execution_ids([execution_id]), _INPUT
  )


def _producer(store, artifact: metadata_store_pb2.Artifact) -> int:
  for event in store.get_events_by_artifact_ids([artifact.id]):
    if event.type == _OUTPUT:
      return event.execution_id
  raise BaselineNotFound(f'No execution produced artifact {artifact.uri}')


def _single(by_key, key: str, what: str) -> metadata_store_pb2.Artifact:
  if not by_key.get(key):
    raise BaselineNotFound(f'{what}: no {key!r} input in ML Metadata')
  return by_key[key][-1]


def pushed_models(store: metadata_store.MetadataStore, pipeline_name: str):
  """(pushed version, PushedModel artifact, pusher execution id) of every
  model the pipeline's pusher pushed, oldest first."""
  context = lineage.node_context(store, pipeline_name, 'pusher')
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
      props.get('pushed')
      and props['pushed'].int_value
      and ('pushed_version' in props)
    ):
      pushed.append(
        (props['pushed_version'].string_value, artifact, event.execution_id)
      )
  return sorted(
    pushed, key=lambda p: (int(p[0]) if p[0].isdigit() else -1, p[1].id)
  )


def _pushed_under(artifact: metadata_store_pb2.Artifact, directory: str):
  destination = artifact.custom_properties.get('pushed_destination')
  return destination is not None and os.path.dirname(
    destination.string_value.rstrip('/')
  ) == directory.rstrip('/')


def find_baseline(
  store: metadata_store.MetadataStore,
  pipeline_name: str,
  model_version: Optional[str] = None,
  split: str = 'train',
  destination_dir: Optional[str] = None,
) -> Baseline:
  """The baseline of pushed version `model_version` (default: the latest),
  among the versions pushed under `destination_dir` (default: anywhere)."""
  pushed = pushed_models(store, pipeline_name)
  if destination_dir is not None:
    pushed = [p for p in pushed if _pushed_under(p[1], destination_dir)]
  if not pushed:
    raise BaselineNotFound(
      f'Pipeline {pipeline_name!r} has pushed no model'
      f'{" to " + destination_dir if destination_dir else ""} in this ML '
      'Metadata store'
    )
  if model_version is not None:
    pushed = [p for p in pushed if p[0] == str(model_version)]
    if not pushed:
      versions = ', '.join(v for v, _, _ in pushed_models(store, pipeline_name))
      where = f' to {destination_dir}' if destination_dir else ''
      raise BaselineNotFound(
        f'Model version {model_version} was not pushed{where} by pipeline '
        f'{pipeline_name!r} (pushed versions: {versions or "none"})'
      )
  version, pushed_model, pusher_execution = pushed[-1]
  model = _single(_inputs(store, pusher_execution), 'model', 'pusher')
  trainer_inputs = _inputs(store, _producer(store, model))
  transformed = _single(trainer_inputs, 'examples', 'trainer')
  transform_inputs = _inputs(store, _producer(store, transformed))
  examples = _single(transform_inputs, 'examples', 'transform')
  schema = _single(transform_inputs, 'schema', 'transform')
  statistics = None
  consumers = [
    e.execution_id
    for e in store.get_events_by_artifact_ids([examples.id])
    if e.type == _INPUT
  ]
  for execution_id in sorted(consumers, reverse=True):
    events = store.get_events_by_execution_ids([execution_id])
    found = lineage.artifacts_by_key(store, events, _OUTPUT).get('statistics')
    if found:
      statistics = found[-1]
      break
  if statistics is None:
    raise BaselineNotFound(
      f'No statistics of the training examples {examples.uri}'
    )
  return Baseline(
    model_version=version,
    pushed_model_uri=pushed_model.uri,
    model_uri=model.uri,
    examples_uri=examples.uri,
    statistics_uri=statistics.uri,
    schema_uri=schema.uri,
    split=split,
  )
