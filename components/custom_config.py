"""String settings for a custom ExampleGen executor, carried in its
CustomConfig as a packed google.protobuf.Struct."""

from typing import Any, Dict

from google.protobuf import struct_pb2
from tfx import v1 as tfx
from tfx.utils import proto_utils


def pack(values: Dict[str, str]) -> tfx.proto.CustomConfig:
  """The `custom_config` to give FileBasedExampleGen."""
  struct = struct_pb2.Struct()
  struct.update(values)
  custom_config = tfx.proto.CustomConfig()
  custom_config.custom_config.Pack(struct)
  return custom_config


def unpack(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
  """The values `pack` stored, from the executor's exec_properties (where
  TFX passes the CustomConfig as JSON)."""
  custom_config = tfx.proto.CustomConfig()
  proto_utils.json_to_proto(exec_properties['custom_config'], custom_config)
  struct = struct_pb2.Struct()
  custom_config.custom_config.Unpack(struct)
  return dict(struct)
