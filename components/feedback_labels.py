"""Feedback labels (the tip is known after the trip) joined to served rows on
the trip id: process labeling.

A label file is CSV or JSON lines with `trip_id`, `tips` and `fare` (the
label is tips > 20 % of the fare, as in training) or `trip_id` and
`big_tipper` (0/1); `--labels` names one such file or a directory of them.
Nothing is dropped silently: requests without a label, labels without a
request, requests without an id, repeated labels and conflicting labels for
one id are counted (conflicting ones are left out of the join).
"""

import collections
import dataclasses
import os
from typing import Dict, Iterable, List, Optional, Tuple

from components import serving_rows
from models import features


@dataclasses.dataclass(frozen=True)
class Labels:
  """The consistent label of each id, and how consistent the feedback was."""

  by_id: Dict[str, int]
  rows: int
  # Ids given the same label more than once (the repeats are not extra rows).
  duplicate_ids: int
  # Ids given both labels: left out, the feedback contradicts itself.
  conflicting_ids: int


@dataclasses.dataclass(frozen=True)
class Join:
  """Served rows with their labels, and what did not join."""

  # (row, label) per joined id, in the order the rows were served.
  labelled: List[Tuple[dict, int]]
  requests: int
  requests_without_id: int
  # Ids served more than once (the first row is kept).
  duplicate_requests: int
  requests_without_label: int
  labels_without_request: int
  labels: Labels

  def counts(self) -> dict:
    return {
      'requests': self.requests,
      'label_rows': self.labels.rows,
      'joined': len(self.labelled),
      'requests_without_id': self.requests_without_id,
      'duplicate_requests': self.duplicate_requests,
      'requests_without_label': self.requests_without_label,
      'labels_without_request': self.labels_without_request,
      'duplicate_label_ids': self.labels.duplicate_ids,
      'conflicting_label_ids': self.labels.conflicting_ids,
    }


def label_files(path: str) -> List[str]:
  """The label files of --labels (a file or a directory of files)."""
  if os.path.isfile(path):
    serving_rows.file_format(path)
    return [path]
  if os.path.isdir(path):
    files = serving_rows.data_files(path, '*')
    if files:
      return files
    raise serving_rows.UnreadableInput(
      f'{path}: no label files (.csv, .jsonl, .json)'
    )
  raise serving_rows.UnreadableInput(f'{path}: no such file or directory')


def _number(value, name: str, where: str) -> float:
  try:
    return float(value)
  except (TypeError, ValueError):
    raise serving_rows.UnreadableInput(
      f'{where}: {name} is {value!r}, not a number'
    ) from None


def label_of(row: dict, where: str) -> Tuple[str, int]:
  """(trip id, label) of one feedback row; raises UnreadableInput."""
  trip_id = row.get(features.TRIP_ID)
  if trip_id in (None, ''):
    raise serving_rows.UnreadableInput(f'{where}: no {features.TRIP_ID}')
  if row.get(features.LABEL) not in (None, ''):
    label = _number(row[features.LABEL], features.LABEL, where)
    if label not in (0, 1):
      raise serving_rows.UnreadableInput(
        f'{where}: {features.LABEL} is {row[features.LABEL]!r}, not 0 or 1'
      )
    return str(trip_id), int(label)
  if row.get(features.TIPS) in (None, '') or row.get(features.FARE) in (
    None,
    '',
  ):
    raise serving_rows.UnreadableInput(
      f'{where}: needs {features.TIPS} and {features.FARE} '
      f'(or {features.LABEL})'
    )
  tips = _number(row[features.TIPS], features.TIPS, where)
  fare = _number(row[features.FARE], features.FARE, where)
  return str(trip_id), int(features.is_big_tipper(tips, fare))


def read_labels(path: str) -> Labels:
  """Every label under `path`; raises UnreadableInput naming file and row."""
  seen = collections.defaultdict(set)
  counts = collections.Counter()
  rows = 0
  for file in label_files(path):
    try:
      for number, row in enumerate(serving_rows.read_rows(file), start=1):
        trip_id, label = label_of(row, f'{file} row {number}')
        seen[trip_id].add(label)
        counts[trip_id] += 1
        rows += 1
    except serving_rows.UnreadableInput as e:
      message = str(e)
      raise serving_rows.UnreadableInput(
        message if message.startswith(file) else f'{file}: {message}'
      ) from None
  consistent = {
    trip_id: labels.pop()
    for trip_id, labels in seen.items()
    if len(labels) == 1
  }
  return Labels(
    by_id=consistent,
    rows=rows,
    duplicate_ids=sum(
      1 for trip_id, n in counts.items() if n > 1 and trip_id in consistent
    ),
    conflicting_ids=len(seen) - len(consistent),
  )


def join(rows: Iterable[dict], labels: Labels) -> Join:
  """Served rows (request-log features or data rows, with `trip_id`) joined
  to their labels."""
  labelled, joined_ids = [], set()
  requests = without_id = duplicates = without_label = 0
  for row in rows:
    requests += 1
    trip_id = row.get(features.TRIP_ID)
    if trip_id in (None, ''):
      without_id += 1
      continue
    trip_id = id_text(trip_id)
    if trip_id in joined_ids:
      duplicates += 1
      continue
    label = labels.by_id.get(trip_id)
    if label is None:
      without_label += 1
      continue
    joined_ids.add(trip_id)
    labelled.append((row, label))
  return Join(
    labelled=labelled,
    requests=requests,
    requests_without_id=without_id,
    duplicate_requests=duplicates,
    requests_without_label=without_label,
    labels_without_request=len(labels.by_id.keys() - joined_ids),
    labels=labels,
  )


def id_text(value) -> str:
  """An id as the label files write it (JSON may carry 17 as 17.0)."""
  if isinstance(value, float) and value.is_integer():
    return str(int(value))
  return str(value)


def read_served_rows(
  files: Iterable[str], model_version: Optional[int] = None
) -> Iterable[dict]:
  """The rows of serving-data files (request logs: the served version's)."""
  for path in files:
    yield from serving_rows.read_rows(path, model_version)
