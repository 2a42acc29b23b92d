"""ML Metadata queries both pipelines share: a node's context, the artifacts
of an execution's events, the model versions a pipeline pushed, and the
lineage of a pushed version back to the data that trained it:

pusher (PushedModel, custom properties pushed_version/pushed_destination)
  [<- InfraBlessing <- infra_validator execution]
  <- Model <- trainer execution <- transformed examples <- transform
  execution <- Examples (example_gen) -> statistics_gen -> ExampleStatistics
             <- Schema (schema_importer)
"""

import dataclasses
import datetime
import json
import os
from typing import Dict, List, Optional, Tuple

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

from core import artifacts, names

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


def latest_outputs(
  store: metadata_store.MetadataStore,
  pipeline_name: str,
  node_id: str,
  since_ms: int,
) -> Tuple[
  Optional[metadata_store_pb2.Execution],
  Dict[str, List[metadata_store_pb2.Artifact]],
]:
  """(execution, {output key: [artifacts]}) of the node's newest execution
  created at or after `since_ms` (a run's start), or (None, {})."""
  context = node_context(store, pipeline_name, node_id)
  if context is None:
    return None, {}
  executions = [
    e
    for e in store.get_executions_by_context(context.id)
    if e.create_time_since_epoch >= since_ms
  ]
  if not executions:
    return None, {}
  execution = max(executions, key=lambda e: e.id)
  return execution, artifacts_by_key(
    store, store.get_events_by_execution_ids([execution.id]), _OUTPUT
  )


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


def pushed_source_model(store, pusher_inputs) -> metadata_store_pb2.Artifact:
  """The Trainer's model behind a push: the Pusher's `model` input or,
  when it pushed the infra validator's warmed-up copy (its InfraBlessing,
  as TFX's Pusher does without a `model` input), the validator's `model`
  input."""
  if pusher_inputs.get(names.MODEL):
    return pusher_inputs[names.MODEL][-1]
  blessing = _single(pusher_inputs, names.INFRA_BLESSING, 'pusher')
  return _single(
    _inputs(store, _producer(store, blessing)), names.MODEL, 'infra_validator'
  )


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
  model = pushed_source_model(store, _inputs(store, pusher_execution))
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


# --- Queries for people (python -m lineage): plain dicts, JSON-ready. ---


def _time(ms: int) -> Optional[str]:
  if not ms:
    return None
  return datetime.datetime.fromtimestamp(
    ms / 1000, datetime.timezone.utc
  ).strftime('%Y-%m-%dT%H:%M:%SZ')


def _value(value: metadata_store_pb2.Value):
  kind = value.WhichOneof('value')
  if kind == 'proto_value':  # Not needed for reading: leave it out.
    return None
  return getattr(value, kind) if kind else None


def _parsed(text):
  """TFX stores proto and dict exec properties as JSON strings."""
  if isinstance(text, str) and text[:1] in '{[':
    try:
      return json.loads(text)
    except ValueError:
      return text
  return text


def _execution(store, execution_id: int) -> Dict:
  [execution] = store.get_executions_by_id([execution_id])
  [execution_type] = store.get_execution_types_by_id([execution.type_id])
  return {
    'id': execution.id,
    'type': execution_type.name,
    'state': metadata_store_pb2.Execution.State.Name(
      execution.last_known_state
    ),
    'started': _time(execution.create_time_since_epoch),
    'finished': _time(execution.last_update_time_since_epoch),
    'properties': {
      key: _parsed(_value(value))
      for key, value in sorted(execution.custom_properties.items())
      if not key.startswith('__') and _value(value) not in (None, '')
    },
  }


def _outputs(store, execution_id: int):
  return artifacts_by_key(
    store, store.get_events_by_execution_ids([execution_id]), _OUTPUT
  )


def _consumer_output(store, artifact, key: str):
  """The `key` output of the newest execution that consumed `artifact`."""
  consumers = sorted(
    (
      e.execution_id
      for e in store.get_events_by_artifact_ids([artifact.id])
      if e.type == _INPUT
    ),
    reverse=True,
  )
  for execution_id in consumers:
    found = _outputs(store, execution_id).get(key)
    if found:
      return found[-1], execution_id
  return None, None


def _split_names(artifact) -> List[str]:
  value = artifact.properties.get('split_names')
  return json.loads(value.string_value) if value else []


def _rows_per_split(statistics) -> Dict[str, int]:
  rows = {}
  for split in _split_names(statistics):
    with open(artifacts.statistics_path(statistics.uri, split), 'rb') as f:
      stats = statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())
    rows[split] = int(stats.datasets[0].num_examples)
  return rows


