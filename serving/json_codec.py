"""TF Serving's JSON ⇄ tensor rules (util/json_tensor.cc), on numpy arrays.

Requests: row ("instances") and columnar ("inputs") predict bodies become one numpy array per signature input,
with TF Serving's type, shape and precision checks and messages. Responses: output arrays become "predictions"
(row) or "outputs" (columnar) JSON, floats written the way TF Serving writes them (shortest text that
round-trips at the tensor's precision, NaN/Infinity literals, whole numbers with ".0").
Nothing here evaluates or unpickles client data: JSON is parsed by `json.loads` into plain values only.
"""

import base64
import binascii
import json
import math
import re

import numpy as np

from serving.errors import ServingError, invalid_argument

# tensorflow.DataType enum values (types.proto), so this module needs no TensorFlow import.
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_INT16, DT_INT8, DT_STRING = (
  1,
  2,
  3,
  4,
  5,
  6,
  7,
)
DT_INT64, DT_BOOL, DT_HALF, DT_UINT32, DT_UINT64 = 9, 10, 19, 22, 23

DTYPE_NAMES = {
  DT_FLOAT: 'DT_FLOAT',
  DT_DOUBLE: 'DT_DOUBLE',
  DT_INT32: 'DT_INT32',
  DT_UINT8: 'DT_UINT8',
  DT_INT16: 'DT_INT16',
  DT_INT8: 'DT_INT8',
  DT_STRING: 'DT_STRING',
  DT_INT64: 'DT_INT64',
  DT_BOOL: 'DT_BOOL',
  DT_HALF: 'DT_HALF',
  DT_UINT32: 'DT_UINT32',
  DT_UINT64: 'DT_UINT64',
}
NUMPY_DTYPES = {
  DT_FLOAT: np.float32,
  DT_DOUBLE: np.float64,
  DT_HALF: np.float16,
  DT_INT32: np.int32,
  DT_UINT8: np.uint8,
  DT_INT16: np.int16,
  DT_INT8: np.int8,
  DT_INT64: np.int64,
  DT_BOOL: np.bool_,
  DT_UINT32: np.uint32,
  DT_UINT64: np.uint64,
  DT_STRING: object,
}
_INT_RANGES = {
  DT_INT8: (-(2**7), 2**7 - 1),
  DT_UINT8: (0, 2**8 - 1),
  DT_INT16: (-(2**15), 2**15 - 1),
  DT_INT32: (-(2**31), 2**31 - 1),
  DT_INT64: (-(2**63), 2**63 - 1),
  DT_UINT32: (0, 2**32 - 1),
  DT_UINT64: (0, 2**64 - 1),
}
FLOAT_DTYPES = (DT_FLOAT, DT_HALF, DT_DOUBLE)

ROW_FORMAT, COLUMNAR_FORMAT = 'row', 'columnar'
BYTES_TENSOR_SUFFIX = '_bytes'
# numpy's limit (TF's is 254). Checked on the shape before the recursive decoder descends, which bounds its depth.
MAX_TENSOR_RANK = 32
NESTED_TOO_DEEPLY = 'JSON Parse error: The document is nested too deeply'
_MAYBE_SURROGATE = re.compile(rb'\\u[dD][89abcdefABCDEF]')


def dtype_name(dtype: int) -> str:
  return DTYPE_NAMES.get(dtype, f'DT_{dtype}')


def json_text(value) -> str:
  """Compact JSON of a client value, for error messages (NaN written as TF Serving writes it)."""
  try:
    return json.dumps(value, separators=(',', ':'))
  except (TypeError, ValueError, RecursionError):
    return '<unprintable>'


def json_type_name(value) -> str:
  if value is None:
    return 'Null'
  if value is True:
    return 'True'
  if value is False:
    return 'False'
  if isinstance(value, dict):
    return 'Object'
  if isinstance(value, list):
    return 'Array'
  if isinstance(value, str):
    return 'String'
  return 'Number'


