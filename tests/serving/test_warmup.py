"""The warm-up file (assets.extra/tf_serving_warmup_requests) is replayed
before a version is AVAILABLE, and a failing record fails the load."""

import logging
import os
import shutil

import tensorflow as tf
from tensorflow_serving.apis import (
  classification_pb2,
  predict_pb2,
  prediction_log_pb2,
  regression_pb2,
)

from serving import warmup
from serving.config import ModelSpec
from serving.model_manager import ModelManager
from serving.servable import Servable
from tests.serving.conftest import raw_instance


def _predict_log(signature='serving_default', rows=2):
  request = predict_pb2.PredictRequest()
  request.model_spec.name = 'taxi'
  request.model_spec.signature_name = signature
  instance = raw_instance()
  for name, value in instance.items():
    request.inputs[name].CopyFrom(tf.make_tensor_proto([value] * rows))
  return prediction_log_pb2.PredictionLog(
    predict_log=prediction_log_pb2.PredictLog(request=request)
  )


def _example():
  example = tf.train.Example()
  for name, value in raw_instance().items():
    feature = example.features.feature[name]
    if isinstance(value, str):
      feature.bytes_list.value.append(value.encode())
    else:
      feature.float_list.value.append(value)
  return example


def _classify_and_regress_logs():
  classify = classification_pb2.ClassificationRequest()
  classify.model_spec.name = 'taxi'
  classify.model_spec.signature_name = 'classification'
  classify.input.example_list.examples.append(_example())
  regress = regression_pb2.RegressionRequest()
  regress.model_spec.name = 'taxi'
  regress.model_spec.signature_name = 'regression'
  regress.input.example_list.examples.append(_example())
  return [
    prediction_log_pb2.PredictionLog(
      classify_log=prediction_log_pb2.ClassifyLog(request=classify)
    ),
    prediction_log_pb2.PredictionLog(
      regress_log=prediction_log_pb2.RegressLog(request=regress)
    ),
  ]


def _version_with_warmup(template, base_path, logs):
  version = os.path.join(base_path, '1')
  shutil.copytree(template, version)
  path = warmup.warmup_path(version)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with tf.io.TFRecordWriter(path) as writer:
    for log in logs:
      writer.write(log.SerializeToString())
  return version


def test_every_record_is_replayed(model_v1_template, tmp_path):
  logs = [_predict_log(), _predict_log(rows=1), *_classify_and_regress_logs()]
  version = _version_with_warmup(model_v1_template[1], str(tmp_path), logs)
  assert warmup.replay(Servable('taxi', 1, version)) == 4


def test_no_file_replays_nothing(model_v1_template):
  assert warmup.replay(Servable('taxi', 1, model_v1_template[1])) == 0


def test_version_is_available_after_its_warmup(
  model_v1_template, tmp_path, caplog
):
  _version_with_warmup(
    model_v1_template[1], str(tmp_path), [_predict_log()] * 3
  )
  manager = ModelManager(ModelSpec('taxi', str(tmp_path)))
  with caplog.at_level(logging.INFO, logger='serving.warmup'):
    manager.poll_once()
  assert manager.status()[0]['state'] == 'AVAILABLE'
  assert 'Replayed 3 warm-up requests of taxi version 1' in caplog.text


def test_failing_warmup_record_fails_the_load(model_v1_template, tmp_path):
  _version_with_warmup(
    model_v1_template[1], str(tmp_path), [_predict_log('no_such_signature')]
  )
  manager = ModelManager(ModelSpec('taxi', str(tmp_path)))
  manager.poll_once()
  (status,) = manager.status()
  assert status['state'] == 'END'
  assert 'no_such_signature' in status['status']['error_message']
  assert manager.latest is None
