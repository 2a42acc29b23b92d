"""Serving signatures: each applies the Transform graph, then the model.

- serving_default: raw features as named 1-D tensors, for REST clients
  (`{"instances": [{"fare": 12.5, "payment_type": "Cash", ...}]}`). A missing
  value is NaN for a number and "" for a string.
- serving_with_id: the same raw features plus the example id (`trip_id`),
  returned beside the probability (the forwarded-key pattern). TF Serving's
  row format needs every input of a signature, so clients that have ids name
  this signature; the request log then carries the id, which joins the
  feedback labels (process labeling).
- serving_tf_example: serialized tf.Example, for the Evaluator and gRPC.
- classification / regression: serialized tf.Example "inputs" for TF Serving's
  Classify API (classes "0"/"1" with their scores) and Regress API (the
  probability). tf.saved_model.save marks every signature as a predict
  signature, which TF Serving's Classify and Regress refuse, so
  set_serving_methods() rewrites their method names after saving.
- transform_features: serialized tf.Example -> transformed features with the
  label, so the Evaluator can read labels from raw examples.
"""

import os

import tensorflow as tf
import tensorflow_transform as tft
from tensorflow.core.protobuf import saved_model_pb2

from models import features, tf_internal

PROBABILITY = 'probability'
CLASSIFY_METHOD = 'tensorflow/serving/classify'
REGRESS_METHOD = 'tensorflow/serving/regress'
SERVING_METHODS = {
  'classification': CLASSIFY_METHOD,
  'regression': REGRESS_METHOD,
}
CLASS_LABELS = ('0', '1')  # Scores are [P(not a big tip), P(big tip)].


def _signature(input_spec):
  """tf.function over one input structure, without AutoGraph: the
  signatures have no tensor-dependent Python control flow, and AutoGraph
  would transpile Keras's and Transform's code under them (with the model's
  unconverted __call__, models/model.py, the Trainer's save fell from 24 s
  to 9 s, measured)."""
  return tf.function(input_signature=[input_spec], autograph=False)


def _serving_input_signature() -> dict:
  specs = {
    key: tf.TensorSpec([None], tf.float32, name=key)
    for key in features.NUMERIC_FEATURES
  }
  specs.update(
    {
      key: tf.TensorSpec([None], tf.string, name=key)
      for key in features.STRING_FEATURES
    }
  )
  return specs


def _as_raw_sparse(value: tf.Tensor, spec) -> tf.SparseTensor:
  """One dense serving input -> the [batch, 1] SparseTensor a parsed
  tf.Example gives, with NaN and "" dropped, as an absent feature would be."""
  if value.dtype == tf.string:
    present = tf.not_equal(value, '')
  else:
    present = tf.logical_not(tf.math.is_nan(value))
  if spec.dtype == tf.int64 and value.dtype != tf.string:
    value = tf.cast(tf.round(value), tf.int64)
  else:
    value = tf.cast(value, spec.dtype)
  rows = tf.cast(tf.where(present), tf.int64)
  indices = tf.concat([rows, tf.zeros_like(rows)], axis=1)
  return tf.SparseTensor(
    indices,
    tf.boolean_mask(value, present),
    [tf.shape(value, out_type=tf.int64)[0], 1],
  )


def _model_inputs(model, transformed: dict) -> dict:
  return {
    name: tf.reshape(transformed[name], [-1, 1]) for name in model.input_names
  }


def make_signatures(
  model, tf_transform_output: tft.TFTransformOutput, decision_threshold: float
) -> dict:
  """The model's serving signatures, ready for tf.saved_model.save."""
  # Tracked as attributes so the Transform assets are saved with the model.
  model.tft_layer = tf_transform_output.transform_features_layer()
  model.decision_threshold = tf.Variable(
    decision_threshold,
    trainable=False,
    dtype=tf.float32,
    name='decision_threshold',
  )
  raw_spec = tf_transform_output.raw_feature_spec()
  serving_raw_spec = {key: raw_spec[key] for key in _serving_input_signature()}

  # One traced function behind the five serving signatures: each trace of
  # the TFT layer prunes the Transform graph anew (a TF1 graph: ~0.5 s).
  @_signature(
    {
      key: tf.SparseTensorSpec([None, None], spec.dtype)
      for key, spec in serving_raw_spec.items()
    }
  )
  def predict(raw: dict) -> tf.Tensor:
    transformed = model.tft_layer(raw)
    return tf.reshape(model(_model_inputs(model, transformed)), [-1])

  def predict_examples(serialized: tf.Tensor) -> tf.Tensor:
    return predict(tf.io.parse_example(serialized, serving_raw_spec))

  @_signature(_serving_input_signature())
  def serving_default(inputs):
    raw = {
      key: _as_raw_sparse(value, raw_spec[key]) for key, value in inputs.items()
    }
    return {PROBABILITY: predict(raw)}

  with_id = dict(_serving_input_signature())
  with_id[features.TRIP_ID] = tf.TensorSpec(
    [None], tf.string, name=features.TRIP_ID
  )

  @_signature(with_id)
  def serving_with_id(inputs):
    raw = {
      key: _as_raw_sparse(value, raw_spec[key])
      for key, value in inputs.items()
      if key != features.TRIP_ID
    }
    return {
      PROBABILITY: predict(raw),
      features.TRIP_ID: tf.identity(inputs[features.TRIP_ID]),
    }

  @_signature(tf.TensorSpec([None], tf.string, name='examples'))
  def serving_tf_example(examples):
    probability = predict_examples(examples)
    return {
      PROBABILITY: probability,
      features.LABEL: tf.cast(
        probability >= model.decision_threshold, tf.int64
      ),
    }

  @_signature(tf.TensorSpec([None], tf.string, name='inputs'))
  def classification(inputs):
    probability = predict_examples(inputs)
    return {
      'classes': tf.tile(
        tf.constant([CLASS_LABELS]), [tf.shape(probability)[0], 1]
      ),
      'scores': tf.stack([1.0 - probability, probability], axis=1),
    }

  @_signature(tf.TensorSpec([None], tf.string, name='inputs'))
  def regression(inputs):
    return {'outputs': predict_examples(inputs)}

  @_signature(tf.TensorSpec([None], tf.string, name='examples'))
  def transform_features(examples):
    return model.tft_layer(tf.io.parse_example(examples, raw_spec))

  return {
    'serving_default': serving_default,
    'serving_with_id': serving_with_id,
    'serving_tf_example': serving_tf_example,
    'classification': classification,
    'regression': regression,
    'transform_features': transform_features,
  }


def set_serving_methods(export_dir: str, methods: dict) -> None:
  """Sets the method_name of the named signatures in a saved SavedModel.

  Rewrites saved_model.pb (atomically) and its fingerprint, as
  tf.saved_model.save would have written them.
  """
  path = os.path.join(export_dir, 'saved_model.pb')
  with tf.io.gfile.GFile(path, 'rb') as f:
    saved_model = saved_model_pb2.SavedModel.FromString(f.read())
  for meta_graph in saved_model.meta_graphs:
    for name, method in methods.items():
      if name not in meta_graph.signature_def:
        raise ValueError(f'{export_dir} has no signature {name!r}')
      meta_graph.signature_def[name].method_name = method
  staging = f'{path}.tmp'
  with tf.io.gfile.GFile(staging, 'wb') as f:
    f.write(saved_model.SerializeToString())
  tf.io.gfile.rename(staging, path, overwrite=True)  # Atomic on POSIX.
  tf_internal.write_fingerprint(export_dir)
