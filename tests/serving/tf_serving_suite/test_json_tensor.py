"""Ported from tensorflow/serving 2.16.1 tensorflow_serving/util/json_tensor_test.cc: the request side
(FillPredictRequestFromJson), checked on serving.json_codec, the module that turns a predict body into tensors.

Each test names the upstream TEST it comes from; an upstream TensorProto (dtype, shape, values) is compared as
the numpy array it denotes. The response side (MakeJsonFromTensors, the classify/regress result writers) is
covered by tests/serving/test_json_codec.py.
"""

import math

import numpy as np
import pytest

from serving import json_codec
from serving.errors import ServingError
from serving.json_codec import DT_DOUBLE, DT_FLOAT, DT_INT32, DT_STRING


def decode(doc, dtypes):
  return json_codec.decode_predict_request(doc, dtypes)


def assert_tensor(array, dtype, shape, values):
  assert array.dtype == dtype and array.shape == shape
  flat = array.reshape(-1).tolist()
  assert len(flat) == len(values)
  for got, want in zip(flat, values):
    assert got == want or (
      isinstance(want, float) and math.isnan(want) and math.isnan(got)
    ), (flat, values)


def test_single_unnamed_tensor():
  """SingleUnnamedTensor"""
  form, tensors = decode(
    {'instances': [[1, 2], [3, 4], [5, 6]]}, {'default': DT_INT32}
  )
  assert form == json_codec.ROW_FORMAT
  assert_tensor(tensors['default'], np.int32, (3, 2), [1, 2, 3, 4, 5, 6])


def test_mixed_input_for_float_tensor():
  """MixedInputForFloatTensor"""
  _, tensors = decode(
    {'instances': [1, 2.0, 3, 4, 5.003, 0.007, 0.0]}, {'default': DT_FLOAT}
  )
  assert_tensor(
    tensors['default'],
    np.float32,
    (7,),
    [float(np.float32(v)) for v in (1, 2.0, 3, 4, 5.003, 0.007, 0.0)],
  )


def test_mixed_input_for_double_tensor():
  """MixedInputForDoubleTensor"""
  _, tensors = decode(
    {'instances': [1.0, 2, 3, 4, 0.662, 0, 0.0]}, {'default': DT_DOUBLE}
  )
  assert_tensor(
    tensors['default'], np.float64, (7,), [1.0, 2, 3, 4, 0.662, 0, 0.0]
  )


@pytest.mark.parametrize('value', [1435774380, 1435774380.0])
def test_float_tensor_with_precision_loss(value):
  """FloatTensorWithPrecisionLoss: accepted, rounded to float32."""
  _, tensors = decode({'instances': [value]}, {'default': DT_FLOAT})
  assert_tensor(
    tensors['default'], np.float32, (1,), [float(np.float32(value))]
  )


@pytest.mark.parametrize(
  'text, expected',
  [
    # absl::Substitute prints +-numeric_limits<double>::max() and ::min() with 6 significant digits.
    ('1.79769e+308', math.inf),
    ('-1.79769e+308', -math.inf),
    ('2.22507e-308', 0.0),
    ('-2.22507e-308', -0.0),
  ],
)
def test_float_tensor_that_exceeds_max_returns_inf_or_min_returns_zero(
  text, expected
):
  """FloatTensorThatExceedsMaxReturnsInf, FloatTensorThatExceedsMinReturnsZero (through the JSON parser)."""
  doc = json_codec.parse_body(f'{{ "instances": [{text}] }}'.encode())
  _, tensors = decode(doc, {'default': DT_FLOAT})
  (value,) = tensors['default'].tolist()
  assert value == expected and math.copysign(1, value) == math.copysign(
    1, expected
  )


def test_single_unnamed_tensor_with_signature():
  """SingleUnnamedTensorWithSignature"""
  doc = {'signature_name': 'predict_images', 'instances': [[1, 2], [3, 4]]}
  assert json_codec.signature_name(doc) == 'predict_images'
  _, tensors = decode(doc, {'default': DT_INT32})
  assert_tensor(tensors['default'], np.int32, (2, 2), [1, 2, 3, 4])


def test_single_unnamed_tensor_base64_scalars():
  """SingleUnnamedTensorBase64Scalars"""
  _, tensors = decode(
    {'instances': [{'b64': 'aGVsbG8='}, {'b64': 'd29ybGQ='}]},
    {'default': DT_STRING},
  )
  assert_tensor(tensors['default'], object, (2,), [b'hello', b'world'])


def test_single_unnamed_tensor_base64_lists():
  """SingleUnnamedTensorBase64Lists"""
  _, tensors = decode(
    {'instances': [[{'b64': 'aGVsbG8='}], [{'b64': 'd29ybGQ='}]]},
    {'default': DT_STRING},
  )
  assert_tensor(tensors['default'], object, (2, 1), [b'hello', b'world'])


def test_single_named_tensor_base64():
  """SingleNamedTensorBase64"""
  _, tensors = decode(
    {
      'instances': [{'default': [[{'b64': 'aGVsbG8='}], [{'b64': 'd29ybGQ='}]]}]
    },
    {'default': DT_STRING},
  )
  assert_tensor(tensors['default'], object, (1, 2, 1), [b'hello', b'world'])


