"""A small real SavedModel with exactly the signatures of the pipeline's exported taxi model.

Test data, kept out of the serving package (which must not import the pipeline's `models`). Used by tests/serving
and by benchmarks/serving_benchmark.py when no trained model is at hand: a logistic model
over fare and trip_miles plus a hashed payment_type contribution, NaN / "" meaning missing. Signatures:
  serving_default(fare, trip_miles, ..., payment_type, company) -> {"probability": float32 [None]}
  serving_tf_example(examples: string [None]) -> {"probability": float32 [None], "big_tipper": int64 [None]}
  classification(inputs: string [None]) -> {"classes": string [None, 2], "scores": float32 [None, 2]}  (classify)
  regression(inputs: string [None]) -> {"outputs": float32 [None]}  (regress)
  transform_features(examples: string [None]) -> transformed features
"""

import json
import os
import shutil
import tempfile

import tensorflow as tf

from models.signatures import CLASS_LABELS, SERVING_METHODS, set_serving_methods

FLOAT_FEATURES = (
  'fare',
  'trip_miles',
  'trip_seconds',
  'trip_start_hour',
  'trip_start_day',
  'trip_start_month',
  'pickup_latitude',
  'pickup_longitude',
  'dropoff_latitude',
  'dropoff_longitude',
  'pickup_community_area',
  'dropoff_community_area',
)
STRING_FEATURES = ('payment_type', 'company')
RAW_FEATURES = FLOAT_FEATURES + STRING_FEATURES
PAYMENT_BUCKETS = 8
DECISION_THRESHOLD = 0.43

_RAW_SIGNATURE = [
  tf.TensorSpec([None], tf.float32, name=name) for name in FLOAT_FEATURES
] + [tf.TensorSpec([None], tf.string, name=name) for name in STRING_FEATURES]
_EXAMPLE_SPEC = {
  name: tf.io.FixedLenFeature([], tf.float32, default_value=float('nan'))
  for name in FLOAT_FEATURES
}
_EXAMPLE_SPEC.update(
  {
    name: tf.io.FixedLenFeature([], tf.string, default_value='')
    for name in STRING_FEATURES
  }
)


class ToyTaxiModel(tf.Module):
  def __init__(
    self, fare_weight: float, miles_weight: float, bias: float, payment_weights
  ):
    super().__init__()
    self.fare_weight = tf.Variable(fare_weight, dtype=tf.float32)
    self.miles_weight = tf.Variable(miles_weight, dtype=tf.float32)
    self.bias = tf.Variable(bias, dtype=tf.float32)
    self.payment_weights = tf.Variable(
      tf.constant(payment_weights, dtype=tf.float32)
    )

  def _transform(self, features):
    fare, miles, payment = (
      features['fare'],
      features['trip_miles'],
      features['payment_type'],
    )
    return {
      'fare_xf': tf.where(
        tf.math.is_nan(fare), tf.zeros_like(fare), fare / 10.0
      ),
      'trip_miles_xf': tf.where(
        tf.math.is_nan(miles), tf.zeros_like(miles), miles / 5.0
      ),
      'payment_type_xf': tf.where(
        payment == '',
        tf.fill(tf.shape(payment), tf.constant(-1, tf.int64)),
        tf.strings.to_hash_bucket_fast(payment, PAYMENT_BUCKETS),
      ),
    }

  def _probability(self, features):
    xf = self._transform(features)
    bucket = xf['payment_type_xf']
    payment = tf.where(
      bucket < 0,
      tf.zeros_like(xf['fare_xf']),
      tf.gather(self.payment_weights, tf.maximum(bucket, 0)),
    )
    logit = (
      self.bias
      + self.fare_weight * xf['fare_xf']
      + self.miles_weight * xf['trip_miles_xf']
      + payment
    )
    return tf.sigmoid(logit)

  @tf.function(input_signature=_RAW_SIGNATURE)
  def serve_raw(
    self,
    fare,
    trip_miles,
    trip_seconds,
    trip_start_hour,
    trip_start_day,
    trip_start_month,
    pickup_latitude,
    pickup_longitude,
    dropoff_latitude,
    dropoff_longitude,
    pickup_community_area,
    dropoff_community_area,
    payment_type,
    company,
  ):
    return {
      'probability': self._probability(
        {'fare': fare, 'trip_miles': trip_miles, 'payment_type': payment_type}
      )
    }

  @tf.function(
    input_signature=[tf.TensorSpec([None], tf.string, name='examples')]
  )
  def serve_tf_example(self, examples):
    probability = self._probability(
      tf.io.parse_example(examples, _EXAMPLE_SPEC)
    )
    return {
      'probability': probability,
      'big_tipper': tf.cast(probability >= DECISION_THRESHOLD, tf.int64),
    }

  @tf.function(
    input_signature=[tf.TensorSpec([None], tf.string, name='inputs')]
  )
  def classification(self, inputs):
    probability = self._probability(tf.io.parse_example(inputs, _EXAMPLE_SPEC))
    return {
      'classes': tf.tile(
        tf.constant([CLASS_LABELS]), [tf.shape(probability)[0], 1]
      ),
      'scores': tf.stack([1.0 - probability, probability], axis=1),
    }

  @tf.function(
    input_signature=[tf.TensorSpec([None], tf.string, name='inputs')]
  )
  def regression(self, inputs):
    return {
      'outputs': self._probability(tf.io.parse_example(inputs, _EXAMPLE_SPEC))
    }

  @tf.function(
    input_signature=[tf.TensorSpec([None], tf.string, name='examples')]
  )
  def transform_features(self, examples):
    return self._transform(tf.io.parse_example(examples, _EXAMPLE_SPEC))


