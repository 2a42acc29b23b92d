import pytest

from components.csv_check import CsvInputError, check_csv_files

HEADER = 'trip_id,fare,payment_type\n'
GOOD = HEADER + 'trip-1,12.5,Cash\ntrip-2,8.0,"Credit Card"\n'


def _problems(tmp_path, files):
  paths = []
  for name, content in files.items():
    path = tmp_path / name
    path.write_bytes(
      content if isinstance(content, bytes) else content.encode()
    )
    paths.append(str(path))
  with pytest.raises(CsvInputError) as error:
    check_csv_files(paths)
  return str(error.value)


def test_good_files_pass(tmp_path):
  (tmp_path / 'a.csv').write_text(GOOD)
  (tmp_path / 'b.csv').write_text(GOOD)
  check_csv_files([str(tmp_path / 'a.csv'), str(tmp_path / 'b.csv')])


@pytest.mark.parametrize(
  'content, expected',
  [
    ('', 'the file is empty'),
    (HEADER, 'a header but no rows'),
    (b'\x89PNG\r\n\x1a\n\x00\x00\x00', 'binary, not CSV'),
    (
      'trip_id;fare;payment_type\ntrip-1;12.5;Cash\n',
      'is the delimiter a comma',
    ),
    (HEADER + 'trip-1,12.5,"Cash\n', 'not valid CSV'),
    (HEADER + 'trip-1,12.5,Cash,extra\n', 'line 2: 4 fields, the header has 3'),
    (
      GOOD.encode() + 'trip-3,9.0,Caf\u00e9\n'.encode('latin-1'),
      'line 4: bytes that are not UTF-8',
    ),
  ],
)
def test_unreadable_file_is_named_with_the_problem(tmp_path, content, expected):
  message = _problems(tmp_path, {'good.csv': GOOD, 'bad.csv': content})
  assert 'bad.csv' in message and expected in message
  assert 'good.csv:' not in message


def test_a_file_with_another_header_is_named(tmp_path):
  message = _problems(
    tmp_path, {'a.csv': GOOD, 'b.csv': 'trip_id,fare\ntrip-9,3.0\n'}
  )
  assert 'b.csv: its header differs' in message


def test_no_files_is_an_error():
  with pytest.raises(CsvInputError, match='no CSV files'):
    check_csv_files([])