def anomalies_by_split(anomalies) -> Dict[str, List[Dict[str, str]]]:
  """feature, kind and description of each anomaly, per split."""
  by_split = {}
  for split in _split_names(anomalies):
    found = artifacts.read_anomalies_file(anomalies.uri, split)
    by_split[split] = [
      {
        'feature': feature,
        'kind': anomalies_pb2.AnomalyInfo.Type.Name(reason.type),
        'description': reason.description,
      }
      for feature, info in sorted(found.anomaly_info.items())
      for reason in info.reason
    ]
  return by_split


def _schema_source(store, schema) -> Dict:
  execution = _execution(store, _producer(store, schema))
  curated = 'schema_file' in execution['properties']
  return {
    'uri': schema.uri,
    'kind': 'curated' if curated else 'inferred',
    'file': execution['properties'].get('schema_file'),
    'execution': execution['id'],
  }


def _input_files(examples) -> List[Dict]:
  recorded = examples.custom_properties.get(names.INPUT_FILES)
  return json.loads(recorded.string_value) if recorded else []


def model_lineage(
  store: metadata_store.MetadataStore,
  pipeline_name: str,
  model_version: Optional[str] = None,
) -> Dict:
  """Everything a pushed version (default: the latest) came from, back to
  its input files; raises LineageNotFound."""
  pushed = pushed_models(store, pipeline_name)
  if not pushed:
    raise LineageNotFound(
      f'Pipeline {pipeline_name!r} has pushed no model in this ML Metadata '
      'store'
    )
  if model_version is not None:
    pushed = [p for p in pushed if p[0] == str(model_version)]
    if not pushed:
      versions = ', '.join(v for v, _, _ in pushed_models(store, pipeline_name))
      raise LineageNotFound(
        f'Model version {model_version} was not pushed by pipeline '
        f'{pipeline_name!r} (pushed versions: {versions})'
      )
  version, pushed_model, pusher_id = pushed[-1]
  pusher_inputs = _inputs(store, pusher_id)
  model = pushed_source_model(store, pusher_inputs)
  blessing = _single(pusher_inputs, names.MODEL_BLESSING, 'pusher')
  trainer_id = _producer(store, model)
  trainer_inputs = _inputs(store, trainer_id)
  transformed = _single(trainer_inputs, names.EXAMPLES, 'trainer')
  transform_graph = _single(trainer_inputs, names.TRANSFORM_GRAPH, 'trainer')
  transform_id = _producer(store, transformed)
  transform_inputs = _inputs(store, transform_id)
  examples = _single(transform_inputs, names.EXAMPLES, 'transform')
  schema = _single(transform_inputs, names.SCHEMA, 'transform')
  statistics, statistics_id = _consumer_output(
    store, examples, names.STATISTICS
  )
  if statistics is None:
    raise LineageNotFound(
      f'No statistics of the training examples {examples.uri}'
    )
  anomalies, validator_id = _consumer_output(store, statistics, names.ANOMALIES)
  inferred, _ = _consumer_output(store, statistics, names.SCHEMA)
  evaluator_id = _producer(store, blessing)
  # The Pusher's blessing comes from model_analysis, which gates on the
  # Evaluator's blessing: follow that back to the Evaluator.
  evaluator_blessing = _inputs(store, evaluator_id).get('evaluator_blessing')
  if evaluator_blessing:
    evaluator_id = _producer(store, evaluator_blessing[-1])
  evaluator_inputs = _inputs(store, evaluator_id)
  evaluation = _outputs(store, evaluator_id).get(names.EVALUATION, [None])[-1]
  baseline = evaluator_inputs.get('baseline_model', [None])[-1]
  if baseline is not None and (
    baseline.custom_properties[names.BASELINE_FOUND].int_value != 1
  ):
    baseline = None  # production_baseline found nothing pushed yet.
  example_gen = _execution(store, _producer(store, examples))
  props = pushed_model.custom_properties
  return {
    'pipeline': pipeline_name,
    'model_version': version,
    'push': {
      'time': _time(
        store.get_executions_by_id([pusher_id])[0].last_update_time_since_epoch
      ),
      'destination': props[names.PUSHED_DESTINATION].string_value
      if names.PUSHED_DESTINATION in props
      else None,
      'artifact': pushed_model.uri,
      'execution': pusher_id,
    },
    'evaluation': {
      'uri': evaluation.uri if evaluation else None,
      'blessed': bool(blessing.custom_properties[names.BLESSED].int_value)
      if names.BLESSED in blessing.custom_properties
      else None,
      'baseline_model': baseline.uri if baseline else None,
      'metrics': (
        artifacts.read_overall_metrics(evaluation.uri) if evaluation else {}
      ),
      'execution': _execution(store, evaluator_id),
    },
    'trainer': {
      'model': model.uri,
      'decision_threshold': artifacts.read_model_metadata(model.uri).get(
        'decision_threshold'
      ),
      'execution': _execution(store, trainer_id),
    },
    'transform': {
      'graph': transform_graph.uri,
      'execution': _execution(store, transform_id),
    },
    'schema': _schema_source(store, schema),
    'inferred_schema': inferred.uri if inferred else None,
    'anomalies': {
      'uri': anomalies.uri if anomalies else None,
      'execution': validator_id,
      'by_split': anomalies_by_split(anomalies) if anomalies else {},
    },
    'statistics': {'uri': statistics.uri, 'execution': statistics_id},
    'splits': _rows_per_split(statistics),
    'examples': {
      'uri': examples.uri,
      'input_base': example_gen['properties'].get('input_base'),
      # TFX's fingerprint: file count, bytes and modification times.
      'input_fingerprint': example_gen['properties'].get('input_fingerprint'),
      'files': _input_files(examples),
      'execution': example_gen['id'],
    },
  }


