"""Guards the TFX-internal reader steps in components/tfx_internal.py: read
through them, as the stratified ExampleGen reads, CSV files give exactly the
tf.Examples CsvExampleGen's own reader gives."""

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.testing.util import assert_that, equal_to
from tfx.components.example_gen.csv_example_gen import executor as csv_executor

from components import stratified_example_gen, tfx_internal
from tests.conftest import sample_rows, write_rows

# Every kind of column CsvExampleGen types: INT, FLOAT, STRING, a column with
# no value at all, ints that turn FLOAT in a later file, and a quoted field
# across lines.
EDGE_ROWS = [
  {'n': '1', 'x': '1.5', 's': 'a', 'none': '', 'mixed': '3', 'q': 'one'},
  {'n': '', 'x': '2', 's': '7', 'none': '', 'mixed': '4', 'q': 'two\nlines'},
]
LATER_ROWS = [
  {'n': '-3', 'x': '', 's': 'b,c', 'none': '', 'mixed': '4.5', 'q': '"q"'},
]


def _written(examples, path, name):
  """Writes the examples, serialized deterministically, to one file."""
  return (
    examples
    | f'Serialize[{name}]'
    >> beam.Map(lambda e: e.SerializeToString(deterministic=True))
    | f'Write[{name}]' >> beam.io.WriteToTFRecord(path, shard_name_template='')
  )


def _records(path):
  return sorted(r.numpy() for r in tf.data.TFRecordDataset(path))


def _both_readers(tmp_path, files):
  """(ours, CsvExampleGen's): the serialized examples each reader makes."""
  ours, theirs = str(tmp_path / 'ours.tfrecord'), str(tmp_path / 'theirs')
  with beam.Pipeline() as pipeline:
    reads = stratified_example_gen.CsvReads(pipeline, [str(f) for f in files])
    _written(reads.examples(reads.lines('Once'), 'Once'), ours, 'Ours')
    _written(
      pipeline
      | 'CsvExampleGen'
      >> csv_executor._CsvToExample(  # pylint: disable=protected-access
        {'input_base': str(tmp_path)}, '*.csv'
      ),
      theirs,
      'Theirs',
    )
  return _records(ours), _records(theirs)


def test_edge_columns_read_as_csv_example_gen_reads_them(tmp_path):
  files = [
    write_rows(tmp_path / 'a.csv', EDGE_ROWS),
    write_rows(tmp_path / 'b.csv', LATER_ROWS),
  ]
  got, expected = _both_readers(tmp_path, files)
  assert len(expected) == 3
  assert got == expected


def test_taxi_rows_read_as_csv_example_gen_reads_them(tmp_path):
  files = [write_rows(tmp_path / 'taxi.csv', sample_rows(300, seed=5))]
  got, expected = _both_readers(tmp_path, files)
  assert len(expected) == 300
  assert got == expected


def _first_values_of_example(example):
  values = {}
  for name, feature in example.features.feature.items():
    kind = feature.WhichOneof('kind')
    listed = getattr(feature, kind).value if kind else []
    values[name] = listed[0] if listed else None
  return values


def _agrees(cells, column_infos):
  """first_values of the cells, and of the tf.Example made of them."""
  (example,) = tfx_internal.ParsedCsvToExample().process(cells, column_infos)
  from_cells = stratified_example_gen.first_values(cells, column_infos)
  from_example = _first_values_of_example(example)
  return from_cells == from_example and all(
    type(from_cells[k]) is type(from_example[k]) for k in from_cells
  )


@pytest.mark.parametrize('kind', ['edge', 'taxi'])
def test_first_values_are_those_of_the_example(tmp_path, kind):
  if kind == 'edge':
    files = [
      write_rows(tmp_path / 'a.csv', EDGE_ROWS),
      write_rows(tmp_path / 'b.csv', LATER_ROWS),
    ]
  else:
    files = [write_rows(tmp_path / 'taxi.csv', sample_rows(300, seed=6))]
  with beam.Pipeline() as pipeline:
    reads = stratified_example_gen.CsvReads(pipeline, [str(f) for f in files])
    agreed = reads.lines('Once') | beam.Map(_agrees, reads.column_infos)
    assert_that(
      agreed | beam.combiners.Count.PerElement(),
      equal_to([(True, 3 if kind == 'edge' else 300)]),
    )
