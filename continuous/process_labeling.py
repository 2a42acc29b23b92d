"""Process labeling: the rows the server was asked about (its request log,
where `serving_with_id` clients leave each trip's id) joined to the feedback
labels recorded later, written as the next labelled span under --data-root.

A harvested row takes every feature from the request (what the model saw,
so training cannot drift from serving) and from the feedback only what the
request could not carry: `tips` and any training column the server is never
sent (e.g. `trip_start_timestamp`, which the curated schema requires). Ids
already in a span are not harvested again, so rerunning a cycle on the same
log adds nothing. A span appears whole or not at all (written beside the
spans, then renamed).
"""

import csv
import dataclasses
import os
import re
import shutil
import tempfile
from typing import Dict, Optional

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

import schema as curated_schema
from components import feedback_labels, serving_rows
from core import names
from models import features
from monitoring.spans import span_directories

HARVEST_FILE = 'harvested.csv'
_SPAN_NUMBER = re.compile(r'^span-(\d+)$')


@dataclasses.dataclass(frozen=True)
class Harvest:
  """What one harvest joined and the span it wrote (None: nothing new)."""

  span: Optional[str]
  counts: Dict[str, int]
  # Requests whose id some span already holds (harvested before, or trained).
  already_in_spans: int

  def summary(self) -> str:
    counts = ', '.join(
      f'{key.replace("_", " ")} {value}'
      for key, value in self.counts.items()
      if value or key in ('requests', 'joined')
    )
    where = (
      f'wrote {os.path.basename(self.span)}'
      if self.span
      else 'no new labelled rows, no span written'
    )
    return (
      f'Process labeling: {counts}, already in a span '
      f'{self.already_in_spans}; {where}.'
    )


def _schema_columns(schema_dir: str) -> Dict[str, int]:
  """Training column -> schema type, in the schema's order."""
  with open(os.path.join(schema_dir, names.SCHEMA_FILE)) as f:
    schema = text_format.Parse(f.read(), schema_pb2.Schema())
  return {feature.name: feature.type for feature in schema.feature}


def _cell(value, kind: Optional[int]) -> str:
  """One CSV cell as CsvExampleGen reads the training data: integers of INT
  features without a decimal point (the log writes 19 as 19.0)."""
  if value is None or (isinstance(value, float) and value != value):
    return ''
  if kind == schema_pb2.INT and isinstance(value, float) and value.is_integer():
    return str(int(value))
  return str(value)


def _span_ids(data_root: str) -> set:
  ids = set()
  for span in span_directories(data_root):
    for path in serving_rows.data_files(span, '*'):
      for row in serving_rows.read_rows(path):
        if row.get(features.TRIP_ID) not in (None, ''):
          ids.add(str(row[features.TRIP_ID]))
  return ids


def next_span_name(data_root: str) -> str:
  numbers = [
    int(match.group(1))
    for match in map(_SPAN_NUMBER.match, os.listdir(data_root))
    if match
  ]
  return f'span-{max(numbers, default=0) + 1}'


def _feedback_rows(labels_path: str) -> Dict[str, dict]:
  """The first feedback row of each id; it must carry what training needs."""
  rows = {}
  for path in feedback_labels.label_files(labels_path):
    for number, row in enumerate(serving_rows.read_rows(path), start=1):
      if row.get(features.TIPS) in (None, ''):
        raise serving_rows.UnreadableInput(
          f'{path} row {number}: process labeling needs {features.TIPS} '
          f'(training derives {features.LABEL} from {features.TIPS} and '
          f'{features.FARE})'
        )
      rows.setdefault(str(row.get(features.TRIP_ID)), row)
  return rows


def harvest(
  request_log: str,
  labels_path: str,
  data_root: str,
  schema_dir: str = curated_schema.SCHEMA_DIR,
) -> Harvest:
  """Joins the request log to the labels and writes the new labelled rows
  as the next span; raises serving_rows.UnreadableInput naming the file."""
  log_files = serving_rows.data_files(
    request_log, serving_rows.REQUEST_LOG_PATTERN
  )
  if not log_files:
    raise serving_rows.UnreadableInput(
      f'--request-log {request_log}: no request-log files '
      f'({serving_rows.REQUEST_LOG_PATTERN})'
    )
  labels = feedback_labels.read_labels(labels_path)
  feedback = _feedback_rows(labels_path)
  known = _span_ids(data_root)
  served, already = [], 0
  for row in feedback_labels.read_served_rows(log_files):
    if str(row.get(features.TRIP_ID)) in known:
      already += 1
    else:
      served.append(row)
  joined = feedback_labels.join(served, labels)
  if not joined.labelled:
    return Harvest(None, joined.counts(), already)
  columns = _schema_columns(schema_dir)
  header = [features.TRIP_ID] + [c for c in columns if c != features.TRIP_ID]
  span = os.path.join(data_root, next_span_name(data_root))
  staging = tempfile.mkdtemp(prefix='.harvest-', dir=data_root)
  try:
    with open(os.path.join(staging, HARVEST_FILE), 'w', newline='') as f:
      writer = csv.writer(f, lineterminator='\n')
      writer.writerow(header)
      for row, _ in joined.labelled:
        extra = feedback[feedback_labels.id_text(row[features.TRIP_ID])]
        writer.writerow(
          [
            _cell(row[c] if c in row else extra.get(c), columns.get(c))
            for c in header
          ]
        )
    os.rename(staging, span)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return Harvest(span, joined.counts(), already)
