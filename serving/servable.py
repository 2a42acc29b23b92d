"""One loaded model version: its SignatureDefs (from saved_model.pb) and one concrete function per signature."""

import dataclasses
import inspect
import json
import logging
import os
from typing import Callable

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2

from serving import tf_internal
from serving.errors import ServingError, from_tf_exception, invalid_argument
from serving.json_codec import DT_STRING, NUMPY_DTYPES, dtype_name

LOG = logging.getLogger(__name__)
CLASSIFY_METHOD = 'tensorflow/serving/classify'
REGRESS_METHOD = 'tensorflow/serving/regress'
INIT_OP_SIGNATURE = '__saved_model_init_op'
DEFAULT_SIGNATURE = 'serving_default'


@dataclasses.dataclass(frozen=True)
class TensorSpec:
  dtype: int
  shape: tuple[int, ...] | None  # None: unknown rank; -1: unknown dimension.


@dataclasses.dataclass(frozen=True)
class Signature:
  name: str
  method_name: str
  inputs: dict[str, TensorSpec]
  outputs: dict[str, TensorSpec]
  function: object  # A ConcreteFunction taking the inputs as keyword tensors.
  call: Callable[[dict], dict] | None = (
    None  # The same function, fed directly (see direct_call); None: public.
  )

  @property
  def input_dtypes(self) -> dict[str, int]:
    return {name: spec.dtype for name, spec in self.inputs.items()}

  @property
  def batchable(self) -> bool:
    """Rows of several requests may be concatenated: every input and output is batched along dimension 0."""
    return all(
      spec.shape and spec.shape[0] == -1
      for spec in (*self.inputs.values(), *self.outputs.values())
    )


def _tensor_spec(info) -> TensorSpec:
  if info.tensor_shape.unknown_rank:
    return TensorSpec(info.dtype, None)
  return TensorSpec(
    info.dtype, tuple(int(d.size) for d in info.tensor_shape.dim)
  )


def read_meta_graph(path: str):
  with open(os.path.join(path, 'saved_model.pb'), 'rb') as f:
    saved_model = saved_model_pb2.SavedModel.FromString(f.read())
  if not saved_model.meta_graphs:
    raise ValueError(f'{path}/saved_model.pb has no MetaGraphDef')
  # tf.saved_model.save writes a single MetaGraphDef tagged "serve".
  for meta_graph in saved_model.meta_graphs:
    if 'serve' in meta_graph.meta_info_def.tags:
      return meta_graph
  return saved_model.meta_graphs[0]


class Servable:
  """A SavedModel version ready to run. Thread-safe: concrete functions may be called concurrently."""

  def __init__(self, name: str, version: int, path: str):
    self.name = name
    self.version = version
    self.path = path
    meta_graph = read_meta_graph(path)
    self._loaded = tf.saved_model.load(path)
    self.signature_defs = meta_graph.signature_def
    self.signatures: dict[str, Signature] = {}
    for sig_name, sig_def in meta_graph.signature_def.items():
      if sig_name == INIT_OP_SIGNATURE:
        continue
      function = self._loaded.signatures[sig_name]
      inputs = {k: _tensor_spec(v) for k, v in sig_def.inputs.items()}
      self.signatures[sig_name] = Signature(
        name=sig_name,
        method_name=sig_def.method_name,
        inputs=inputs,
        outputs={k: _tensor_spec(v) for k, v in sig_def.outputs.items()},
        function=function,
        call=direct_call_for(
          function, inputs, f'{name} version {version} signature {sig_name}'
        ),
      )
    self.model_metadata = _read_model_metadata(path)

  def signature(self, name: str) -> Signature:
    return self.signatures.get(name or DEFAULT_SIGNATURE)

  def signature_def_map_json(self) -> dict:
    """The SignatureDefMap as TF Serving's metadata API prints it (proto field names, defaults included)."""
    return {
      'signature_def': {
        name: _message_to_dict(sig_def)
        for name, sig_def in self.signature_defs.items()
      }
    }

  def run(
    self, signature: Signature, inputs: dict[str, np.ndarray]
  ) -> dict[str, np.ndarray]:
    """Calls the signature's concrete function; TF errors become ServingErrors with TF's canonical code."""
    tensors = {
      name: tf.constant(
        array,
        dtype=tf.string if signature.inputs[name].dtype == DT_STRING else None,
      )
      for name, array in inputs.items()
    }
    try:
      outputs = (
        signature.call(tensors)
        if signature.call
        else signature.function(**tensors)
      )
    except (tf.errors.OpError, ValueError, TypeError) as exc:
      if isinstance(exc, tf.errors.OpError):
        raise from_tf_exception(exc) from None
      raise invalid_argument(str(exc).split('\n')[0]) from None
    return {name: tensor.numpy() for name, tensor in outputs.items()}

  def warm_up(self) -> None:
    """Runs serving_default once on a synthetic one-row batch so the first request does not pay for it."""
    signature = self.signatures.get(DEFAULT_SIGNATURE)
    if signature is None or not signature.batchable:
      return
    try:
      self.run(signature, synthetic_inputs(signature.inputs))
    except ServingError as exc:
      LOG.warning(
        'Warm-up of %s version %d failed (serving continues): %s',
        self.name,
        self.version,
        exc,
      )


