"""Labelled spans under --data-root (span-1/, span-2/, ... of CSV files) and
what a cycle makes of them: the training data of a window, and each span's
features and labels apart (the monitoring sees what a server would see,
the labels come back beside it)."""

import csv
import os
import shutil
from typing import List, Sequence

from components import serving_rows
from models import features
from monitoring.spans import span_directories

LABEL_COLUMNS = (features.TRIP_ID, features.TIPS, features.FARE)


class SpanError(ValueError):
  """Spans that cannot be read: one line naming the problem."""


def spans(data_root: str) -> List[str]:
  """Span directories, oldest first."""
  if not os.path.isdir(data_root):
    raise SpanError(f'--data-root {data_root}: no such directory')
  found = span_directories(data_root)
  if not found:
    raise SpanError(
      f'--data-root {data_root}: no span subdirectories with CSV files '
      '(span-1/, span-2/, ...)'
    )
  for span in found:
    for path in _csv_files(span):
      serving_rows.csv_header(path)
  return found


def _csv_files(span: str) -> List[str]:
  return [
    p for p in serving_rows.data_files(span, '*') if p.lower().endswith('.csv')
  ]


def window(all_spans: Sequence[str], size: int = None) -> List[str]:
  """The newest `size` spans (all when None)."""
  return list(all_spans[-size:] if size else all_spans)


def training_data(window_spans: Sequence[str], directory: str) -> str:
  """A directory holding the window's CSV files (one per file, named by
  span), the training pipeline's --data-root."""
  if os.path.isdir(directory):
    shutil.rmtree(directory)
  os.makedirs(directory)
  for span in window_spans:
    for path in _csv_files(span):
      name = f'{os.path.basename(span)}-{os.path.basename(path)}'
      shutil.copyfile(path, os.path.join(directory, name))
  return directory


def split_labels(span: str, directory: str) -> tuple:
  """(features directory, labels file or None) of a span: the rows without
  `tips` (what a server would see) and trip_id, tips and fare apart."""
  features_dir = os.path.join(directory, 'features')
  os.makedirs(features_dir, exist_ok=True)
  labels_path = os.path.join(directory, 'labels.csv')
  labelled = False
  with open(labels_path, 'w', newline='') as labels_file:
    labels = csv.writer(labels_file, lineterminator='\n')
    labels.writerow(LABEL_COLUMNS)
    for path in _csv_files(span):
      with open(path, newline='') as f:
        reader = csv.DictReader(f)
        header = [c for c in reader.fieldnames if c != features.TIPS]
        labelled = labelled or features.TIPS in reader.fieldnames
        target = os.path.join(features_dir, os.path.basename(path))
        with open(target, 'w', newline='') as out:
          writer = csv.DictWriter(out, header, lineterminator='\n')
          writer.writeheader()
          for row in reader:
            if features.TIPS in row:
              labels.writerow([row.get(c, '') for c in LABEL_COLUMNS])
              del row[features.TIPS]
            writer.writerow(row)
  return features_dir, labels_path if labelled else None