def parse_body(body: bytes) -> dict:
  """Parses a request body into a JSON object, with TF Serving's error messages."""
  if not body:
    raise invalid_argument('JSON Parse error: The document is empty')
  try:
    # json.loads accepts NaN, Infinity and -Infinity literals, as TF Serving's parser does.
    doc = json.loads(body)
  except UnicodeDecodeError as exc:
    raise invalid_argument(
      f'JSON Parse error: Invalid encoding in string. {exc.reason}'
    ) from None
  except json.JSONDecodeError as exc:
    raise invalid_argument(
      f'JSON Parse error: {_rapidjson_message(exc)} at offset: {exc.pos}'
    ) from None
  except ValueError:  # Integers of more digits than int() converts (sys.get_int_max_str_digits).
    raise invalid_argument(
      'JSON Parse error: Number too big to be stored in double.'
    ) from None
  except RecursionError:
    raise invalid_argument(NESTED_TOO_DEEPLY) from None
  if not isinstance(doc, dict):
    raise invalid_argument(f'JSON Value: {json_text(doc)} Is not object')
  # The walk runs only when the bytes hold a \\uD800-\\uDFFF escape (a valid pair is decoded into one character).
  if _MAYBE_SURROGATE.search(body):
    _reject_lone_surrogates(doc)
  return doc


# Python's json messages → RapidJSON's GetParseError_En texts, which TF Serving returns.
_RAPIDJSON_MESSAGES = {
  'Expecting value': 'Invalid value.',
  'Expecting property name enclosed in double quotes': 'Missing a name for object member.',
  "Expecting ':' delimiter": 'Missing a colon after a name of object member.',
  'Extra data': 'The document root must not be followed by other values.',
  'Unterminated string starting at': 'Missing a closing quotation mark in string.',
  'Invalid \\escape': 'Invalid escape character in string.',
  'Invalid \\uXXXX escape': 'Incorrect hex digit after \\u escape in string.',
  'Invalid control character at': 'Invalid encoding in string.',
}


def _rapidjson_message(exc: json.JSONDecodeError) -> str:
  if exc.msg == "Expecting ',' delimiter":
    return (
      "Missing a comma or ']' after an array element."
      if _innermost_bracket(exc.doc, exc.pos) == '['
      else "Missing a comma or '}' after an object member."
    )
  return _RAPIDJSON_MESSAGES.get(exc.msg, exc.msg)


def _innermost_bracket(text: str, end: int) -> str:
  """The innermost '[' or '{' still open at text[end], outside strings."""
  stack, in_string, escaped = [], False, False
  for char in text[:end]:
    if in_string:
      if escaped:
        escaped = False
      elif char == '\\':
        escaped = True
      elif char == '"':
        in_string = False
    elif char == '"':
      in_string = True
    elif char in '[{':
      stack.append(char)
    elif char in ']}' and stack:
      stack.pop()
  return stack[-1] if stack else ''


def _reject_lone_surrogates(doc) -> None:
  """json.loads keeps a lone UTF-16 surrogate escape (`"\\ud800"`) as is; it is not valid UTF-8, so RapidJSON
  (TF Serving) rejects it, and str.encode("utf-8") would fail later."""
  stack = [doc]
  while stack:
    value = stack.pop()
    if isinstance(value, str):
      if not value.isascii():
        try:
          value.encode('utf-8')
        except UnicodeEncodeError:
          raise invalid_argument(
            'JSON Parse error: The surrogate pair in string is invalid.'
          ) from None
    elif isinstance(value, dict):
      stack.extend(value)
      stack.extend(value.values())
    elif isinstance(value, list):
      stack.extend(value)


def signature_name(doc: dict) -> str:
  name = doc.get('signature_name', '')
  if not isinstance(name, str):
    raise invalid_argument(
      f"JSON Value: {json_text(doc)} not formatted correctly. 'signature_name' key must be a string value."
    )
  return name


