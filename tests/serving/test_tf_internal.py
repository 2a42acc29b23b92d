"""serving.tf_internal, the guard of the TensorFlow-internal direct call: for every signature of a real SavedModel
it must be in use and give exactly what the public ConcreteFunction call gives."""

import numpy as np
import pytest
import tensorflow as tf

from serving.json_codec import DT_STRING
from serving.servable import Servable, TensorSpec, direct_call_for
from serving.tf_internal import direct_call


def _example(**features) -> bytes:
  feature = {}
  for name, value in features.items():
    if isinstance(value, str):
      feature[name] = tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[value.encode()])
      )
    else:
      feature[name] = tf.train.Feature(
        float_list=tf.train.FloatList(value=[value])
      )
  return tf.train.Example(
    features=tf.train.Features(feature=feature)
  ).SerializeToString()


def _distinct_inputs(signature) -> dict[str, np.ndarray]:
  """Three rows with a different value in every input, so feeding inputs in the wrong order changes the outputs."""
  inputs = {}
  for index, (name, spec) in enumerate(sorted(signature.inputs.items())):
    if spec.dtype == DT_STRING and name in ('examples', 'inputs'):
      inputs[name] = np.array(
        [
          _example(fare=5.0 * i + 1, trip_miles=0.5 + i, payment_type=payment)
          for i, payment in enumerate(('Cash', 'Credit Card', ''))
        ],
        dtype=object,
      )
    elif spec.dtype == DT_STRING:
      inputs[name] = np.array(
        [b'Credit Card', b'Cash', name.encode()], dtype=object
      )
    else:
      inputs[name] = np.array(
        [1.0 + index, 3.5 * index, float('nan')], dtype=np.float32
      )
  return inputs


@pytest.fixture(scope='module')
def servable(model_v1_template):
  return Servable('taxi', 1, model_v1_template[1])


def test_every_signature_gets_the_direct_call(servable):
  assert sorted(servable.signatures) == [
    'classification',
    'regression',
    'serving_default',
    'serving_tf_example',
    'transform_features',
  ]
  assert all(
    signature.call is not None for signature in servable.signatures.values()
  )


@pytest.mark.parametrize(
  'name',
  [
    'serving_default',
    'serving_tf_example',
    'classification',
    'regression',
    'transform_features',
  ],
)
def test_direct_call_equals_public_call(servable, name):
  signature = servable.signatures[name]
  tensors = {
    key: tf.constant(array, dtype=tf.string if array.dtype == object else None)
    for key, array in _distinct_inputs(signature).items()
  }
  public = {
    key: value.numpy() for key, value in signature.function(**tensors).items()
  }
  direct = {
    key: value.numpy() for key, value in signature.call(tensors).items()
  }
  assert sorted(direct) == sorted(public)
  for key in public:
    np.testing.assert_array_equal(direct[key], public[key])


def test_swapped_inputs_would_be_caught(servable):
  """The comparison above can fail: fare and trip_miles carry different weights in the toy model."""
  signature = servable.signatures['serving_default']
  inputs = _distinct_inputs(signature)
  swapped = {
    **inputs,
    'fare': inputs['trip_miles'],
    'trip_miles': inputs['fare'],
  }
  assert not np.allclose(
    servable.run(signature, inputs)['probability'][:2],
    servable.run(signature, swapped)['probability'][:2],
  )


def test_a_function_that_is_not_a_loaded_signature_keeps_the_public_call(
  caplog,
):
  sample = {'x': tf.constant([1.0])}
  assert (
    direct_call(lambda **tensors: tensors, sample, 'plain python function')
    is None
  )
  assert 'plain python function: public call kept' in caplog.text


def test_unknown_rank_input_keeps_the_public_call(servable):
  function = servable.signatures['serving_default'].function
  assert (
    direct_call_for(function, {'fare': TensorSpec(1, None)}, 'unknown rank')
    is None
  )
