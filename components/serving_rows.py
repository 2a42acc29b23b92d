"""Serving rows (CSV, JSON lines, the server's request log) -> tf.Examples
typed like the training examples.

Training examples come from CsvExampleGen, which writes INT, FLOAT or BYTES
per column and an empty value list for an empty cell. The server logs numbers
as JSON floats, NaN as null and a missing string as "". Here each value takes
the type of its feature in the schema when that loses nothing (12.0 -> INT 12
for an INT feature); otherwise it keeps its own type (12.5, or "abc", for an
INT feature), which ExampleValidator then reports as schema skew.
"""

import base64
import csv
import glob
import io
import json
import math
import os
from typing import Any, Dict, Iterable, Iterator, List, Optional

import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

CSV_SUFFIXES = ('.csv',)
JSON_SUFFIXES = ('.jsonl', '.json', '.ndjson')
REQUEST_LOG_PATTERN = 'requests-*.jsonl'
INT, FLOAT, BYTES = 'int64_list', 'float_list', 'bytes_list'
_KINDS = {schema_pb2.INT: INT, schema_pb2.FLOAT: FLOAT, schema_pb2.BYTES: BYTES}


class UnreadableInput(ValueError):
  """Serving data that cannot be read as rows of features."""


def feature_kinds(schema: schema_pb2.Schema) -> Dict[str, str]:
  """Feature name -> tf.train.Feature kind of its schema type."""
  return {f.name: _KINDS[f.type] for f in schema.feature if f.type in _KINDS}


def file_format(path: str) -> str:
  lower = path.lower()
  if lower.endswith(CSV_SUFFIXES):
    return 'csv'
  if lower.endswith(JSON_SUFFIXES):
    return 'json'
  raise UnreadableInput(
    f'{path}: unknown serving data format (expected .csv, .jsonl or .json)'
  )


def data_files(input_base: str, pattern: str) -> List[str]:
  """The files of one span, in name order (request logs: write order)."""
  paths = sorted(
    p for p in glob.glob(os.path.join(input_base, pattern)) if os.path.isfile(p)
  )
  return [p for p in paths if p.lower().endswith(CSV_SUFFIXES + JSON_SUFFIXES)]


# --- Reading rows ---------------------------------------------------------------------------------


def csv_header(path: str) -> List[str]:
  with open(path, newline='') as f:
    try:
      return next(csv.reader(f))
    except StopIteration:
      raise UnreadableInput(f'{path}: empty CSV file, no header') from None
    except (csv.Error, UnicodeDecodeError) as e:
      raise UnreadableInput(f'{path}: not a CSV file ({e})') from None


def parse_csv_line(line: str, header: List[str]) -> Dict[str, Any]:
  """One CSV line -> {column: text or None for an empty cell}."""
  values = next(csv.reader(io.StringIO(line)))
  if len(values) != len(header):
    raise UnreadableInput(
      f'CSV line has {len(values)} values for {len(header)} columns: '
      f'{line[:200]!r}'
    )
  return {
    name: (value if value != '' else None)
    for name, value in zip(header, values)
  }


def parse_json_line(
  line: str, model_version: Optional[int] = None
) -> Optional[Dict[str, Any]]:
  """One JSON line -> its features, or None for a blank line or a request-log
  record of another model version. A line with a `features` object is a
  request-log record; any other object is a row of features."""
  if not line.strip():
    return None
  try:
    record = json.loads(line)
  except ValueError as e:
    raise UnreadableInput(f'Not a JSON line ({e}): {line[:200]!r}') from None
  if not isinstance(record, dict):
    raise UnreadableInput(f'Not a JSON object: {line[:200]!r}')
  if isinstance(record.get('features'), dict):
    if (
      model_version is not None
      and record.get('model_version') is not None
      and int(record['model_version']) != int(model_version)
    ):
      return None
    return record['features']
  return record


