"""Predict, classify and regress requests, from a parsed JSON body to model inputs and back to response JSON.

Each `prepare_*` function validates a request against the served version's signatures and returns a
`PreparedRequest`: the arrays to feed, how to turn the outputs into the response body, and what to log.

Classify/regress follow TF Serving (classifier.cc / regressor.cc): they need a signature with one serialized
tf.Example input `inputs` and TF Serving's output names; anything else is refused with TF Serving's messages.
Method names are checked only with --enable_signature_method_name_check (TF Serving's default: off), then as
TF Serving does: predict takes predict, classify and regress signatures; classify only classify, regress only
regress.
"""

import dataclasses
import math
from typing import Callable

import numpy as np

from serving import json_codec, tf_example
from serving.errors import ServingError, invalid_argument
from serving.json_codec import DT_STRING
from serving.servable import (
  CLASSIFY_METHOD,
  DEFAULT_SIGNATURE,
  PREDICT_METHOD,
  REGRESS_METHOD,
  Servable,
  Signature,
)

EXAMPLE_INPUT_NAMES = ('examples', 'inputs')


@dataclasses.dataclass
class PreparedRequest:
  method: str
  signature: Signature
  inputs: dict[str, np.ndarray]
  instance_count: int
  encode_response: Callable[[dict[str, np.ndarray]], str]
  log_instances: (
    list[dict] | None
  )  # Per-instance raw features for the request log...
  log_example_inputs: (
    np.ndarray | None
  )  # ...or serialized tf.Examples the log writer decodes.
  missing_values: dict[
    str, tuple[int, int]
  ]  # feature → (missing, total), for the input metrics.


def _takes_examples(signature: Signature) -> bool:
  return (
    len(signature.inputs) == 1
    and next(iter(signature.inputs)) in EXAMPLE_INPUT_NAMES
    and next(iter(signature.inputs.values())).dtype == DT_STRING
  )


def _array_missing(array: np.ndarray) -> int:
  if (
    array.size <= 16
  ):  # Typical single-row requests: plain Python beats numpy's per-call overhead.
    if array.dtype.kind == 'f':
      return sum(1 for value in array.ravel().tolist() if value != value)
    if array.dtype == object:
      return sum(1 for value in array.ravel().tolist() if value == b'')
    return 0
  if array.dtype.kind == 'f':
    return int(np.count_nonzero(np.isnan(array)))
  if array.dtype == object:
    return int(np.count_nonzero(array == b''))
  return 0


def _predict_log_instances(
  request_format: str, body_value, signature: Signature, rows: int
) -> list[dict]:
  """Per-instance features in the client's own JSON form."""
  names = list(signature.inputs)
  if request_format == json_codec.ROW_FORMAT:
    if isinstance(body_value[0], dict) and not json_codec.is_base64_object(
      body_value[0]
    ):
      return body_value
    return [{names[0]: item} for item in body_value]
  columns = (
    body_value
    if isinstance(body_value, dict)
    and not json_codec.is_base64_object(body_value)
    else {names[0]: body_value}
  )
  columns = {name: columns[name] for name in names}
  if all(
    isinstance(column, list) and len(column) == rows
    for column in columns.values()
  ):
    return [
      {name: column[i] for name, column in columns.items()} for i in range(rows)
    ]
  return [columns]


