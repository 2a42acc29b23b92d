"""Which files are the newest span and which the previous one."""

import pytest

from components import serving_rows as rows
from monitoring import spans


def _touch(path, text='a\n1\n'):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text)
  return path


def test_a_file_is_one_span(tmp_path):
  path = _touch(tmp_path / 'serving.csv')
  data = spans.resolve(str(path))
  assert (data.input_base, data.newest_pattern, data.previous_pattern) == (
    str(tmp_path),
    'serving.csv',
    None,
  )


def test_a_request_log_directory_is_one_span(tmp_path):
  _touch(tmp_path / 'requests-20240501T000000Z-1-0001.jsonl', '{}\n')
  _touch(tmp_path / 'notes.txt')
  data = spans.resolve(str(tmp_path), model_version=7)
  assert data.newest_pattern == rows.REQUEST_LOG_PATTERN
  assert data.model_version == 7
  assert spans.files(data) == [
    str(tmp_path / 'requests-20240501T000000Z-1-0001.jsonl')
  ]


def test_span_directories_in_natural_order(tmp_path):
  for name in ('span-2', 'span-10', 'span-9'):
    _touch(tmp_path / name / 'data.csv')
  (tmp_path / 'empty').mkdir()
  data = spans.resolve(str(tmp_path))
  assert data.input_base == str(tmp_path)
  assert data.newest_pattern == 'span-10/*'
  assert data.previous_pattern == 'span-9/*'


def test_previous_data_named_explicitly(tmp_path):
  newest = _touch(tmp_path / 'may' / 'serving.jsonl', '{}\n')
  previous = _touch(tmp_path / 'april.csv')
  data = spans.resolve(str(newest), str(previous))
  assert data.input_base == str(tmp_path)
  assert (data.newest_pattern, data.previous_pattern) == (
    'may/serving.jsonl',
    'april.csv',
  )
  assert spans.files(data) == [str(newest), str(previous)]


@pytest.mark.parametrize(
  'make',
  [
    lambda p: p / 'missing.csv',
    lambda p: _touch(p / 'data.parquet'),
    lambda p: p,  # An empty directory.
  ],
)
def test_no_serving_data(tmp_path, make):
  with pytest.raises(rows.UnreadableInput):
    spans.resolve(str(make(tmp_path)))
