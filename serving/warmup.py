"""TF Serving's SavedModel warm-up: replays assets.extra/tf_serving_warmup_requests before a version serves.

The file is a TFRecord of tensorflow.serving.PredictionLog (predict_log, classify_log or regress_log requests),
as TF Serving reads it (saved_model_warmup.cc): at most MAX_WARMUP_RECORDS records, each replayed once. A record
that fails fails the load, as in TF Serving.
"""

import logging
import os

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from serving import inference
from serving.errors import invalid_argument
from serving.servable import DEFAULT_SIGNATURE

LOG = logging.getLogger(__name__)
WARMUP_FILE = os.path.join('assets.extra', 'tf_serving_warmup_requests')
MAX_WARMUP_RECORDS = 1000


def warmup_path(version_path: str) -> str:
  return os.path.join(version_path, WARMUP_FILE)


def _signature(servable, name: str):
  signature = servable.signature(name or DEFAULT_SIGNATURE)
  if signature is None:
    raise invalid_argument(
      f'warm-up request names no signature of the model: {name!r}'
    )
  return signature


def _examples(input_proto) -> np.ndarray:
  examples = list(input_proto.example_list.examples)
  if not examples:
    raise invalid_argument('warm-up request has an empty example_list')
  serialized = np.empty(len(examples), dtype=object)
  serialized[:] = [example.SerializeToString() for example in examples]
  return serialized


def _replay_one(servable, log: prediction_log_pb2.PredictionLog) -> None:
  kind = log.WhichOneof('log_type')
  if kind == 'predict_log':
    request = log.predict_log.request
    signature = _signature(servable, request.model_spec.signature_name)
    inputs = {
      name: tf.make_ndarray(proto) for name, proto in request.inputs.items()
    }
  elif kind in ('classify_log', 'regress_log'):
    request = getattr(log, kind).request
    signature = _signature(servable, request.model_spec.signature_name)
    method = 'classify' if kind == 'classify_log' else 'regress'
    key = inference.check_tf_serving_signature(signature, method)
    inputs = {key: _examples(request.input)}
  else:
    raise invalid_argument(f'unsupported warm-up log type: {kind}')
  servable.run(signature, inputs)


def replay(servable) -> int:
  """Replays the version's warm-up requests; returns how many ran (0 without a file). Raises on a failed one."""
  path = warmup_path(servable.path)
  if not os.path.exists(path):
    return 0
  count = 0
  for index, record in enumerate(tf.data.TFRecordDataset(path)):
    if index >= MAX_WARMUP_RECORDS:
      LOG.warning(
        'Only the first %d warm-up records are replayed', MAX_WARMUP_RECORDS
      )
      break
    _replay_one(
      servable, prediction_log_pb2.PredictionLog.FromString(record.numpy())
    )
    count += 1
  LOG.info(
    'Replayed %d warm-up requests of %s version %d',
    count,
    servable.name,
    servable.version,
  )
  return count
