"""serving/protos: the committed generated module is what protoc makes of the .proto today."""

import pathlib

from serving.protos import compile as protos_compile
from serving.protos import tf_serving_config_pb2


def test_generated_module_is_current(tmp_path):
  generated = pathlib.Path(protos_compile.compile_proto(str(tmp_path)))
  committed = pathlib.Path(tf_serving_config_pb2.__file__)
  assert generated.read_text() == committed.read_text(), (
    'serving/protos/tf_serving_config_pb2.py is stale: run .venv/bin/python -m serving.protos.compile'
  )


def test_messages_carry_tf_servings_full_names():
  assert {
    message.DESCRIPTOR.full_name
    for message in (
      tf_serving_config_pb2.BatchingParameters,
      tf_serving_config_pb2.MonitoringConfig,
      tf_serving_config_pb2.PrometheusConfig,
    )
  } == {
    'tensorflow.serving.BatchingParameters',
    'tensorflow.serving.MonitoringConfig',
    'tensorflow.serving.PrometheusConfig',
  }
