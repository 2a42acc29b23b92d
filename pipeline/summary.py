"""What a run did, read back from ML Metadata and its artifacts."""

import dataclasses
import json
import os
from typing import Dict, List, Optional

import tensorflow_model_analysis as tfma
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.types import artifact_utils

from components import data_gate, infra_validation, production_baseline
from core import artifacts, lineage, names
from models.signatures import PROBABILITY
from pipeline.eval_config import DECISION


@dataclasses.dataclass
class RunSummary:
  rows_per_split: Dict[str, int] = dataclasses.field(default_factory=dict)
  anomalies: List[data_gate.Anomaly] = dataclasses.field(default_factory=list)
  # Slice name -> metric name -> value, on the Evaluator's split, slices in
  # order (numbers numerically); an undefined AUC (no positives or no
  # negatives in the slice) is None.
  metrics: Dict[str, Dict[str, Optional[float]]] = dataclasses.field(
    default_factory=dict
  )
  validation_failures: List[str] = dataclasses.field(default_factory=list)
  # The Evaluator's verdict, and the final one (model_analysis: the
  # Evaluator's and the gate against the baselines).
  evaluator_blessed: Optional[bool] = None
  blessed: Optional[bool] = None
  # What the candidate was compared against: the version production served
  # (production_baseline), or that there was none yet.
  production_baseline: Optional[str] = None
  # model_analysis.json (docs/model_quality.md), when model_analysis ran.
  model_analysis: Optional[dict] = None
  # infra_validator's verdict and infra_validation.json (passed, reason,
  # server, measurements), with `step_s`: how long its execution took.
  infra_blessed: Optional[bool] = None
  infra_validation: Optional[dict] = None
  pushed_to: Optional[str] = None
  cached_nodes: List[str] = dataclasses.field(default_factory=list)


def _latest_outputs(
  store: metadata_store.MetadataStore,
  pipeline_name: str,
  node_id: str,
  since_ms: int,
):
  """(execution, {output key: [TFX artifacts]}) of the node's newest
  execution created after `since_ms`, or (None, {})."""
  execution, by_key = lineage.latest_outputs(
    store, pipeline_name, node_id, since_ms
  )
  artifact_types = {t.id: t for t in store.get_artifact_types()}
  outputs = {
    key: [
      artifact_utils.deserialize_artifact(artifact_types[a.type_id], a)
      for a in artifacts
    ]
    for key, artifacts in by_key.items()
  }
  return execution, outputs


def _metric_values(metrics_for_slice) -> Dict[str, float]:
  values = {}
  for key_and_value in metrics_for_slice.metric_keys_and_values:
    key, value = key_and_value.key, key_and_value.value
    if key.model_name and key.is_diff:
      continue
    if value.HasField('double_value'):
      values[
        f'{key.output_name}/{key.name}'
        if key.output_name not in (PROBABILITY, DECISION)
        else key.name
      ] = value.double_value.value
  return values


def slice_name(slice_key) -> str:
  return ', '.join(f'{k}={v}' for k, v in slice_key) or 'overall'


def slice_order(slice_key) -> tuple:
  """Overall first, then by feature; numbers numerically (hour 2 before
  10), then text."""
  return tuple(
    (k, (0, v, '') if isinstance(v, (int, float)) else (1, 0, str(v)))
    for k, v in slice_key
  )


def _without_undefined_auc(values: Dict[str, float]) -> dict:
  """TFMA reports AUC 0 for a slice of one class, where it is undefined."""
  if values.get('mean_label') in (0.0, 1.0) and 'auc' in values:
    values['auc'] = None
  return values


def read_model_analysis(artifact) -> dict:
  with open(os.path.join(artifact.uri, names.MODEL_ANALYSIS_FILE)) as f:
    return json.load(f)


def summarize(
  connection_config, pipeline_name: str, node_ids, since_seconds: float
) -> RunSummary:
  """Reads the outputs of every node that ran (or was cached) since then."""
  store = metadata_store.MetadataStore(connection_config)
  since_ms = int(since_seconds * 1000)
  summary = RunSummary()
  outputs_by_node = {}
  for node_id in node_ids:
    execution, outputs_by_node[node_id] = _latest_outputs(
      store, pipeline_name, node_id, since_ms
    )
    if execution is not None and (
      execution.last_known_state == metadata_store_pb2.Execution.CACHED
    ):
      summary.cached_nodes.append(node_id)

  statistics = outputs_by_node.get(names.STATISTICS_GEN, {}).get(
    names.STATISTICS, []
  )
  for artifact in statistics:
    for split in artifacts.split_names(artifact):
      stats = artifacts.read_statistics(artifact, split)
      summary.rows_per_split[split] = stats.datasets[0].num_examples

  validator = outputs_by_node.get(names.EXAMPLE_VALIDATOR, {})
  for artifact in validator.get(names.ANOMALIES, []):
    summary.anomalies = data_gate.read_anomalies(artifact)

  production = outputs_by_node.get(names.PRODUCTION_BASELINE, {})
  for artifact in production.get(names.BASELINE, []):
    summary.production_baseline = production_baseline.describe(artifact)

  evaluation = outputs_by_node.get(names.EVALUATOR, {})
  for artifact in evaluation.get(names.EVALUATION, []):
    by_slice = {}
    for metrics_for_slice in tfma.load_metrics(artifact.uri):
      key = tfma.slicer.deserialize_slice_key(metrics_for_slice.slice_key)
      by_slice.setdefault(key, {}).update(_metric_values(metrics_for_slice))
    for key in sorted(by_slice, key=slice_order):
      summary.metrics[slice_name(key)] = _without_undefined_auc(by_slice[key])
    validation = tfma.load_validation_result(artifact.uri)
    for failure in validation.metric_validations_per_slice:
      for failed in failure.failures:
        summary.validation_failures.append(
          f'{slice_name(tfma.slicer.deserialize_slice_key(failure.slice_key))}'
          f': {failed.metric_key.name} = {failed.metric_value.double_value.value:.4f}'
          f' fails {failed.message or "its threshold"}'
        )
  for artifact in evaluation.get(names.BLESSING, []):
    summary.evaluator_blessed = bool(
      artifact.get_int_custom_property(names.BLESSED)
    )
    summary.blessed = summary.evaluator_blessed
  analysis = outputs_by_node.get(names.MODEL_ANALYSIS, {})
  for artifact in analysis.get(names.ANALYSIS, []):
    summary.model_analysis = read_model_analysis(artifact)
  for artifact in analysis.get(names.BLESSING, []):
    summary.blessed = bool(artifact.get_int_custom_property(names.BLESSED))

  execution, infra = _latest_outputs(
    store, pipeline_name, names.INFRA_VALIDATOR, since_ms
  )
  for artifact in infra.get(names.BLESSING, []):
    summary.infra_blessed = bool(
      artifact.get_int_custom_property(infra_validation.BLESSED_KEY)
    )
    summary.infra_validation = infra_validation.read_result(artifact.uri)
    if summary.infra_validation is not None:
      summary.infra_validation['step_s'] = round(
        (
          execution.last_update_time_since_epoch
          - execution.create_time_since_epoch
        )
        / 1000,
        1,
      )

  pusher = outputs_by_node.get(names.PUSHER, {})
  for artifact in pusher.get(names.PUSHED_MODEL, []):
    if artifact.get_int_custom_property(names.PUSHED):
      summary.pushed_to = artifact.get_string_custom_property(
        names.PUSHED_DESTINATION
      )
  return summary