def is_base64_object(value) -> bool:
  return (
    isinstance(value, dict)
    and len(value) == 1
    and isinstance(value.get('b64'), str)
  )


def decode_base64_object(value) -> bytes:
  if not is_base64_object(value):
    raise invalid_argument(
      f'JSON Value: {json_text(value)} not formatted correctly for base64 data'
    )
  text = value['b64']
  try:
    # Like absl::Base64Unescape, accept standard and URL-safe alphabets and missing padding.
    text = text.strip().replace('-', '+').replace('_', '/')
    return base64.b64decode(text + '=' * (-len(text) % 4), validate=True)
  except (binascii.Error, ValueError):
    raise invalid_argument('Unable to base64 decode') from None


def _type_error(value, dtype: int) -> ServingError:
  return invalid_argument(
    f'JSON Value: {json_text(value)} Type: {json_type_name(value)} '
    f'is not of expected type: {_tf_dtype_string(dtype)}'
  )


def _tf_dtype_string(dtype: int) -> str:
  return {
    DT_FLOAT: 'float',
    DT_DOUBLE: 'double',
    DT_HALF: 'half',
    DT_STRING: 'string',
    DT_BOOL: 'bool',
  }.get(dtype, dtype_name(dtype)[3:].lower())


def to_float(value, dtype: int = DT_FLOAT) -> float:
  """TF Serving's rule for a float, double or half tensor (RapidJSON GetFloat / GetDouble): any JSON number,
  rounded to the type; beyond its range it becomes +-Infinity, below its precision 0."""
  try:
    number = float(value)
  except OverflowError:  # An integer literal beyond the double range, which RapidJSON refuses to parse.
    raise invalid_argument(
      'JSON Parse error: Number too big to be stored in double.'
    ) from None
  if dtype == DT_DOUBLE:
    return number
  with np.errstate(over='ignore'):
    return float(NUMPY_DTYPES[dtype](number))


def convert_scalar(value, dtype: int):
  """One JSON leaf value → the Python value stored in a `dtype` tensor, or an INVALID_ARGUMENT error."""
  if dtype in FLOAT_DTYPES:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise _type_error(value, dtype)
    return to_float(value, dtype)
  if dtype == DT_STRING:
    if isinstance(value, str):
      return value.encode('utf-8')
    if isinstance(value, dict):
      return decode_base64_object(value)
    raise _type_error(value, dtype)
  if dtype == DT_BOOL:
    if not isinstance(value, bool):
      raise _type_error(value, dtype)
    return value
  if dtype in _INT_RANGES:
    low, high = _INT_RANGES[dtype]
    if (
      isinstance(value, bool)
      or not isinstance(value, int)
      or not low <= value <= high
    ):
      raise _type_error(value, dtype)
    return value
  raise ServingError(
    'UNIMPLEMENTED',
    f'Conversion of JSON Value: {json_text(value)} to type: {dtype_name(dtype)}',
  )


def dense_shape(value, outer_dims: int = 0) -> list[int]:
  """The tensor shape a nested JSON list describes, read along its first elements (as TF Serving does)."""
  shape = []
  while isinstance(value, list):
    shape.append(len(value))
    if not value:
      break
    value = value[0]
  if len(shape) + outer_dims > MAX_TENSOR_RANK:
    raise invalid_argument(
      f'Tensor of rank {len(shape) + outer_dims} is not supported (at most '
      f'{MAX_TENSOR_RANK} dimensions)'
    )
  return shape


def _fill(value, level: int, shape: list[int], dtype: int, out: list) -> None:
  if not isinstance(value, list):
    if level != len(shape):
      raise invalid_argument(
        f'JSON Value: {json_text(value)} found at incorrect level: {level + 1} in the '
        f'JSON DOM. Expected at level: {len(shape)}'
      )
    if isinstance(value, dict) and dtype != DT_STRING:
      raise _type_error(value, dtype)
    out.append(convert_scalar(value, dtype))
    return
  if level >= len(shape):
    raise invalid_argument(
      f'Encountered list at unexpected level: {level} expected < {len(shape)}'
    )
  if len(value) != shape[level]:
    raise invalid_argument(
      f'Encountered list at unexpected size: {len(value)} at level: {level} '
      f'expected size: {shape[level]}'
    )
  for item in value:
    _fill(item, level + 1, shape, dtype, out)