def synthetic_inputs(specs: dict[str, TensorSpec]) -> dict[str, np.ndarray]:
  """Zeros and empty strings shaped to the specs (known shapes), unknown dimensions as 1: one row."""
  inputs = {}
  for name, spec in specs.items():
    shape = [max(d, 1) for d in spec.shape]
    if spec.dtype == DT_STRING:
      inputs[name] = np.full(shape, b'', dtype=object)
    else:
      inputs[name] = np.zeros(
        shape, dtype=NUMPY_DTYPES.get(spec.dtype, np.float32)
      )
  return inputs


def direct_call_for(function, specs: dict[str, TensorSpec], description: str):
  """The faster call of a loaded signature (serving.tf_internal), or None to keep the public call."""
  if any(spec.shape is None for spec in specs.values()):
    return None  # No synthetic row to verify the direct call with.
  sample = {
    name: tf.constant(
      array, dtype=tf.string if specs[name].dtype == DT_STRING else None
    )
    for name, array in synthetic_inputs(specs).items()
  }
  return tf_internal.direct_call(function, sample, description)


def _message_to_dict(message) -> dict:
  """MessageToDict with proto field names and default values, across protobuf versions (the flag was renamed)."""
  parameters = inspect.signature(json_format.MessageToDict).parameters
  defaults_flag = (
    'always_print_fields_with_no_presence'
    if 'always_print_fields_with_no_presence' in parameters
    else 'including_default_value_fields'
  )
  return json_format.MessageToDict(
    message, preserving_proto_field_name=True, **{defaults_flag: True}
  )


def _read_model_metadata(path: str) -> dict:
  metadata_path = os.path.join(path, 'assets.extra', 'model_metadata.json')
  if not os.path.exists(metadata_path):
    return {}
  try:
    with open(metadata_path, encoding='utf-8') as f:
      return json.load(f)
  except (OSError, ValueError) as exc:
    LOG.warning('Ignoring unreadable %s: %s', metadata_path, exc)
    return {}


def validate_input_shapes(
  signature: Signature, inputs: dict[str, np.ndarray]
) -> None:
  """Checks arrays against the SignatureDef before TF does, for a clear message naming the input."""
  for name, array in inputs.items():
    spec = signature.inputs[name]
    if spec.shape is None:
      continue
    if array.ndim != len(spec.shape) or any(
      d not in (-1, a) for d, a in zip(spec.shape, array.shape)
    ):
      raise invalid_argument(
        f"Input '{name}' has shape [{','.join(map(str, array.shape))}] but signature "
        f"'{signature.name}' expects [{','.join(map(str, spec.shape))}] ({dtype_name(spec.dtype)})."
      )