def build_toy_model(
  base_path: str,
  version: int,
  fare_weight: float = 0.8,
  miles_weight: float = 0.5,
  bias: float = -1.0,
  payment_weights=(1.5, -1.0, 0.2, 0.0, -0.3, 0.4, 0.1, -0.2),
) -> str:
  """Writes version `version` under `base_path` atomically (temp dir, then rename); returns its path."""
  os.makedirs(base_path, exist_ok=True)
  model = ToyTaxiModel(fare_weight, miles_weight, bias, list(payment_weights))
  staging = tempfile.mkdtemp(prefix=f'.staging-{version}-', dir=base_path)
  try:
    tf.saved_model.save(
      model,
      staging,
      signatures={
        'serving_default': model.serve_raw,
        'serving_tf_example': model.serve_tf_example,
        'classification': model.classification,
        'regression': model.regression,
        'transform_features': model.transform_features,
      },
    )
    set_serving_methods(staging, SERVING_METHODS)
    os.makedirs(os.path.join(staging, 'assets'), exist_ok=True)
    os.makedirs(os.path.join(staging, 'assets.extra'), exist_ok=True)
    with open(
      os.path.join(staging, 'assets.extra', 'model_metadata.json'),
      'w',
      encoding='utf-8',
    ) as f:
      json.dump(
        {
          'decision_threshold': DECISION_THRESHOLD,
          'label': 'big_tipper',
          'model': 'toy',
        },
        f,
      )
    final = os.path.join(base_path, str(version))
    os.rename(staging, final)
    return final
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise


def reference_probability(
  fare,
  trip_miles,
  payment_type,
  fare_weight=0.8,
  miles_weight=0.5,
  bias=-1.0,
  payment_weights=(1.5, -1.0, 0.2, 0.0, -0.3, 0.4, 0.1, -0.2),
) -> float:
  """The toy model's probability computed independently of the SavedModel, for tests."""
  import math

  fare_term = 0.0 if fare is None or math.isnan(fare) else fare / 10.0
  miles_term = (
    0.0 if trip_miles is None or math.isnan(trip_miles) else trip_miles / 5.0
  )
  payment_term = 0.0
  if payment_type:
    bucket = int(
      tf.strings.to_hash_bucket_fast([payment_type], PAYMENT_BUCKETS).numpy()[0]
    )
    payment_term = payment_weights[bucket]
  logit = (
    bias + fare_weight * fare_term + miles_weight * miles_term + payment_term
  )
  return 1.0 / (1.0 + math.exp(-logit))
