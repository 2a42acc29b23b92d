"""Reads the files inside TFX artifacts (schema, statistics, anomalies) by
the names in core.names, for any component or summary that needs them."""

import json
import os
from typing import Dict

import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma
from tensorflow_metadata.proto.v0 import (
  anomalies_pb2,
  schema_pb2,
  statistics_pb2,
)
from tfx.types import artifact_utils
from tfx.utils import io_utils
from tfx.v1.dsl import Artifact

from core import names


def split_uri(artifact: Artifact, split: str) -> str:
  return artifact_utils.get_split_uri([artifact], split)


def split_names(artifact: Artifact):
  return artifact_utils.decode_split_names(artifact.split_names)


def read_schema(uri: str) -> schema_pb2.Schema:
  """The schema in a Schema artifact's directory (or schema/)."""
  return io_utils.parse_pbtxt_file(
    os.path.join(uri, names.SCHEMA_FILE), schema_pb2.Schema()
  )


def write_schema(uri: str, schema: schema_pb2.Schema) -> None:
  io_utils.write_pbtxt_file(os.path.join(uri, names.SCHEMA_FILE), schema)


def statistics_path(statistics_uri: str, split: str) -> str:
  return os.path.join(statistics_uri, f'Split-{split}', names.STATISTICS_FILE)


def read_statistics(
  artifact: Artifact, split: str
) -> statistics_pb2.DatasetFeatureStatisticsList:
  return tfdv.load_stats_binary(
    os.path.join(split_uri(artifact, split), names.STATISTICS_FILE)
  )


def read_anomalies(artifact: Artifact, split: str) -> anomalies_pb2.Anomalies:
  path = os.path.join(split_uri(artifact, split), names.ANOMALIES_FILE)
  with open(path, 'rb') as f:
    return anomalies_pb2.Anomalies.FromString(f.read())


def read_anomalies_file(uri: str, split: str) -> anomalies_pb2.Anomalies:
  """The anomalies of `split` in an ExampleAnomalies artifact's directory."""
  path = os.path.join(uri, f'Split-{split}', names.ANOMALIES_FILE)
  with open(path, 'rb') as f:
    return anomalies_pb2.Anomalies.FromString(f.read())


def slice_name(slice_key) -> str:
  return ', '.join(f'{k}={v}' for k, v in slice_key) or 'overall'


def read_evaluation(uri: str) -> Dict[str, Dict[str, Dict[str, float]]]:
  """TFMA's metrics in an Evaluator's output: model ('candidate', or
  'baseline' when the run had one) -> slice name -> metric -> value."""
  by_model: Dict[str, Dict[str, Dict[str, float]]] = {}
  for metrics_for_slice in tfma.load_metrics(uri):
    name = slice_name(
      tfma.slicer.deserialize_slice_key(metrics_for_slice.slice_key)
    )
    for key_and_value in metrics_for_slice.metric_keys_and_values:
      key, value = key_and_value.key, key_and_value.value
      if key.is_diff or not value.HasField('double_value'):
        continue
      model = key.model_name or 'candidate'
      by_model.setdefault(model, {}).setdefault(name, {})[key.name] = (
        value.double_value.value
      )
  return by_model


def read_overall_metrics(uri: str) -> Dict[str, float]:
  return read_evaluation(uri).get('candidate', {}).get('overall', {})


def serving_model_dir(model_uri: str) -> str:
  """The SavedModel inside a Trainer's Model artifact."""
  return os.path.join(model_uri, names.SERVING_MODEL_DIR)


def read_model_metadata(model_uri: str) -> Dict:
  """assets.extra/model_metadata.json of a Model artifact ({} if absent)."""
  path = os.path.join(serving_model_dir(model_uri), names.MODEL_METADATA_FILE)
  if not os.path.isfile(path):
    return {}
  with open(path) as f:
    return json.load(f)
