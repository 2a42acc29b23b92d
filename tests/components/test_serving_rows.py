"""Serving rows -> tf.Examples typed like CsvExampleGen's training examples."""

import json

import pytest

from components import serving_rows as rows
from tests.conftest import read_rows, write_rows
from tests.monitoring.conftest import without_label

KINDS = {
  'fare': rows.FLOAT,
  'trip_start_hour': rows.INT,
  'payment_type': rows.BYTES,
}


def _values(example, name):
  feature = example.features.feature[name]
  kind = feature.WhichOneof('kind')
  return kind, list(getattr(feature, kind).value) if kind else []


def test_logged_floats_take_the_schema_types():
  example = rows.to_example(
    {'fare': 12.5, 'trip_start_hour': 19.0, 'payment_type': 'Cash'}, KINDS
  )
  assert _values(example, 'fare') == (rows.FLOAT, [12.5])
  assert _values(example, 'trip_start_hour') == (rows.INT, [19])
  assert _values(example, 'payment_type') == (rows.BYTES, [b'Cash'])


def test_missing_values_are_empty_lists_as_in_training():
  example = rows.to_example(
    {'fare': None, 'trip_start_hour': float('nan'), 'payment_type': ''}, KINDS
  )
  assert _values(example, 'fare') == (rows.FLOAT, [])
  assert _values(example, 'trip_start_hour') == (rows.INT, [])
  assert _values(example, 'payment_type') == (rows.BYTES, [])


def test_values_that_do_not_fit_keep_their_own_type():
  example = rows.to_example(
    {'trip_start_hour': 7.5, 'fare': 'twelve', 'payment_type': 3}, KINDS
  )
  assert _values(example, 'trip_start_hour') == (rows.FLOAT, [7.5])
  assert _values(example, 'fare') == (rows.BYTES, [b'twelve'])
  assert _values(example, 'payment_type') == (rows.INT, [3])


def test_csv_text_is_typed_like_csv_example_gen():
  example = rows.to_example(
    {
      'trip_start_hour': '19',
      'fare': '12',
      'payment_type': '5',
      'extra': '2.5',
      'trip_id': 'trip-1',
    },
    KINDS,
    from_text=True,
  )
  assert _values(example, 'trip_start_hour') == (rows.INT, [19])
  assert _values(example, 'fare') == (rows.FLOAT, [12.0])
  assert _values(example, 'payment_type') == (rows.BYTES, [b'5'])
  assert _values(example, 'extra') == (rows.FLOAT, [2.5])
  assert _values(example, 'trip_id') == (rows.BYTES, [b'trip-1'])


def test_request_log_records_of_other_versions_are_skipped(tmp_path):
  path = tmp_path / 'requests-1.jsonl'
  lines = [
    {'model_version': 3, 'features': {'fare': 1.0}},
    {'model_version': 4, 'features': {'fare': 2.0}},
    {'fare': 3.0},
  ]
  path.write_text(''.join(json.dumps(line) + '\n' for line in lines) + '\n')
  assert list(rows.read_rows(str(path), model_version=3)) == [
    {'fare': 1.0},
    {'fare': 3.0},
  ]
  assert len(list(rows.read_rows(str(path)))) == 3


def test_csv_rows_round_trip(tmp_path):
  taxi = without_label(read_rows()[:20])
  path = write_rows(tmp_path / 'serving.csv', taxi)
  read = list(rows.read_rows(str(path)))
  assert read == [{k: (v or None) for k, v in row.items()} for row in taxi]


@pytest.mark.parametrize(
  'name,content',
  [
    ('bad.jsonl', 'not json\n'),
    ('bad.csv', ''),
    ('bad.txt', 'a,b\n1,2\n'),
    ('short.csv', 'a,b\n1\n'),
  ],
)
def test_unreadable_input_is_reported(tmp_path, name, content):
  path = tmp_path / name
  path.write_text(content)
  with pytest.raises(rows.UnreadableInput, match=name):
    rows.check_readable(str(path))
