"""The Transform step: `preprocessing_fn` is the only function TFX calls here.

Every raw feature arrives as a SparseTensor (the curated schema gives no
fixed shape because values may be missing). Missing values are handled
explicitly: numbers get an indicator feature and a neutral value, categories
get their own bucket or token. The same graph runs inside the served model.
"""

import tensorflow as tf
import tensorflow_transform as tft

from models import features


def _to_dense(x: tf.SparseTensor, default) -> tf.Tensor:
  """Densifies a [batch, <=1] SparseTensor to [batch], filling `default`."""
  return tf.squeeze(
    tf.sparse.to_dense(
      tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default
    ),
    axis=1,
  )


def _present_float(x: tf.SparseTensor) -> tf.SparseTensor:
  """The feature's values as float32, with NaN counted as missing."""
  values = tf.cast(x.values, tf.float32)
  keep = tf.logical_not(tf.math.is_nan(values))
  return tf.sparse.retain(
    tf.SparseTensor(x.indices, values, x.dense_shape), keep
  )


def _missing_indicator(x: tf.SparseTensor) -> tf.Tensor:
  ones = tf.SparseTensor(
    x.indices, tf.ones_like(x.values, tf.float32), x.dense_shape
  )
  return 1.0 - _to_dense(ones, 0.0)


def _category_string(x: tf.SparseTensor) -> tf.Tensor:
  values = x.values if x.dtype == tf.string else tf.strings.as_string(x.values)
  return _to_dense(
    tf.SparseTensor(x.indices, values, x.dense_shape), features.MISSING_STRING
  )


def preprocessing_fn(inputs):  # Called by TFX Transform.
  """Maps raw features to model inputs; analyzers see the train split only."""
  outputs = {}
  present = {
    key: _present_float(inputs[key])
    for key in features.MODEL_NUMERIC_FEATURES + (features.FARE,)
  }
  for key in features.MODEL_NUMERIC_FEATURES:
    outputs[features.missing_indicator_name(key)] = _missing_indicator(
      present[key]
    )

  for key in features.LOG_ZSCORE_FEATURES:
    x = present[key]
    logged = tf.SparseTensor(
      x.indices, tf.math.log1p(tf.maximum(x.values, 0.0)), x.dense_shape
    )
    # A missing value becomes the mean (0 after z-scoring).
    outputs[features.transformed_name(key)] = _to_dense(
      tft.scale_to_z_score(logged), 0.0
    )

  for key in features.MINMAX_FEATURES:
    outputs[features.transformed_name(key)] = _to_dense(
      tft.scale_to_0_1(present[key]), 0.5
    )

  for key, count in features.BUCKET_COUNTS.items():
    # Bucket ids 0..count-1; a missing value gets bucket `count`.
    outputs[features.bucket_name(key)] = _to_dense(
      tft.bucketize(present[key], count), tf.constant(count, tf.int64)
    )

  for key, size in features.INTEGER_CATEGORY_FEATURES.items():
    # Value 0 never occurs (days and months count from 1): it marks missing.
    value = tf.cast(_to_dense(present[key], 0.0), tf.int64)
    outputs[features.transformed_name(key)] = tf.clip_by_value(
      value, 0, size - 1
    )

  for key, top_k in features.VOCABULARY_FEATURES.items():
    outputs[features.transformed_name(key)] = tft.compute_and_apply_vocabulary(
      _category_string(inputs[key]),
      top_k=top_k,
      num_oov_buckets=features.OOV_BUCKETS,
      vocab_filename=key,
    )

  if features.USES_CROSS:
    category, bucketized = features.CROSSED_FEATURES
    outputs[features.CROSS_NAME] = (
      outputs[features.transformed_name(category)]
      * (features.BUCKET_COUNTS[bucketized] + 1)
      + outputs[features.bucket_name(bucketized)]
    )

  if features.TIPS in inputs:  # Absent at serving time.
    tips = _to_dense(_present_float(inputs[features.TIPS]), 0.0)
    fare = _to_dense(present[features.FARE], float('nan'))
    outputs[features.LABEL] = tf.cast(
      tf.logical_and(
        tf.logical_not(tf.math.is_nan(fare)),
        tips > features.BIG_TIP_SHARE * fare,
      ),
      tf.int64,
    )
  return outputs
