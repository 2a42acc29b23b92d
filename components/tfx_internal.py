"""The TFX-internal steps of CsvExampleGen's reader that the stratified
ExampleGen reuses, quarantined here and guarded by
tests/components/test_tfx_internal.py (the lock pins TFX 1.16).

CsvExampleGen reads its input once and keeps every parsed line while it
infers the column types from all of them; the stratified ExampleGen reads the
files again instead (stratified_example_gen.py), so it needs the reader's
steps one by one, and TFX has them only as private names.
"""

from tfx.components.example_gen.csv_example_gen import executor as _csv

# file path -> each CSV record of the file after its header (a quoted field
# may span lines).
ReadCsvRecords = _csv._ReadCsvRecordsFromTextFile  # pylint: disable=protected-access
# (parsed cells, column infos as a side input) -> tf.train.Example.
ParsedCsvToExample = _csv._ParsedCsvToTfExample  # pylint: disable=protected-access
