"""TF Serving's JSON ⇄ tensor rules, checked against util/json_tensor.cc's behaviour and messages."""

import math

import numpy as np
import pytest

from serving import json_codec
from serving.errors import ServingError
from serving.json_codec import (
  DT_BOOL,
  DT_DOUBLE,
  DT_FLOAT,
  DT_INT32,
  DT_INT64,
  DT_STRING,
)

TWO_INPUTS = {'fare': DT_FLOAT, 'company': DT_STRING}


def error_of(function, *args) -> ServingError:
  with pytest.raises(ServingError) as info:
    function(*args)
  return info.value


def test_row_format_with_named_inputs_batches_each_input():
  fmt, tensors = json_codec.decode_predict_request(
    {'instances': [{'fare': 1.5, 'company': 'a'}, {'fare': 2, 'company': 'b'}]},
    TWO_INPUTS,
  )
  assert fmt == json_codec.ROW_FORMAT
  assert tensors['fare'].dtype == np.float32 and tensors['fare'].tolist() == [
    1.5,
    2.0,
  ]
  assert tensors['company'].tolist() == [b'a', b'b']


def test_columnar_format_and_bare_value_for_single_input():
  fmt, tensors = json_codec.decode_predict_request(
    {'inputs': {'fare': [1.0, 2.0], 'company': ['a', 'b']}}, TWO_INPUTS
  )
  assert fmt == json_codec.COLUMNAR_FORMAT and tensors['fare'].shape == (2,)
  _, tensors = json_codec.decode_predict_request(
    {'inputs': [[1, 2], [3, 4]]}, {'x': DT_INT64}
  )
  assert tensors['x'].dtype == np.int64 and tensors['x'].shape == (2, 2)


def test_row_format_plain_list_for_single_input_and_nested_shapes():
  _, tensors = json_codec.decode_predict_request(
    {'instances': [[1.0, 2.0], [3.0, 4.0]]}, {'x': DT_FLOAT}
  )
  assert tensors['x'].shape == (2, 2)


def test_nan_and_infinity_literals_are_accepted_for_floats():
  doc = json_codec.parse_body(
    b'{"instances": [{"fare": NaN, "company": ""}, {"fare": -Infinity, "company": "x"}]}'
  )
  _, tensors = json_codec.decode_predict_request(doc, TWO_INPUTS)
  assert math.isnan(tensors['fare'][0]) and tensors['fare'][1] == -np.inf


@pytest.mark.parametrize(
  'doc, message',
  [
    (
      {'instances': [{'fare': '1.0', 'company': 'a'}]},
      'Failed to process element: 0 key: fare of \'instances\' list. Error: JSON Value: "1.0" Type: String is not '
      'of expected type: float',
    ),
    ({'instances': [{'fare': 1.0}]}, 'keys must be equal to: company,fare'),
    (
      {'instances': [{'fare': 1.0, 'company': 'a', 'tip': 1}]},
      'does not have named input: tip',
    ),
    (
      {'instances': [{'fare': True, 'company': 'a'}]},
      'Type: True is not of expected type: float',
    ),
    (
      {'instances': [{'fare': None, 'company': 'a'}]},
      'Type: Null is not of expected type: float',
    ),
    (
      {'instances': [{'fare': 1.0, 'company': {'x': 1}}]},
      'not formatted correctly for base64 data',
    ),
    (
      {'instances': [{'fare': 1.0, 'company': 'a'}, [1]]},
      'Expecting object but got list at item 1',
    ),
    (
      {'instances': [1.0, 2.0]},
      'instances is a plain list, but expecting list of objects',
    ),
    ({'instances': []}, "No values in 'instances' array"),
    ({'instances': {'fare': 1}}, "Excepting 'instances' to be an list/array"),
    (
      {'instances': [{'fare': 1.0, 'company': 'a'}], 'inputs': {}},
      "expecting only one of 'inputs' or 'instances'",
    ),
    ({'signature_name': 'x'}, "Missing 'inputs' or 'instances' key"),
    (
      {'inputs': {'fare': [1.0]}},
      "Missing named input: company in 'inputs' object.",
    ),
    (
      {'inputs': [1.0]},
      'inputs is a plain value/list, but expecting an object',
    ),
  ],
)
def test_bad_predict_bodies_give_tf_serving_messages(doc, message):
  error = error_of(json_codec.decode_predict_request, doc, TWO_INPUTS)
  assert error.code == 'INVALID_ARGUMENT' and error.http_status == 400
  assert message in error.message


