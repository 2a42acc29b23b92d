"""Checks CSV input files before Beam reads them, so that a broken file is
reported by name and line instead of failing deep inside a Beam worker.

Schema-level problems (unknown values, missing or extra columns, types) are
the data gate's job; this catches what stops a file from being read as CSV
at all: empty files, a header without rows, undecodable bytes, a row whose
field count differs from the header (wrong delimiter, broken quoting) and
files whose headers disagree.
"""

import csv
import os
from typing import List

import tensorflow as tf


class CsvInputError(ValueError):
  pass


# A NUL byte this early means a binary file (git's test, 8000 bytes); a
# binary file usually fails UTF-8 decoding first, which would misname it.
BINARY_SNIFF_BYTES = 8000


class _NotText(Exception):
  pass


def _text_lines(f):
  """The file's lines decoded one at a time (files may be larger than
  memory); raises _NotText at the first line that is not UTF-8 text."""
  for number, line in enumerate(f, start=1):
    if b'\0' in line:
      raise _NotText('the file is binary, not CSV text')
    try:
      yield line.decode('utf-8')
    except UnicodeDecodeError as e:
      raise _NotText(
        f'line {number}: bytes that are not UTF-8 ({e.reason}); '
        'is the file in another encoding?'
      ) from None


def _check_file(path: str) -> List[str]:
  with tf.io.gfile.GFile(path, 'rb') as f:
    if b'\0' in f.read(BINARY_SNIFF_BYTES):
      return ['the file is binary, not CSV text']
    f.seek(0)
    rows = csv.reader(_text_lines(f), strict=True)
    try:
      return _row_problems(rows)
    except _NotText as e:
      return [str(e)]
    except csv.Error as e:
      return [f'line {rows.line_num}: not valid CSV ({e})']


def _row_problems(rows) -> List[str]:
  header = next((row for row in rows if any(v.strip() for v in row)), None)
  if header is None:
    return ['the file is empty']
  problems = []
  if len(header) < 2:
    problems.append(
      f'the header has one column ({header[0][:60]!r}); '
      'is the delimiter a comma?'
    )
  rows_read = 0
  for rows_read, row in enumerate(rows, start=1):
    if row and len(row) != len(header):
      problems.append(
        f'line {rows.line_num}: {len(row)} fields, the '
        f'header has {len(header)} (delimiter or quoting?)'
      )
      break
  if not rows_read:
    problems.append('the file has a header but no rows')
  return problems


def check_csv_files(paths: List[str]) -> None:
  """Raises CsvInputError naming every unreadable file and why."""
  if not paths:
    raise CsvInputError('no CSV files found')
  problems, headers = [], {}
  for path in sorted(paths):
    found = _check_file(path)
    problems += [f'{path}: {problem}' for problem in found]
    if not found:
      with tf.io.gfile.GFile(path) as f:
        headers[path] = f.readline().strip()
  if len(set(headers.values())) > 1:
    first = sorted(headers)[0]
    problems += [
      f"{path}: its header differs from {os.path.basename(first)}'s"
      for path in sorted(headers)
      if headers[path] != headers[first]
    ]
  if problems:
    raise CsvInputError(
      'Input data cannot be read as CSV:\n'
      + '\n'.join(f'  - {p}' for p in problems)
    )
