"""models/model.py: the wide-and-deep model trains on transformed features,
and autograph leaves Keras's own training code alone."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from models import model as model_lib


class _PythonBranch(keras.layers.Layer):
  """Branches in Python on a tensor: autograph turns that into a tf.cond,
  unconverted graph code cannot run it."""

  def call(self, inputs):
    if tf.reduce_sum(inputs) > 0:
      return inputs
    return -inputs


def _fit_one_step(model_class):
  inputs = keras.Input(shape=(1,), name='x')
  outputs = keras.layers.Dense(1, activation='sigmoid')(_PythonBranch()(inputs))
  model = model_class(inputs, outputs)
  model.compile(optimizer='adam', loss='binary_crossentropy')
  model.fit(np.ones((4, 1), np.float32), np.ones((4, 1)), epochs=1, verbose=0)


def test_plain_tf_keras_models_are_rewritten_by_autograph():
  # What WideAndDeep avoids: tf_keras is not on autograph's exemption list,
  # so fit() converts the code a step calls (here, the Python branch).
  _fit_one_step(keras.Model)


def test_wide_and_deep_steps_run_unconverted():
  with pytest.raises(tf.errors.OperatorNotAllowedInGraphError):
    _fit_one_step(model_lib.WideAndDeep)


def _transformed_batch(rows: int) -> dict:
  rng = np.random.default_rng(0)
  batch = {
    name: rng.normal(size=(rows, 1)).astype(np.float32)
    for name in model_lib.dense_inputs()
  }
  for name, size in model_lib.categorical_inputs().items():
    batch[name] = rng.integers(0, size, size=(rows, 1))
  return batch


def test_build_model_trains_evaluates_and_predicts_probabilities():
  model = model_lib.build_model()
  assert isinstance(model, model_lib.WideAndDeep)
  batch = _transformed_batch(64)
  labels = (batch[model_lib.dense_inputs()[0]] > 0).astype(np.float32)
  history = model.fit(batch, labels, epochs=3, verbose=0)
  assert history.history['loss'][-1] < history.history['loss'][0]
  assert set(model.evaluate(batch, labels, verbose=0, return_dict=True)) == {
    'loss',
    'auc',
    'accuracy',
  }
  probabilities = model.predict(batch, verbose=0)
  assert probabilities.shape == (64, 1)
  assert ((probabilities >= 0) & (probabilities <= 1)).all()
