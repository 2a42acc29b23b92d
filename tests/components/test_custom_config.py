"""components.custom_config: what pack stores, unpack reads back from the
JSON form in which TFX hands exec_properties to an executor."""

from tfx.utils import proto_utils

from components import custom_config


def test_values_survive_the_trip_through_exec_properties():
  values = {'schema_path': '/tmp/schema.pbtxt', 'model_version': ''}
  packed = custom_config.pack(values)
  exec_properties = {'custom_config': proto_utils.proto_to_json(packed)}
  assert custom_config.unpack(exec_properties) == values
