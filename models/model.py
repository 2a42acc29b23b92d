"""The Keras model over transformed features.

Keras 2 (the `tf_keras` package) is the project's Keras: TF 2.16 defaults to
Keras 3, which TFX 1.16's Trainer and TFMA do not support. Transform and TFMA
use tf_keras themselves, so the model, its serving layers and the Evaluator
share one Keras.
"""

import tensorflow as tf
import tf_keras as keras

from models import features


class WideAndDeep(keras.Model):
  """A functional Keras model whose training, evaluation and prediction steps
  and calls autograph leaves as they are.

  TensorFlow's autograph exempts Keras 2's own code under its old name
  (`keras`) but not under `tf_keras`, so on the first step of fit() it would
  rewrite all of Keras's training internals: 30 s of the Trainer's 55 s on
  the full data. Keras 2 was written to run unconverted.
  """

  train_step = tf.autograph.experimental.do_not_convert(keras.Model.train_step)
  test_step = tf.autograph.experimental.do_not_convert(keras.Model.test_step)
  predict_step = tf.autograph.experimental.do_not_convert(
    keras.Model.predict_step
  )
  # Saving traces the model again, under AutoGraph (Keras's own save
  # signature and layer functions): 9 s of the Trainer's save (measured).
  __call__ = tf.autograph.experimental.do_not_convert(keras.Model.__call__)


def dense_inputs() -> list:
  """Transformed float features fed to the model as they are."""
  names = [
    features.missing_indicator_name(k) for k in features.MODEL_NUMERIC_FEATURES
  ]
  names += [features.transformed_name(k) for k in features.LOG_ZSCORE_FEATURES]
  names += [features.transformed_name(k) for k in features.MINMAX_FEATURES]
  return names


def categorical_inputs() -> dict:
  """Transformed integer features -> number of distinct ids."""
  sizes = {
    features.bucket_name(key): count + 1
    for key, count in features.BUCKET_COUNTS.items()
  }
  for key, size in features.INTEGER_CATEGORY_FEATURES.items():
    sizes[features.transformed_name(key)] = size
  for key in features.VOCABULARY_FEATURES:
    sizes[features.transformed_name(key)] = features.vocabulary_ids(key)
  if features.USES_CROSS:
    sizes[features.CROSS_NAME] = features.CROSS_IDS
  return sizes


def build_model(
  hidden_units=(64, 32),
  learning_rate: float = 0.001,
  dropout: float = 0.3,
  steps_per_execution: int = 1,
) -> keras.Model:
  """A wide-and-deep classifier: P(big tipper) from transformed features."""
  inputs = {
    name: keras.Input(shape=(1,), name=name, dtype='float32')
    for name in dense_inputs()
  }
  one_hots = []
  for name, size in categorical_inputs().items():
    inputs[name] = keras.Input(shape=(1,), name=name, dtype='int64')
    one_hots.append(
      keras.layers.CategoryEncoding(num_tokens=size, output_mode='one_hot')(
        inputs[name]
      )
    )
  wide = keras.layers.concatenate(one_hots)
  deep = keras.layers.concatenate(
    [inputs[name] for name in dense_inputs()] + one_hots
  )
  for units in hidden_units:
    deep = keras.layers.Dense(units, activation='relu')(deep)
    deep = keras.layers.Dropout(dropout)(deep)
  logit = keras.layers.Dense(1)(keras.layers.concatenate([wide, deep]))
  probability = keras.layers.Activation('sigmoid', name='probability')(logit)
  model = WideAndDeep(inputs, probability)
  model.compile(
    optimizer=keras.optimizers.Adam(learning_rate),
    loss='binary_crossentropy',
    metrics=[
      keras.metrics.AUC(name='auc'),
      keras.metrics.BinaryAccuracy(name='accuracy'),
    ],
    steps_per_execution=steps_per_execution,
  )
  return model
