"""The one place the server uses TensorFlow-internal API (pinned by requirements.lock; guarded by
tests/serving/test_tf_internal.py, which fails if a TensorFlow upgrade changes what it relies on).

direct_call: ConcreteFunction.__call__ re-binds the keyword arguments and checks the gradient tape and distribution
context over every captured input (48 for the taxi model) on each call: about 0.3 ms of Python, a third of a one-row
call. The server has checked input names and dtypes already, so it feeds the graph function (TF's own
_inference_function) the flat inputs in the order TF flattens them, plus the captures, as __call__ does.
"""

import logging
from typing import Callable

import numpy as np
import tensorflow as tf
from tensorflow.python.eager.polymorphic_function import function_type_utils

LOG = logging.getLogger(__name__)


def direct_call(
  function, sample: dict[str, tf.Tensor], description: str
) -> Callable[[dict], dict] | None:
  """A faster way to call `function` (a loaded signature) with keyword tensors, or None to keep the public call.

  The flat input order is taken from TF itself on `sample` (one synthetic row per input), and the direct result on
  `sample` is compared with the public call's; any difference or error keeps the public call (logged).
  """
  try:
    bound = function_type_utils.canonicalize_function_inputs(
      (), sample, function.function_type
    )
    flat = function.function_type.unpack_inputs(bound)
    name_of = {id(tensor): name for name, tensor in sample.items()}
    order = [name_of[id(tensor)] for tensor in flat]
    if sorted(order) != sorted(sample):
      raise ValueError(f'flat inputs {order} do not match {sorted(sample)}')
    graph_function = function._inference_function

    def call(inputs: dict) -> dict:
      return graph_function.call_preflattened(
        [inputs[name] for name in order] + function.captured_inputs
      )

    try:
      expected = function(**sample)
    except (tf.errors.OpError, ValueError, TypeError):
      expected = None  # e.g. a tf.Example signature whose parser rejects an empty string; order is from TF.
    if expected is not None:
      actual = call(sample)
      if sorted(actual) != sorted(expected) or not all(
        _same_values(actual[key].numpy(), expected[key].numpy())
        for key in expected
      ):
        raise ValueError('outputs differ from the public call')
    return call
  except Exception as exc:  # noqa: BLE001 - any surprise from TF internals means: use the public call.
    LOG.warning(
      '%s: public call kept (%s: %s)', description, type(exc).__name__, exc
    )
    return None


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
  if a.shape != b.shape or a.dtype != b.dtype:
    return False
  return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in 'fc'))