def test_ragged_and_inconsistent_shapes_are_rejected():
  assert (
    'Encountered list at unexpected size'
    in error_of(
      json_codec.decode_predict_request,
      {'inputs': [[1.0, 2.0], [3.0]]},
      {'x': DT_FLOAT},
    ).message
  )
  assert (
    'Expecting tensor size: 2 but got: 3'
    in error_of(
      json_codec.decode_predict_request,
      {'instances': [[1.0, 2.0], [3.0, 4.0, 5.0]]},
      {'x': DT_FLOAT},
    ).message
  )
  assert (
    'Expecting shape [2,2] but got: [1,4]'
    in error_of(
      json_codec.decode_predict_request,
      {'instances': [[[1, 2], [3, 4]], [[1, 2, 3, 4]]]},
      {'x': DT_FLOAT},
    ).message
  )
  assert (
    'found at incorrect level'
    in error_of(
      json_codec.decode_predict_request,
      {'inputs': [[1.0], 2.0]},
      {'x': DT_FLOAT},
    ).message
  )


def test_integer_types_are_range_checked_and_bools_are_not_integers():
  assert json_codec.convert_scalar(2**40, DT_INT64) == 2**40
  with pytest.raises(ServingError):
    json_codec.convert_scalar(2**40, DT_INT32)
  with pytest.raises(ServingError):
    json_codec.convert_scalar(True, DT_INT64)
  with pytest.raises(ServingError):
    json_codec.convert_scalar(1, DT_BOOL)
  assert json_codec.convert_scalar(False, DT_BOOL) is False


def test_base64_strings_decode_to_bytes():
  _, tensors = json_codec.decode_predict_request(
    {'instances': [{'b64': 'AAE='}]}, {'x': DT_STRING}
  )
  assert tensors['x'].tolist() == [b'\x00\x01']
  assert (
    'Unable to base64 decode'
    in error_of(json_codec.decode_base64_object, {'b64': '@@@'}).message
  )


@pytest.mark.parametrize(
  'body, message',
  [
    (b'', 'JSON Parse error: The document is empty'),
    (b'{', 'JSON Parse error:'),
    (b'[1, 2]', 'Is not object'),
    (b'\xff\xfe', 'JSON Parse error'),
    (b'[' * 100000 + b']' * 100000, 'JSON Parse error'),
    (b'{"signature_name": 3, "instances": [1]}', None),
  ],
)
def test_parse_errors(body, message):
  if message is None:
    assert (
      "'signature_name' key must be a string value"
      in error_of(
        json_codec.signature_name, json_codec.parse_body(body)
      ).message
    )
  else:
    assert message in error_of(json_codec.parse_body, body).message


@pytest.mark.parametrize(
  'value, dtype, text',
  [
    (0.5, DT_FLOAT, '0.5'),
    (3.0, DT_FLOAT, '3.0'),
    (9000000.0, DT_FLOAT, '9e+06'),
    (float(np.float32(0.7310586)), DT_FLOAT, '0.731058598'),
    (float(np.float32(0.2)), DT_FLOAT, '0.2'),
    (0.1, DT_DOUBLE, '0.1'),
    (float('nan'), DT_FLOAT, 'NaN'),
    (float('-inf'), DT_FLOAT, '-Infinity'),
  ],
)
def test_decimals_are_written_like_tf_serving(value, dtype, text):
  assert json_codec.format_decimal(value, dtype) == text


def test_row_response_drops_the_name_of_a_single_output_and_objects_for_several():
  probability = np.array([0.25, 0.75], dtype=np.float32)
  assert (
    json_codec.encode_predict_response({'probability': probability}, 'row')
    == '{"predictions":[0.25,0.75]}'
  )
  both = {'probability': probability, 'big_tipper': np.array([0, 1])}
  assert (
    json_codec.encode_predict_response(both, 'row')
    == '{"predictions":[{"big_tipper":0,"probability":0.25},{"big_tipper":1,"probability":0.75}]}'
  )
  assert (
    json_codec.encode_predict_response(both, 'columnar')
    == '{"outputs":{"big_tipper":[0,1],"probability":[0.25,0.75]}}'
  )