def json_to_values(value, dtype: int) -> tuple[list[int], list]:
  """A JSON tensor → (shape, flat values), validating that it is dense and of the right type."""
  shape = dense_shape(value)
  values: list = []
  _fill(value, 0, shape, dtype, values)
  return shape, values


def to_array(shape: list[int], values: list, dtype: int) -> np.ndarray:
  if dtype == DT_STRING:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array.reshape(shape)
  return np.array(values, dtype=NUMPY_DTYPES[dtype]).reshape(shape)


def _is_element_object(value) -> bool:
  return isinstance(value, dict) and not is_base64_object(value)


def _decode_plain_rows(
  instances: list, input_dtypes: dict[str, int]
) -> dict[str, np.ndarray] | None:
  """The common case, fast: several inputs, every row an object with exactly those keys, every value a float
  (in range) for a float input or a string for a string input. None: take the general path, which gives the
  same arrays and the error messages."""
  names = input_dtypes.keys()
  columns: dict[str, list] = {name: [] for name in names}
  for row in instances:
    if type(row) is not dict or row.keys() != names:
      return None
    for name, value in row.items():
      columns[name].append(value)
  arrays = {}
  for name, dtype in input_dtypes.items():
    column = columns[name]
    if dtype in FLOAT_DTYPES:
      if any(type(value) is not float for value in column):
        return None
      with np.errstate(
        over='ignore'
      ):  # Beyond the type's range: +-Infinity, as in TF Serving.
        arrays[name] = np.array(column, dtype=NUMPY_DTYPES[dtype])
    elif dtype == DT_STRING:
      if any(type(value) is not str for value in column):
        return None
      array = arrays[name] = np.empty(len(column), dtype=object)
      array[:] = [value.encode('utf-8') for value in column]
    else:
      return None
  return arrays


def decode_instances(
  instances, input_dtypes: dict[str, int]
) -> dict[str, np.ndarray]:
  """Row format: `instances` is a list of rows → one batched array per input (FillTensorMapFromInstancesList)."""
  if not instances:
    raise invalid_argument("No values in 'instances' array")
  if (
    len(input_dtypes) > 1
  ):  # With one input, {"b64": ...} rows are values, not objects: general path only.
    arrays = _decode_plain_rows(instances, input_dtypes)
    if arrays is not None:
      return arrays
  objects = _is_element_object(instances[0])
  if not isinstance(instances[0], dict) and len(input_dtypes) > 1:
    raise invalid_argument(
      'instances is a plain list, but expecting list of objects as multiple input '
      'tensors required as per tensorinfo_map'
    )
  input_names = set(input_dtypes)
  shapes: dict[str, list[int]] = {}
  values: dict[str, list] = {name: [] for name in input_dtypes}

  def add_item(index: int, name: str, item, key_text: str) -> None:
    try:
      if name not in input_dtypes:
        raise invalid_argument(
          f'JSON object: does not have named input: {name}'
        )
      shape = dense_shape(item, outer_dims=1)
      before = len(values[name])
      _fill(item, 0, shape, input_dtypes[name], values[name])
      if name not in shapes:
        shapes[name] = shape
      elif len(values[name]) - before != math.prod(shapes[name]):
        raise invalid_argument(
          f'Expecting tensor size: {math.prod(shapes[name])} '
          f'but got: {len(values[name]) - before}'
        )
      elif shape != shapes[name]:
        raise invalid_argument(
          f'Expecting shape {_shape_text(shapes[name])} but got: {_shape_text(shape)}'
        )
    except ServingError as exc:
      raise invalid_argument(
        f"Failed to process element: {index}{key_text} of 'instances' list. "
        f'Error: {exc.message}'
      ) from None

  single_name = next(iter(input_dtypes))
  for index, element in enumerate(instances):
    if objects:
      if not _is_element_object(element):
        raise invalid_argument(
          f'Expecting object but got list at item {index} of input list'
        )
      for name, item in element.items():
        add_item(index, name, item, f' key: {name}')
      if set(element) != input_names:
        raise invalid_argument(
          f"Failed to process element: {index} of 'instances' list. JSON object: "
          f'{json_text(element)} keys must be equal to: {",".join(sorted(input_names))}'
        )
    else:
      if _is_element_object(element):
        raise invalid_argument(
          f'Expecting value/list but got object at item {index} of input list'
        )
      add_item(index, single_name, element, '')
  return {
    name: to_array([len(instances)] + shapes[name], values[name], dtype)
    for name, dtype in input_dtypes.items()
  }


