"""One loaded model version, run the way TF Serving runs it: its MetaGraphDef loaded into a TF session, each
signature a callable that feeds the SignatureDef's input tensors and fetches its output tensors.

This is TF Serving's session-based SavedModel loader, so TF1 SavedModels that TensorFlow's Python
tf.saved_model.load refuses are served too, and inputs are fed as the client sent them: as in TF Serving, a shape
that differs from the SignatureDef's is not refused up front; the model's own error, if any, is returned.
"""

import dataclasses
import inspect
import json
import logging
import os
import threading
from typing import Callable

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2

from serving import tf_internal
from serving.errors import ServingError, from_tf_exception, invalid_argument
from serving.json_codec import DT_STRING, NUMPY_DTYPES

LOG = logging.getLogger(__name__)
PREDICT_METHOD = 'tensorflow/serving/predict'
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
  # Runs the signature: arrays in the order of `inputs`, arrays out in the order of `outputs`.
  call: Callable[..., list]

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


class _OnFirstCall:
  """A signature's session callable, made when the signature first runs: as TF Serving's Session::Run builds
  a feed/fetch set's executor on its first request (what warm-up requests are for). Making one costs ~0.5 s
  of graph pruning and optimisation, for each of the 6 signatures of the taxi model: most of a load."""

  def __init__(
    self, session: tf.compat.v1.Session, feeds: list[str], fetches: list[str]
  ):
    self._session = session
    self._feeds = feeds
    self._fetches = fetches
    self._lock = threading.Lock()
    self._call = None

  def __call__(self, *arrays) -> list:
    if self._call is None:
      with self._lock:
        if self._call is None:
          self._call = tf_internal.session_callable(
            self._session, self._feeds, self._fetches
          )
    return self._call(*arrays)


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
  """A SavedModel version ready to run. Thread-safe: a TF session runs concurrent calls."""

  def __init__(self, name: str, version: int, path: str):
    self.name = name
    self.version = version
    self.path = path
    meta_graph = read_meta_graph(path)
    self._session = tf_internal.load_session(
      path, meta_graph.meta_info_def.tags
    )
    self.signature_defs = meta_graph.signature_def
    self.signatures: dict[str, Signature] = {}
    for sig_name, sig_def in meta_graph.signature_def.items():
      if sig_name == INIT_OP_SIGNATURE:
        continue
      self.signatures[sig_name] = Signature(
        name=sig_name,
        method_name=sig_def.method_name,
        inputs={k: _tensor_spec(v) for k, v in sig_def.inputs.items()},
        outputs={k: _tensor_spec(v) for k, v in sig_def.outputs.items()},
        call=_OnFirstCall(
          self._session,
          [info.name for info in sig_def.inputs.values()],
          [info.name for info in sig_def.outputs.values()],
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
    """Runs the signature; TF errors become ServingErrors with TF's canonical code."""
    missing = [name for name in signature.inputs if name not in inputs]
    if missing:
      raise invalid_argument(f'Missing input: {missing[0]}')
    try:
      outputs = signature.call(*(inputs[name] for name in signature.inputs))
    except tf.errors.OpError as exc:
      raise from_tf_exception(exc) from None
    except (ValueError, TypeError) as exc:
      raise invalid_argument(str(exc).split('\n')[0]) from None
    return dict(zip(signature.outputs, outputs))

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