def test_string_outputs_and_bytes_suffix():
  outputs = {
    'label': np.array([b'yes'], dtype=object),
    'raw_bytes': np.array([b'\x00'], dtype=object),
  }
  assert (
    json_codec.encode_predict_response(outputs, 'columnar')
    == '{"outputs":{"label":["yes"],"raw_bytes":[{"b64":"AA=="}]}}'
  )


def test_row_response_with_a_string_output_beside_a_number():
  # The forwarded-key pattern: serving_with_id returns the id beside the
  # probability, and TensorFlow hands string outputs over as dtype object.
  outputs = {
    'probability': np.array([0.25, 0.75], dtype=np.float32),
    'trip_id': np.array([b'a', b'b'], dtype=object),
  }
  assert json_codec.encode_predict_response(outputs, 'row') == (
    '{"predictions":[{"probability":0.25,"trip_id":"a"},'
    '{"probability":0.75,"trip_id":"b"}]}'
  )


def test_row_response_with_inconsistent_batch_sizes_is_an_error():
  outputs = {'a': np.zeros(2, np.float32), 'b': np.zeros(3, np.float32)}
  assert (
    'inconsistent batch size'
    in error_of(json_codec.encode_predict_response, outputs, 'row').message
  )


def test_classification_and_regression_results():
  assert (
    json_codec.encode_classification_results([[('0', 0.25), ('1', 0.75)]])
    == '{"results":[[["0",0.25],["1",0.75]]]}'
  )
  assert (
    json_codec.encode_regression_results([0.5, 1.0]) == '{"results":[0.5,1.0]}'
  )


@pytest.mark.parametrize(
  'rows',
  [
    [{'a': 1.5, 'b': 'x'}, {'a': float('nan'), 'b': ''}],
    [{'a': float('inf'), 'b': 'é'}, {'a': -1e38, 'b': 'y'}],
    [{'a': 1, 'b': 'x'}],  # An integer: general path.
    [{'a': 1.0, 'b': {'b64': 'eA=='}}],
    [{'a': [1.0], 'b': 'x'}],
  ],
)
def test_plain_rows_fast_path_matches_the_general_path(rows, monkeypatch):
  dtypes = {'a': json_codec.DT_FLOAT, 'b': json_codec.DT_STRING}
  fast = json_codec.decode_instances(rows, dtypes)
  monkeypatch.setattr(json_codec, '_decode_plain_rows', lambda *args: None)
  general = json_codec.decode_instances(rows, dtypes)
  for name in dtypes:
    assert (
      fast[name].dtype == general[name].dtype
      and fast[name].shape == general[name].shape
    )
    assert [repr(v) for v in fast[name].tolist()] == [
      repr(v) for v in general[name].tolist()
    ]


def test_any_json_number_is_a_float_as_in_current_tf_serving():
  """json_tensor_test.cc FloatTensorWithPrecisionLoss / ThatExceedsMaxReturnsInf / ThatExceedsMinReturnsZero,
  on both decoding paths: plain rows of floats, and the general one (an integer sends a row there)."""
  dtypes = {'a': json_codec.DT_FLOAT, 'b': json_codec.DT_STRING}
  floats = [1.79769e308, -1.79769e308, 2.22507e-308]
  fast = json_codec.decode_instances(
    [{'a': v, 'b': 'x'} for v in floats], dtypes
  )
  general = json_codec.decode_instances(
    [{'a': v, 'b': 'x'} for v in [*floats, 1435774380]], dtypes
  )
  assert fast['a'].tolist() == [float('inf'), float('-inf'), 0.0]
  assert general['a'].tolist() == [
    float('inf'),
    float('-inf'),
    0.0,
    1435774336.0,  # 1435774380 rounded to float32, as float_val: 1435774380 is.
  ]


def test_plain_rows_fast_path_keeps_the_errors():
  dtypes = {'a': json_codec.DT_FLOAT, 'b': json_codec.DT_STRING}
  with pytest.raises(ServingError, match='is not of expected type: string'):
    json_codec.decode_instances([{'a': 1.0, 'b': None}], dtypes)