def decode_inputs(
  inputs, input_dtypes: dict[str, int]
) -> dict[str, np.ndarray]:
  """Columnar format: `inputs` is one tensor, or an object of named tensors (FillTensorMapFromInputsMap)."""
  if not isinstance(inputs, dict) or is_base64_object(inputs):
    if len(input_dtypes) > 1:
      raise invalid_argument(
        'inputs is a plain value/list, but expecting an object as multiple input '
        'tensors required as per tensorinfo_map'
      )
    ((name, dtype),) = input_dtypes.items()
    return {name: to_array(*json_to_values(inputs, dtype), dtype)}
  tensors = {}
  for name, dtype in input_dtypes.items():
    if name not in inputs:
      raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
    tensors[name] = to_array(*json_to_values(inputs[name], dtype), dtype)
  return tensors


def decode_predict_request(
  doc: dict, input_dtypes: dict[str, int]
) -> tuple[str, dict[str, np.ndarray]]:
  """A predict body → (ROW_FORMAT or COLUMNAR_FORMAT, arrays by input name)."""
  if not input_dtypes:
    raise invalid_argument(
      f'Failed to get input map for signature: {signature_name(doc) or "DEFAULT"}'
    )
  has_instances, has_inputs = 'instances' in doc, 'inputs' in doc
  if has_instances and has_inputs:
    raise invalid_argument(
      f'JSON Value: {json_text(doc)} Not formatted correctly expecting only one of '
      f"'inputs' or 'instances' keys to exist "
    )
  if has_instances:
    if not isinstance(doc['instances'], list):
      raise invalid_argument(
        f"JSON Value: {json_text(doc)} Excepting 'instances' to be an list/array"
      )
    return ROW_FORMAT, decode_instances(doc['instances'], input_dtypes)
  if has_inputs:
    return COLUMNAR_FORMAT, decode_inputs(doc['inputs'], input_dtypes)
  raise invalid_argument("Missing 'inputs' or 'instances' key")


def _shape_text(shape) -> str:
  return '[' + ','.join(str(d) for d in shape) + ']'


# --- responses ---------------------------------------------------------------------------------------------------


def format_decimal(value: float, dtype: int = DT_FLOAT) -> str:
  """TF Serving's WriteDecimal: %g if it round-trips at the tensor's precision, else max_digits10."""
  if math.isnan(value):
    return 'NaN'
  if math.isinf(value):
    return '-Infinity' if value < 0 else 'Infinity'
  text = '%g' % value
  if dtype == DT_DOUBLE:
    if float(text) != value:
      text = '%.17g' % value
  elif dtype == DT_HALF:
    if np.float16(text) != np.float16(value):
      text = '%.5g' % value
  elif np.float32(text) != np.float32(value):
    text = '%.9g' % value
  if '.' not in text and 'e' not in text:
    text += '.0'
  return text