def test_multiple_named_tensor():
  """MultipleNamedTensor (NaN and Infinity literals included)."""
  doc = json_codec.parse_body(
    b"""{"instances": [
      {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"],
       "float_tensor": [1.0, NaN], "dbl_tensor": [NaN]},
      {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"],
       "float_tensor": [2.0, Infinity], "dbl_tensor": [2.0]}]}"""
  )
  _, tensors = decode(
    doc,
    {
      'int_tensor': DT_INT32,
      'str_tensor': DT_STRING,
      'float_tensor': DT_FLOAT,
      'dbl_tensor': DT_DOUBLE,
    },
  )
  assert_tensor(
    tensors['int_tensor'],
    np.int32,
    (2, 3, 2),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2],
  )
  assert_tensor(
    tensors['str_tensor'], object, (2, 2), [b'foo', b'bar', b'baz', b'bat']
  )
  assert_tensor(
    tensors['float_tensor'], np.float32, (2, 2), [1.0, math.nan, 2.0, math.inf]
  )
  assert_tensor(tensors['dbl_tensor'], np.float64, (2, 1), [math.nan, 2.0])


def test_single_unnamed_tensor_columnar_format():
  """SingleUnnamedTensorColumnarFormat"""
  form, tensors = decode(
    {'inputs': {'int_tensor': [[[1, 2], [3, 4], [5, 6]]]}},
    {'int_tensor': DT_INT32},
  )
  assert form == json_codec.COLUMNAR_FORMAT
  assert_tensor(tensors['int_tensor'], np.int32, (1, 3, 2), [1, 2, 3, 4, 5, 6])


def test_multiple_named_tensor_columnar_format():
  """MultipleNamedTensorColumnarFormat: columns need not share a batch size."""
  _, tensors = decode(
    {
      'inputs': {
        'int_tensor': [[[1, 2], [3, 4], [5, 6]]],
        'str_tensor': ['foo', 'bar'],
        'float_tensor': [1.0],
        'dbl_tensor': 2.0,
      }
    },
    {
      'int_tensor': DT_INT32,
      'str_tensor': DT_STRING,
      'float_tensor': DT_FLOAT,
      'dbl_tensor': DT_DOUBLE,
    },
  )
  assert_tensor(tensors['int_tensor'], np.int32, (1, 3, 2), [1, 2, 3, 4, 5, 6])
  assert_tensor(tensors['str_tensor'], object, (2,), [b'foo', b'bar'])
  assert_tensor(tensors['float_tensor'], np.float32, (1,), [1.0])
  assert_tensor(tensors['dbl_tensor'], np.float64, (), [2.0])


@pytest.mark.parametrize(
  'body, message',
  [
    (b'', 'document is empty'),
    (
      b'{"signature_name": 5, "instances": [[1,2],[3,4],[5,6,7]]}',
      'must be a string value',
    ),
    (
      b'{"instances": [[1,2],[3,4],[5,6,7]], "inputs": [[1,2],[3,4],[5,6,7]]}',
      'Not formatted correctly',
    ),
    (b'{"instances": [[1,2],[3,4],[5,6,7]]}', 'Expecting tensor size'),
    (b'{"instances": [[1,2],[3,4],[[5,6]]]}', 'Expecting shape'),
    (b'{"instances": [1, [1]]}', 'Expecting shape'),
    (b'{"instances": [[1,2],["a", "b"]]}', 'not of expected type'),
  ],
)
def test_single_unnamed_tensor_errors(body, message):
  """SingleUnnamedTensorErrors"""
  with pytest.raises(ServingError) as info:
    doc = json_codec.parse_body(body)
    json_codec.signature_name(doc)
    decode(doc, {'default': DT_INT32})
  assert info.value.code == 'INVALID_ARGUMENT' and message in info.value.message


@pytest.mark.parametrize(
  'instances, dtypes, message',
  [
    (
      [
        {'int_tensor': [[1, 2], [3, 4], [5, 6]], 'str_tensor': ['foo', 'bar']},
        {
          'int_tensor': [[[7, 8], [9, 0], [1, 2]]],
          'str_tensor': ['baz', 'bat'],
        },
      ],
      {'int_tensor': DT_INT32, 'str_tensor': DT_STRING},
      'Expecting shape',
    ),
    (
      [
        {
          'int_tensor': [[1, 2], [3, 4], [5, 6], [7, 8]],
          'str_tensor': ['foo', 'bar'],
        },
        {'int_tensor': [[7, 8], [9, 0], [1, 2]], 'str_tensor': ['baz', 'bat']},
      ],
      {'int_tensor': DT_INT32, 'str_tensor': DT_STRING},
      'Expecting tensor size',
    ),
    (
      [
        {'int_tensor': [[1, 2], [3, 4], [5, 6]], 'str_tensor': ['foo', 'bar']},
        [1, 20, 30],
        {
          'int_tensor': [[[7, 8], [9, 0], [1, 2]]],
          'str_tensor': ['baz', 'bat'],
        },
      ],
      {'int_tensor': DT_INT32, 'str_tensor': DT_STRING},
      'Expecting object but got list',
    ),
    (
      [['baz', 'bar'], {'str_tensor': ['baz', 'bat']}],
      {'str_tensor': DT_STRING},
      'Expecting value/list but got object',
    ),
  ],
)
def test_multiple_named_tensor_errors(instances, dtypes, message):
  """MultipleNamedTensorErrors"""
  with pytest.raises(ServingError) as info:
    decode({'instances': instances}, dtypes)
  assert info.value.code == 'INVALID_ARGUMENT' and message in info.value.message
