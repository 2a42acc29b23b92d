"""pipeline.lineage against a real (in-memory) ML Metadata store."""

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from core import lineage

Event = metadata_store_pb2.Event


def _store() -> metadata_store.MetadataStore:
  config = metadata_store_pb2.ConnectionConfig()
  config.fake_database.SetInParent()
  return metadata_store.MetadataStore(config)


def _event(
  artifact_id: int, execution_id: int, kind, key: str, index: int = 0
) -> Event:
  event = Event(artifact_id=artifact_id, execution_id=execution_id, type=kind)
  event.path.steps.add().key = key
  event.path.steps.add().index = index
  return event


def test_node_context_is_found_by_pipeline_and_node_id():
  store = _store()
  type_id = store.put_context_type(
    metadata_store_pb2.ContextType(name=lineage.NODE_CONTEXT_TYPE)
  )
  [context_id] = store.put_contexts(
    [metadata_store_pb2.Context(type_id=type_id, name='taxi.trainer')]
  )
  assert lineage.node_context(store, 'taxi', 'trainer').id == context_id
  assert lineage.node_context(store, 'taxi', 'pusher') is None
  assert lineage.node_context(store, 'other', 'trainer') is None


def test_artifacts_by_key_keeps_only_the_asked_kind_in_event_order():
  store = _store()
  artifact_type = store.put_artifact_type(
    metadata_store_pb2.ArtifactType(name='Examples')
  )
  execution_type = store.put_execution_type(
    metadata_store_pb2.ExecutionType(name='Transform')
  )
  [execution_id] = store.put_executions(
    [metadata_store_pb2.Execution(type_id=execution_type)]
  )
  ids = store.put_artifacts(
    [
      metadata_store_pb2.Artifact(type_id=artifact_type, uri=f'/a/{i}')
      for i in range(4)
    ]
  )
  store.put_events(
    [
      _event(ids[0], execution_id, Event.INPUT, 'examples'),
      _event(ids[1], execution_id, Event.OUTPUT, 'transformed_examples'),
      _event(ids[2], execution_id, Event.INPUT, 'examples', 1),
      _event(ids[3], execution_id, Event.OUTPUT, 'transform_graph'),
    ]
  )
  events = store.get_events_by_execution_ids([execution_id])

  inputs = lineage.artifacts_by_key(store, events, Event.INPUT)
  outputs = lineage.artifacts_by_key(store, events, Event.OUTPUT)

  assert {k: [a.uri for a in v] for k, v in inputs.items()} == {
    'examples': ['/a/0', '/a/2']
  }
  assert {k: [a.uri for a in v] for k, v in outputs.items()} == {
    'transformed_examples': ['/a/1'],
    'transform_graph': ['/a/3'],
  }