def _scalar_writer(dtype: int, as_bytes: bool):
  if dtype in (DT_FLOAT, DT_DOUBLE, DT_HALF):
    return lambda value: format_decimal(value, dtype)
  if dtype == DT_STRING:
    if as_bytes:
      return lambda value: (
        '{"b64":"' + base64.b64encode(value).decode('ascii') + '"}'
      )
    return lambda value: json.dumps(value.decode('utf-8', errors='replace'))
  if dtype == DT_BOOL:
    return lambda value: 'true' if value else 'false'
  return str


def _write_tensor(array: np.ndarray, write) -> str:
  if array.ndim == 0:
    return write(array.item())
  if array.ndim == 1:
    return '[' + ','.join(map(write, array.tolist())) + ']'
  return '[' + ','.join(_write_tensor(sub, write) for sub in array) + ']'


def numpy_dtype_enum(array: np.ndarray) -> int:
  kind = array.dtype
  for enum, np_type in NUMPY_DTYPES.items():
    if np_type is not object and kind == np_type:
      return enum
  if kind.kind in 'OSU':
    return DT_STRING
  raise invalid_argument(f'Failed to write JSON value for tensor type: {kind}')


def _writer_for(name: str, array: np.ndarray):
  dtype = numpy_dtype_enum(array)
  return _scalar_writer(
    dtype, dtype == DT_STRING and name.endswith(BYTES_TENSOR_SUFFIX)
  )


def encode_predict_response(
  outputs: dict[str, np.ndarray], request_format: str
) -> str:
  """Output arrays → TF Serving's predict JSON (MakeJsonFromTensors)."""
  if not outputs:
    raise invalid_argument('Cannot convert empty tensor map to JSON')
  names = sorted(outputs)
  writers = {name: _writer_for(name, outputs[name]) for name in names}
  if request_format == COLUMNAR_FORMAT:
    if len(names) == 1:
      return (
        '{"outputs":'
        + _write_tensor(outputs[names[0]], writers[names[0]])
        + '}'
      )
    return (
      '{"outputs":{'
      + ','.join(
        json.dumps(name) + ':' + _write_tensor(outputs[name], writers[name])
        for name in names
      )
      + '}}'
    )
  batch_size = None
  for name in names:
    if outputs[name].ndim == 0:
      raise invalid_argument(f'Tensor name: {name} has no shape information ')
    if batch_size is not None and outputs[name].shape[0] != batch_size:
      raise invalid_argument(
        f'Tensor name: {name} has inconsistent batch size: {outputs[name].shape[0]} '
        f'expecting: {batch_size}'
      )
    batch_size = outputs[name].shape[0]
  if len(names) == 1:
    return (
      '{"predictions":'
      + _write_tensor(outputs[names[0]], writers[names[0]])
      + '}'
    )
  keys = {name: json.dumps(name) + ':' for name in names}
  rows = (
    '{'
    + ','.join(
      # `[row, ...]` keeps a 0-d array where `[row]` of a 1-D string output
      # (dtype object) would give a bare bytes object.
      keys[name] + _write_tensor(outputs[name][row, ...], writers[name])
      for name in names
    )
    + '}'
    for row in range(batch_size)
  )
  return '{"predictions":[' + ','.join(rows) + ']}'


def encode_classification_results(
  classifications: list[list[tuple[str, float]]],
) -> str:
  """[[(label, score), ...] per example] → {"results": [[["label", score], ...], ...]}."""
  if not classifications:
    raise invalid_argument('Cannot convert empty ClassificationResults to JSON')
  return (
    '{"results":['
    + ','.join(
      '['
      + ','.join(
        '[' + json.dumps(label) + ',' + format_decimal(score) + ']'
        for label, score in classes
      )
      + ']'
      for classes in classifications
    )
    + ']}'
  )


def encode_regression_results(values: list[float]) -> str:
  if not values:
    raise invalid_argument('Cannot convert empty RegressionResults to JSON')
  return (
    '{"results":[' + ','.join(format_decimal(value) for value in values) + ']}'
  )


def encode_error(message: str) -> str:
  return json.dumps({'error': message})
