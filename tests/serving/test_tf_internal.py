"""serving.tf_internal, the guard of the TensorFlow-internal session callable: for every signature of a real
SavedModel it must give exactly what the public ConcreteFunction call gives, and feed shapes unchecked as TF
Serving's Session::Run does."""

import numpy as np
import pytest
import tensorflow as tf

from serving import tf_internal
from serving.errors import ServingError
from serving.json_codec import DT_STRING
from serving.servable import Servable, read_meta_graph


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


@pytest.fixture(scope='module')
def public_signatures(model_v1_template):
  return tf.saved_model.load(model_v1_template[1]).signatures


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
def test_session_call_equals_public_call(servable, public_signatures, name):
  signature = servable.signatures[name]
  inputs = _distinct_inputs(signature)
  public = public_signatures[name](
    **{
      key: tf.constant(
        array, dtype=tf.string if array.dtype == object else None
      )
      for key, array in inputs.items()
    }
  )
  served = servable.run(signature, inputs)
  assert sorted(served) == sorted(public)
  for key in public:
    np.testing.assert_array_equal(served[key], public[key].numpy())


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


def test_fed_shapes_are_not_checked_against_the_graph(servable):
  """A [1, 1] tensor for a [None] input runs, as with TF Serving's Session::Run (the public calls refuse it)."""
  signature = servable.signatures['serving_default']
  inputs = {
    key: array[:1].reshape(1, 1)
    for key, array in _distinct_inputs(signature).items()
  }
  assert servable.run(signature, inputs)['probability'].shape == (1, 1)


def test_a_wrong_dtype_is_tensorflows_error(servable):
  signature = servable.signatures['regression']
  with pytest.raises(ServingError) as info:
    servable.run(signature, {'inputs': np.array([1.0], np.float32)})
  assert info.value.code == 'INVALID_ARGUMENT'


def test_load_session_runs_the_init_op_and_finalizes_the_graph(
  model_v1_template,
):
  meta_graph = read_meta_graph(model_v1_template[1])
  session = tf_internal.load_session(
    model_v1_template[1], meta_graph.meta_info_def.tags
  )
  try:
    assert session.graph.finalized
    sig = meta_graph.signature_def['regression']
    call = tf_internal.session_callable(
      session,
      [sig.inputs['inputs'].name],
      [sig.outputs['outputs'].name],
    )
    (outputs,) = call(np.array([_example(fare=10.0)], dtype=object))
    assert outputs.shape == (1,) and 0.0 < outputs[0] < 1.0
  finally:
    session.close()
