"""JSON examples ⇄ tf.train.Example, with TF Serving's typing rules (MakeExampleFromJsonObject).

Strings become bytes_list, JSON integers and booleans int64_list, JSON decimals float_list, {"b64": ...}
bytes_list. A feature is a value or a list of values of one kind; null and nested lists are rejected.
"""

import math

from tensorflow.core.example import example_pb2

from serving.errors import invalid_argument
from serving.json_codec import (
  decode_base64_object,
  is_base64_object,
  json_type_name,
  to_float,
)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_KIND_NAMES = {
  'bytes_list': 'bytes',
  'float_list': 'float',
  'int64_list': 'int64',
}


def _kind_and_value(value, feature_name: str):
  if isinstance(value, bool):
    return 'int64_list', int(value)
  if isinstance(value, str):
    return 'bytes_list', value.encode('utf-8')
  if isinstance(value, dict):
    if not is_base64_object(value):
      raise invalid_argument(
        f'Feature: {feature_name} has element with unexpected JSON type: Object'
      )
    return 'bytes_list', decode_base64_object(value)
  if isinstance(value, float):
    return 'float_list', to_float(value)
  if isinstance(value, int):
    if value > _INT64_MAX:
      raise invalid_argument(
        f'Feature: {feature_name} has uint64_t element. Only int64_t is supported.'
      )
    if value < _INT64_MIN:
      raise invalid_argument(
        f'Feature: {feature_name} has element out of the int64 range.'
      )
    return 'int64_list', value
  raise invalid_argument(
    f'Feature: {feature_name} has element with unexpected JSON type: {json_type_name(value)}'
  )


def feature_lists(example_json) -> dict[str, tuple[str, list]]:
  """A JSON example object → {feature name: (kind, values)}, validated."""
  if not isinstance(example_json, dict):
    raise invalid_argument(
      f'Example must be JSON object but got JSON {json_type_name(example_json)}'
    )
  features = {}
  for name, content in example_json.items():
    kind, values = None, []
    for item in content if isinstance(content, list) else [content]:
      item_kind, value = _kind_and_value(item, name)
      if kind is not None and item_kind != kind:
        raise invalid_argument(
          f'Unexpected element type in feature: {name} expecting type: '
          f'{_KIND_NAMES[kind]}'
        )
      kind = item_kind
      values.append(value)
    features[name] = (kind, values)
  return features


def serialize_example(features: dict[str, tuple[str, list]]) -> bytes:
  example = example_pb2.Example()
  feature_map = example.features.feature
  for name, (kind, values) in features.items():
    feature = feature_map[name]
    if kind is None:  # An empty list: a present feature with no values.
      continue
    getattr(feature, kind).value.extend(values)
  return example.SerializeToString()


def merge_context(context_json, example_json) -> dict:
  """ExampleListWithContext: each example is the context plus its own features (the example's win)."""
  if context_json is None:
    return example_json
  if not isinstance(example_json, dict):
    return example_json  # feature_lists reports the type error.
  merged = dict(context_json)
  merged.update(example_json)
  return merged


def _log_value(values: list):
  """Feature values as logged: a single value unwrapped, none as null, NaN as null."""
  cleaned = [
    None if isinstance(v, float) and math.isnan(v) else v for v in values
  ]
  if not cleaned:
    return None
  return cleaned[0] if len(cleaned) == 1 else cleaned


def example_to_log_features(serialized: bytes) -> dict:
  """A serialized tf.Example → {name: value | [values] | null} for the request log."""
  example = example_pb2.Example.FromString(serialized)
  features = {}
  for name, feature in example.features.feature.items():
    kind = feature.WhichOneof('kind')
    if kind is None:
      features[name] = None
    elif kind == 'bytes_list':
      features[name] = _log_value(
        [v.decode('utf-8', errors='replace') for v in feature.bytes_list.value]
      )
    else:
      features[name] = _log_value(list(getattr(feature, kind).value))
  return features


def json_example_to_log_features(example_json: dict) -> dict:
  return {
    name: _log_value(content if isinstance(content, list) else [content])
    for name, content in example_json.items()
  }