def read_rows(
  path: str, model_version: Optional[int] = None
) -> Iterator[Dict[str, Any]]:
  """Every row of one file (for tests, benchmarks and small inputs; the
  pipeline reads files with Beam)."""
  if file_format(path) == 'csv':
    header = csv_header(path)
    with open(path, newline='') as f:
      next(f)
      for line in f:
        if line.strip():
          yield parse_csv_line(line, header)
  else:
    with open(path) as f:
      for line in f:
        row = parse_json_line(line, model_version)
        if row is not None:
          yield row


def check_readable(
  path: str, model_version: Optional[int] = None, lines: int = 5
) -> None:
  """Raises UnreadableInput unless the first lines of `path` parse."""
  try:
    if file_format(path) == 'csv':
      header = csv_header(path)
      with open(path, newline='') as f:
        next(f)
        for _, line in zip(range(lines), f):
          if line.strip():
            parse_csv_line(line, header)
    else:
      with open(path) as f:
        for _, line in zip(range(lines), f):
          parse_json_line(line, model_version)
  except (OSError, UnicodeDecodeError) as e:
    raise UnreadableInput(f'{path}: {e}') from None
  except UnreadableInput as e:
    raise UnreadableInput(f'{path}: {e}') from None


# --- Typing values --------------------------------------------------------------------------------


def _number_from_text(text: str):
  for parse in (int, float):
    try:
      return parse(text)
    except ValueError:
      continue
  return text


def _typed(value, kind: Optional[str], from_text: bool):
  """(kind, value) of one value, or None for a missing one."""
  if value is None:
    return None
  if isinstance(value, dict) and 'b64' in value:
    return BYTES, base64.b64decode(value['b64'])
  if isinstance(value, str):
    if value == '':
      return None
    if (
      from_text
      or kind in (INT, FLOAT)
      or value in ('NaN', 'Infinity', '-Infinity')
    ):
      number = _number_from_text(value)
      if not isinstance(number, str) and kind != BYTES:
        value = number
    if isinstance(value, str):
      return BYTES, value.encode('utf-8')
  if isinstance(value, bool):
    value = int(value)
  if isinstance(value, float):
    if math.isnan(value):
      return None
    if kind == INT and value.is_integer():
      return INT, int(value)
    return FLOAT, value
  if isinstance(value, int):
    return (FLOAT, float(value)) if kind == FLOAT else (INT, value)
  raise UnreadableInput(f'Unsupported value {value!r}')


def to_example(
  row: Dict[str, Any], kinds: Dict[str, str], from_text: bool = False
) -> tf.train.Example:
  """A row of raw features -> tf.Example. `kinds` from feature_kinds(schema);
  `from_text`: values are CSV text (numbers are inferred for every column)."""
  example = tf.train.Example()
  feature_map = example.features.feature
  for name, value in row.items():
    kind = kinds.get(name)
    values = value if isinstance(value, list) else [value]
    typed = [
      t for t in (_typed(v, kind, from_text) for v in values) if t is not None
    ]
    if not typed:
      if kind is not None:  # Present but empty, as CsvExampleGen writes it.
        getattr(feature_map[name], kind).SetInParent()
      continue
    # One kind per feature: the schema's if every value has it.
    value_kinds = {k for k, _ in typed}
    out_kind = value_kinds.pop() if len(value_kinds) == 1 else BYTES
    if out_kind == BYTES:
      raw = [v if isinstance(v, bytes) else str(v).encode() for _, v in typed]
    else:
      raw = [v for _, v in typed]
    getattr(feature_map[name], out_kind).value.extend(raw)
  return example


def rows_to_examples(
  rows: Iterable[Dict[str, Any]],
  schema: schema_pb2.Schema,
  from_text: bool = False,
) -> Iterator[tf.train.Example]:
  kinds = feature_kinds(schema)
  for row in rows:
    yield to_example(row, kinds, from_text)
