"""Where the serving data of a run is: the newest span and the previous one.

--serving-data may be a file (CSV / JSON lines), a request-log directory
(requests-*.jsonl), a directory of data files (one span), or a directory of
span subdirectories (the last in natural name order is the newest, the one
before it the previous span). --previous-data names the previous span
explicitly, in any of the same forms.
"""

import os
import re
from typing import List, Optional, Tuple

from components import serving_rows
from monitoring.config import ServingData


def _natural_key(name: str):
  return [
    int(part) if part.isdigit() else part for part in re.split(r'(\d+)', name)
  ]


def span_directories(directory: str) -> List[str]:
  """Subdirectories holding data files, oldest span first."""
  spans = [
    os.path.join(directory, name)
    for name in sorted(os.listdir(directory), key=_natural_key)
    if os.path.isdir(os.path.join(directory, name))
  ]
  return [s for s in spans if serving_rows.data_files(s, '*')]


def _span(path: str) -> Tuple[str, str, Optional[str]]:
  """(directory, pattern, previous span directory) of one --*-data path."""
  if os.path.isfile(path):
    serving_rows.file_format(path)
    return os.path.dirname(path), os.path.basename(path), None
  if not os.path.isdir(path):
    raise serving_rows.UnreadableInput(f'{path}: no such file or directory')
  if serving_rows.data_files(path, serving_rows.REQUEST_LOG_PATTERN):
    return path, serving_rows.REQUEST_LOG_PATTERN, None
  if serving_rows.data_files(path, '*'):
    return path, '*', None
  spans = span_directories(path)
  if not spans:
    raise serving_rows.UnreadableInput(
      f'{path}: no serving data (CSV, JSON lines or request-log files, '
      'directly or in span subdirectories)'
    )
  return spans[-1], '*', spans[-2] if len(spans) > 1 else None


def resolve(
  serving_path: str,
  previous_path: Optional[str] = None,
  model_version: Optional[int] = None,
) -> ServingData:
  """The ServingData of a run; raises serving_rows.UnreadableInput."""
  newest_dir, newest_pattern, previous_dir = _span(
    os.path.abspath(serving_path)
  )
  previous_pattern = '*'
  if previous_path is not None:
    previous_dir, previous_pattern, _ = _span(os.path.abspath(previous_path))
  if previous_dir is None:
    return ServingData(newest_dir, newest_pattern, model_version=model_version)
  base = os.path.commonpath([newest_dir, previous_dir])

  def relative(directory, pattern):
    return os.path.normpath(
      os.path.join(os.path.relpath(directory, base), pattern)
    )

  return ServingData(
    input_base=base,
    newest_pattern=relative(newest_dir, newest_pattern),
    previous_pattern=relative(previous_dir, previous_pattern),
    model_version=model_version,
  )


def files(data: ServingData) -> List[str]:
  """Every file a run reads."""
  result = serving_rows.data_files(data.input_base, data.newest_pattern)
  if data.previous_pattern:
    result += serving_rows.data_files(data.input_base, data.previous_pattern)
  return result
