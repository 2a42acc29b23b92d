"""One HTML report per training-pipeline run, from what the run recorded in
ML Metadata: <work-dir>/reports/<run>.html."""

import json
import os
from typing import Dict, Optional, Sequence

import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma
from ml_metadata import metadata_store

from core import artifacts, lineage, names
from reports import (
  data_section,
  model_card,
  model_section,
  page,
  transform_section,
)

REPORTS_DIR = 'reports'


def report_path(work_dir: str, run_name: str) -> str:
  return os.path.join(work_dir, REPORTS_DIR, f'{run_name}.html')


def _split_names(artifact) -> list:
  value = artifact.properties.get('split_names')
  return json.loads(value.string_value) if value else []


def _first(outputs: Dict, node: str, key: str):
  found = outputs.get(node, {}).get(key)
  return found[-1] if found else None


def read_model_analysis(outputs: Dict) -> Optional[Dict]:
  """model_analysis.json of the run's model_analysis component, whatever
  its output key; None when the run has no such output."""
  for found in outputs.get(names.MODEL_ANALYSIS, {}).values():
    for artifact in found:
      path = os.path.join(artifact.uri, names.MODEL_ANALYSIS_FILE)
      if os.path.isfile(path):
        with open(path) as f:
          return json.load(f)
  return None


def _pushed_version(outputs: Dict) -> Optional[str]:
  pushed = _first(outputs, names.PUSHER, names.PUSHED_MODEL)
  if pushed is None:
    return None
  props = pushed.custom_properties
  if names.PUSHED in props and props[names.PUSHED].int_value:
    return props[names.PUSHED_VERSION].string_value
  return None


def _stopped(node: str) -> list:
  return [page.note(f'Not produced by this run: it stopped before {node}.')]


def build(
  store: metadata_store.MetadataStore,
  pipeline_name: str,
  node_ids: Sequence[str],
  since_seconds: float,
  run_name: str,
) -> page.Page:
  since_ms = int(since_seconds * 1000)
  outputs = {
    node: lineage.latest_outputs(store, pipeline_name, node, since_ms)[1]
    for node in node_ids
  }
  report = page.Page(f'Pipeline {pipeline_name}: run {run_name}')

  statistics = _first(outputs, names.STATISTICS_GEN, names.STATISTICS)
  schema = _first(outputs, names.SCHEMA_IMPORTER, names.SCHEMA)
  anomalies = _first(outputs, names.EXAMPLE_VALIDATOR, names.ANOMALIES)
  if statistics is not None and schema is not None:
    stats_by_split = {
      split: tfdv.load_stats_binary(
        artifacts.statistics_path(statistics.uri, split)
      )
      for split in _split_names(statistics)
    }
    report.section(
      'data',
      'Data',
      data_section.section(
        stats_by_split,
        artifacts.read_schema(schema.uri),
        'curated, schema/schema.pbtxt',
        lineage.anomalies_by_split(anomalies) if anomalies else {},
      ),
    )
  else:
    report.section('data', 'Data', _stopped(names.STATISTICS_GEN))

  examples = _first(outputs, names.EXAMPLE_GEN, names.EXAMPLES)
  transformed = _first(outputs, names.TRANSFORM, names.TRANSFORMED_EXAMPLES)
  if examples is not None and transformed is not None:
    report.section(
      'transform',
      'Transform',
      transform_section.section(
        os.path.join(examples.uri, f'Split-{names.TRAIN_SPLIT}'),
        os.path.join(transformed.uri, f'Split-{names.TRAIN_SPLIT}'),
      ),
    )
  else:
    report.section('transform', 'Transform', _stopped(names.TRANSFORM))

  model = _first(outputs, names.TRAINER, names.MODEL)
  model_metadata = artifacts.read_model_metadata(model.uri) if model else {}
  evaluation_artifact = _first(outputs, names.EVALUATOR, names.EVALUATION)
  evaluation = (
    artifacts.read_evaluation(evaluation_artifact.uri)
    if evaluation_artifact is not None
    else None
  )
  blessing = _first(outputs, names.EVALUATOR, names.BLESSING)
  blessed = (
    bool(blessing.custom_properties[names.BLESSED].int_value)
    if blessing is not None and names.BLESSED in blessing.custom_properties
    else None
  )
  if evaluation_artifact is not None and blessed is None:
    blessed = tfma.load_validation_result(evaluation_artifact.uri).validation_ok
  analysis = read_model_analysis(outputs)
  report.section(
    'model',
    'Model',
    model_section.section(
      evaluation, blessed, model_metadata.get('decision_threshold'), analysis
    ),
  )
  version = _pushed_version(outputs)
  chain = (
    lineage.model_lineage(store, pipeline_name, version) if version else None
  )
  report.section(
    'model-card',
    'Model card',
    model_card.section(model_metadata, evaluation, chain, analysis)
    if model is not None
    else _stopped(names.TRAINER),
  )
  return report


def write_run_report(
  connection_config,
  pipeline_name: str,
  node_ids: Sequence[str],
  since_seconds: float,
  path: str,
) -> str:
  """Writes the report of the run that started at `since_seconds`."""
  store = metadata_store.MetadataStore(connection_config)
  run_name = os.path.splitext(os.path.basename(path))[0]
  return build(store, pipeline_name, node_ids, since_seconds, run_name).write(
    path
  )