def prepare_predict(
  servable: Servable, doc: dict, check_method_name: bool = False
) -> PreparedRequest:
  name = json_codec.signature_name(doc)
  signature = servable.signature(name)
  if signature is None:
    raise invalid_argument(
      f'Serving signature name: "{name or DEFAULT_SIGNATURE}" not found in signature def'
    )
  if check_method_name and signature.method_name not in (
    PREDICT_METHOD,
    CLASSIFY_METHOD,
    REGRESS_METHOD,
  ):
    raise ServingError(
      'INTERNAL',
      f'Expected prediction signature method_name to be one of {{{PREDICT_METHOD}, '
      f'{CLASSIFY_METHOD}, {REGRESS_METHOD}}}. Was: {signature.method_name}',
    )
  request_format, inputs = json_codec.decode_predict_request(
    doc, signature.input_dtypes
  )
  # As in TF Serving, shapes (batch sizes of columnar inputs too) are left to the model to accept or refuse.
  rows = {array.shape[0] if array.ndim else 1 for array in inputs.values()}
  row_count = rows.pop() if len(rows) == 1 else 1
  body_value = (
    doc['instances']
    if request_format == json_codec.ROW_FORMAT
    else doc['inputs']
  )
  if _takes_examples(signature):
    log_instances, log_examples = None, next(iter(inputs.values())).reshape(-1)
  else:
    log_instances, log_examples = (
      _predict_log_instances(request_format, body_value, signature, row_count),
      None,
    )
  return PreparedRequest(
    method='predict',
    signature=signature,
    inputs=inputs,
    instance_count=row_count,
    encode_response=lambda outputs: json_codec.encode_predict_response(
      outputs, request_format
    ),
    log_instances=log_instances,
    log_example_inputs=log_examples,
    missing_values={
      k: (_array_missing(v), v.size)
      for k, v in inputs.items()
      if v.dtype.kind == 'f' or v.dtype == object
    },
  )


# --- classify / regress ------------------------------------------------------------------------------------------


def _parse_examples(doc: dict, method: str) -> list[dict]:
  context = doc.get('context')
  if context is not None:
    tf_example.feature_lists(
      context
    )  # Validates the context on its own, as TF Serving does.
  if 'examples' not in doc:
    raise invalid_argument(
      f"JSON Value: {json_codec.json_text(doc)} When method is {method}, key 'examples' "
      f'is expected and was not found'
    )
  examples = doc['examples']
  if not isinstance(examples, list):
    raise invalid_argument(
      f"JSON Value: {json_codec.json_text(doc)} Expecting 'examples' value to be an "
      f'list/array'
    )
  if not examples:
    raise invalid_argument(
      f"JSON Value: {json_codec.json_text(doc)} 'examples' value is an empty array"
    )
  return [tf_example.merge_context(context, example) for example in examples]


def signature_method_error(
  signature: Signature, expected_method: str
) -> Exception:
  return invalid_argument(
    f'Expected {"classification" if expected_method == CLASSIFY_METHOD else "regression"} '
    f'signature method_name to be {expected_method}. Was: {signature.method_name}'
  )


def check_tf_serving_signature(signature: Signature, method: str) -> str:
  """TF Serving's PreProcessClassification / PreProcessRegression checks; returns the input key."""
  if len(signature.inputs) != 1:
    raise invalid_argument('Expected one input Tensor.')
  if method == 'classify':
    if len(signature.outputs) not in (1, 2):
      raise invalid_argument(
        f'Expected one or two output Tensors, found {len(signature.outputs)}'
      )
    if 'inputs' not in signature.inputs:
      raise invalid_argument(
        f'No classification inputs found in SignatureDef: {signature.name}'
      )
    if 'classes' not in signature.outputs and 'scores' not in signature.outputs:
      raise invalid_argument(
        'Expected classification signature outputs to contain at least one of "classes" '
        f'or "scores". Signature was: {signature.name}'
      )
  else:
    if len(signature.outputs) != 1:
      raise invalid_argument('Expected one output Tensor.')
    if 'inputs' not in signature.inputs:
      raise invalid_argument(
        f'No regression inputs found in SignatureDef: {signature.name}'
      )
    if 'outputs' not in signature.outputs:
      raise invalid_argument(
        f'No regression outputs found in SignatureDef: {signature.name}'
      )
  return 'inputs'


def _scores_column(array: np.ndarray, name: str, count: int) -> np.ndarray:
  """A [batch] or [batch, 1] float output as a [batch] vector."""
  if array.ndim == 2 and array.shape[1] == 1:
    array = array[:, 0]
  if array.ndim != 1 or array.shape[0] != count:
    raise invalid_argument(
      f"Expected output Tensor '{name}' shape to be either [batch_size] or "
      f'[batch_size, 1] but got {list(array.shape)}'
    )
  return array


