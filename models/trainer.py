"""The Trainer step: `run_fn` is the only function TFX calls here."""

import json
import math
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx.v1.components import FnArgs
from tfx_bsl.tfxio import dataset_options

from models import features, signatures
from models import model as model_lib
from models import threshold as threshold_lib

BATCH_SIZE = 128
# Keras "epochs" of this many steps give TensorBoard and early stopping a
# point to look at between steps.
STEPS_PER_EPOCH = 100
METADATA_FILE = os.path.join('assets.extra', 'model_metadata.json')


def _dataset(fn_args: FnArgs, files, tf_transform_output, repeat: bool):
  return fn_args.data_accessor.tf_dataset_factory(
    files,
    dataset_options.TensorFlowDatasetOptions(
      batch_size=BATCH_SIZE,
      label_key=features.LABEL,
      num_epochs=None if repeat else 1,
      shuffle=repeat,
    ),
    tf_transform_output.transformed_metadata.schema,
  )


def _labels_and_probabilities(model, dataset):
  labels, probabilities = [], []
  for batch_features, batch_labels in dataset:
    # Not predict_on_batch: it would run steps_per_execution batches.
    probabilities.append(
      model(batch_features, training=False).numpy().reshape(-1)
    )
    labels.append(batch_labels.numpy().reshape(-1))
  return np.concatenate(labels), np.concatenate(probabilities)


def _write_metadata(serving_model_dir: str, metadata: dict) -> None:
  path = os.path.join(serving_model_dir, METADATA_FILE)
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path, 'w') as f:
    json.dump(metadata, f, indent=2, sort_keys=True)


def run_fn(fn_args: FnArgs):  # Called by TFX Trainer.
  """Trains, picks the decision threshold on the eval split (half the best
  F1 there, see models/threshold.py), exports."""
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
  keras.utils.set_random_seed(42)
  steps_per_epoch = min(fn_args.train_steps, STEPS_PER_EPOCH)
  # One call into TensorFlow per epoch, not per step: a step of this small
  # model costs less than Keras's Python loop around it.
  # Keras must then be told how many batches the eval split holds.
  model = model_lib.build_model(steps_per_execution=steps_per_epoch)
  eval_dataset = _dataset(
    fn_args, fn_args.eval_files, tf_transform_output, repeat=False
  )
  model.fit(
    _dataset(fn_args, fn_args.train_files, tf_transform_output, repeat=True),
    steps_per_epoch=steps_per_epoch,
    epochs=math.ceil(fn_args.train_steps / steps_per_epoch),
    validation_data=eval_dataset,
    validation_steps=int(eval_dataset.reduce(0, lambda count, _: count + 1)),
    callbacks=[
      keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir),
      keras.callbacks.EarlyStopping(
        monitor='val_auc', mode='max', patience=4, restore_best_weights=True
      ),
    ],
    verbose=2,
  )

  labels, probabilities = _labels_and_probabilities(
    model,
    _dataset(fn_args, fn_args.eval_files, tf_transform_output, repeat=False),
  )
  decision_threshold = threshold_lib.half_best_f1_threshold(
    labels, probabilities
  )
  eval_metrics = threshold_lib.binary_metrics(
    labels, probabilities, decision_threshold
  )

  # Served and evaluated through its signatures only (never reloaded as a
  # Keras model): no per-layer call traces (181 -> 96 functions in
  # saved_model.pb, a faster save and load) and no optimizer slots.
  model.save(
    fn_args.serving_model_dir,
    save_format='tf',
    include_optimizer=False,
    save_traces=False,
    signatures=signatures.make_signatures(
      model, tf_transform_output, decision_threshold
    ),
  )
  signatures.set_serving_methods(
    fn_args.serving_model_dir, signatures.SERVING_METHODS
  )
  _write_metadata(
    fn_args.serving_model_dir,
    {
      'label': features.LABEL,
      'label_definition': (
        f'{features.TIPS} > {features.BIG_TIP_SHARE} * {features.FARE}'
      ),
      'decision_threshold': decision_threshold,
      'threshold_chosen_on': 'eval split (half the maximum F1)',
      'eval_split_metrics': eval_metrics,
      'serving_features': list(features.SERVING_FEATURES),
      'output': signatures.PROBABILITY,
    },
  )
