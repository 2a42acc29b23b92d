"""Small ML Metadata queries shared by the run summary and the monitoring baseline."""

from typing import Dict, List, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

# TFX records every node's executions under a context of this type, named
# "<pipeline name>.<node id>" (the node ids are the .with_id() names).
NODE_CONTEXT_TYPE = 'node'


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