def regression_values(outputs: dict[str, np.ndarray], count: int) -> list:
  """TF Serving's PostProcessRegressionResult: one float per example."""
  return (
    _scores_column(outputs['outputs'], 'outputs', count).astype(float).tolist()
  )


def classification_results(
  outputs: dict[str, np.ndarray], count: int
) -> list[list[tuple[str, float]]]:
  """TF Serving's PostProcessClassificationResult."""
  classes, scores = outputs.get('classes'), outputs.get('scores')
  for name, array in (('classes', classes), ('scores', scores)):
    if array is None:
      continue
    if array.ndim != 2:
      raise invalid_argument(
        f'Expected Tensor shape: [batch_size num_classes] but got {list(array.shape)}'
      )
    if array.shape[0] != count:
      raise invalid_argument(
        f'Expected {name} output batch size of {count}. Got: {array.shape[0]}'
      )
  if scores is not None and scores.dtype != np.float32:
    raise invalid_argument(
      f'Expected scores Tensor of DT_FLOAT. Got: {scores.dtype}'
    )
  if (
    classes is not None
    and scores is not None
    and classes.shape[1] != scores.shape[1]
  ):
    raise invalid_argument(
      f'Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. '
      f'{scores.shape[1]}'
    )
  num_classes = (classes if classes is not None else scores).shape[1]
  results = []
  for i in range(count):
    results.append(
      [
        (
          classes[i, c].decode('utf-8', errors='replace')
          if classes is not None
          else '',
          float(scores[i, c]) if scores is not None else 0.0,
        )
        for c in range(num_classes)
      ]
    )
  return results


def prepare_classify_regress(
  servable: Servable,
  doc: dict,
  method: str,
  check_method_name: bool = False,
  known_features=(),
) -> PreparedRequest:
  """`method` is "classify" or "regress"."""
  name = json_codec.signature_name(doc) or DEFAULT_SIGNATURE
  examples_json = _parse_examples(doc, method)
  # The whole request is checked before the signature, as TF Serving parses it into a request proto first.
  example_features = [
    tf_example.feature_lists(example) for example in examples_json
  ]
  signature = servable.signature(name)
  if signature is None:
    raise invalid_argument(f'No signature was found with the name: {name}')
  expected_method = CLASSIFY_METHOD if method == 'classify' else REGRESS_METHOD
  count = len(examples_json)
  if check_method_name and signature.method_name != expected_method:
    raise signature_method_error(signature, expected_method)
  input_key = check_tf_serving_signature(signature, method)
  if method == 'classify':

    def encode(outputs):
      return json_codec.encode_classification_results(
        classification_results(outputs, count)
      )
  else:

    def encode(outputs):
      return json_codec.encode_regression_results(
        regression_values(outputs, count)
      )

  serialized = np.empty(count, dtype=object)
  for i, features in enumerate(example_features):
    serialized[i] = tf_example.serialize_example(features)
  inputs = {input_key: serialized}
  return PreparedRequest(
    method=method,
    signature=signature,
    inputs=inputs,
    instance_count=count,
    encode_response=encode,
    log_instances=[
      tf_example.json_example_to_log_features(example)
      for example in examples_json
    ],
    log_example_inputs=None,
    missing_values=_examples_missing(examples_json, known_features),
  )


def _is_missing_json(value) -> bool:
  if isinstance(value, list):
    return not value or all(_is_missing_json(v) for v in value)
  return value == '' or (isinstance(value, float) and math.isnan(value))


def _examples_missing(
  examples_json: list[dict], known_features
) -> dict[str, tuple[int, int]]:
  counts = {}
  for feature in known_features:
    missing = sum(
      1
      for example in examples_json
      if feature not in example or _is_missing_json(example[feature])
    )
    counts[feature] = (missing, len(examples_json))
  return counts
