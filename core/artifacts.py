"""Reads the files inside TFX artifacts (schema, statistics, anomalies) by
the names in core.names, for any component or summary that needs them."""

import os

import tensorflow_data_validation as tfdv
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