def _under(path: str, directory: str) -> bool:
  directory = os.path.abspath(directory)
  return os.path.abspath(path) == directory or os.path.abspath(path).startswith(
    directory.rstrip('/') + '/'
  )


def models_trained_on(
  store: metadata_store.MetadataStore, pipeline_name: str, path: str
) -> List[Dict]:
  """The pushed versions whose training input (a file, or the input base
  directory) is `path` or lies under it, oldest first."""
  found = []
  for version, _, _ in pushed_models(store, pipeline_name):
    chain = model_lineage(store, pipeline_name, version)
    data = chain['examples']
    files = [f['path'] for f in data['files'] if _under(f['path'], path)]
    if files or (data['input_base'] and _under(data['input_base'], path)):
      found.append(
        {
          'model_version': version,
          'pushed_to': chain['push']['destination'],
          'pushed_at': chain['push']['time'],
          'input_base': data['input_base'],
          'files': files or [f['path'] for f in data['files']],
        }
      )
  return found


def monitoring_runs(
  store: metadata_store.MetadataStore,
  monitoring_pipeline: str,
  pushed_model_id: int,
) -> List[Dict]:
  """The monitoring runs whose report checked serving data against this
  pushed model (their skew_report took it as an input), oldest first."""
  context = node_context(store, monitoring_pipeline, names.SKEW_REPORT)
  if context is None:
    return []
  runs = []
  for execution in sorted(
    store.get_executions_by_context(context.id), key=lambda e: e.id
  ):
    inputs = _inputs(store, execution.id)
    if not any(
      a.id == pushed_model_id for a in inputs.get(names.PUSHED_MODEL, [])
    ):
      continue
    reports = _outputs(store, execution.id).get(names.REPORT, [])
    report = reports[-1] if reports else None
    runs.append(
      {
        'execution': execution.id,
        'state': metadata_store_pb2.Execution.State.Name(
          execution.last_known_state
        ),
        'time': _time(execution.create_time_since_epoch),
        'report': os.path.join(report.uri, names.REPORT_FILE)
        if report
        else None,
        'findings': {
          key: value.int_value
          for key, value in sorted(report.custom_properties.items())
          if value.WhichOneof('value') == 'int_value'
        }
        if report
        else {},
      }
    )
  return runs


def request_lineage(
  store: metadata_store.MetadataStore,
  pipeline_name: str,
  monitoring_pipeline: str,
  records: List[Dict],
) -> Dict:
  """The version that served a logged request (its request-log records)
  and the monitoring runs that checked data served by that version."""
  first = records[0]
  version = str(first['model_version'])
  pushed = [p for p in pushed_models(store, pipeline_name) if p[0] == version]
  if not pushed:
    raise LineageNotFound(
      f'Request {first["request_id"]} was served by model version {version}, '
      f'which pipeline {pipeline_name!r} did not push in this ML Metadata '
      'store'
    )
  _, pushed_model, _ = pushed[-1]
  return {
    'request_id': first['request_id'],
    'timestamp': first['timestamp'],
    'model_name': first['model_name'],
    'model_version': version,
    'signature_name': first['signature_name'],
    'method': first['method'],
    'instances': len(records),
    'latency_us': first['latency_us'],
    'outputs': [r['outputs'] for r in records],
    'pushed_to': pushed_model.custom_properties[
      names.PUSHED_DESTINATION
    ].string_value,
    'monitoring_runs': monitoring_runs(
      store, monitoring_pipeline, pushed_model.id
    ),
  }
