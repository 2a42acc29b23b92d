"""The transform section: each scaled, z-scored or bucketized feature before
and after Transform, from samples of the train split's raw and transformed
examples."""

import glob
import os
from typing import Dict, List

import numpy as np
import plotly.graph_objects as go
import tensorflow as tf
from plotly.subplots import make_subplots

from models import features
from reports import page

SAMPLE_ROWS = 2000


def _values(example: tf.train.Example, name: str):
  feature = example.features.feature.get(name)
  if feature is None:
    return []
  kind = feature.WhichOneof('kind')
  return list(getattr(feature, kind).value) if kind else []


def sample_columns(
  split_dir: str, names: List[str], rows: int = SAMPLE_ROWS
) -> Dict[str, List[float]]:
  """The first values of `names` in the first `rows` tf.Examples of a split
  directory (gzipped TFRecords, as ExampleGen and Transform write them)."""
  files = sorted(glob.glob(os.path.join(split_dir, '*.gz')))
  columns = {name: [] for name in names}
  dataset = tf.data.TFRecordDataset(files, compression_type='GZIP')
  for record in dataset.take(rows):
    example = tf.train.Example.FromString(record.numpy())
    for name in names:
      values = _values(example, name)
      if values:
        columns[name].append(float(values[0]))
  return columns


def _histogram(values: List[float], color: str, bins: int = 40) -> go.Bar:
  """Binned here: the page carries 40 bars, not every sampled value."""
  counts, edges = np.histogram(values, bins=bins) if values else ([], [0])
  return go.Bar(
    x=(edges[:-1] + edges[1:]) / 2 if len(counts) else [],
    y=counts,
    width=np.diff(edges) if len(counts) else None,
    marker_color=color,
  )


def transformations() -> List[tuple]:
  """(raw feature, transformed feature, what Transform does)."""
  pairs = [
    (key, features.transformed_name(key), 'log1p, then z-score')
    for key in features.LOG_ZSCORE_FEATURES
  ]
  pairs += [
    (key, features.transformed_name(key), 'min-max scaled to [0, 1]')
    for key in features.MINMAX_FEATURES
  ]
  pairs += [
    (
      key,
      features.bucket_name(key),
      f'{count} quantile buckets (bucket {count}: missing)',
    )
    for key, count in features.BUCKET_COUNTS.items()
  ]
  return pairs


def section(raw_split_dir: str, transformed_split_dir: str) -> List[str]:
  pairs = transformations()
  raw = sample_columns(raw_split_dir, sorted({p[0] for p in pairs}))
  transformed = sample_columns(transformed_split_dir, [p[1] for p in pairs])
  parts = [
    page.paragraph(
      f'Train split, first {SAMPLE_ROWS:,} rows of the raw and of the '
      'transformed examples. The analyzers (mean, variance, min, max, '
      'quantiles) were fitted on the train split only.'
    )
  ]
  figures = []
  for key, name, what in pairs:
    fig = make_subplots(
      rows=1, cols=2, subplot_titles=(f'{key} (raw)', f'{name}')
    )
    fig.add_trace(_histogram(raw[key], '#1f77b4'), 1, 1)
    fig.add_trace(_histogram(transformed[name], '#d62728'), 1, 2)
    fig.update_layout(title=what, showlegend=False)
    figures.append(page.figure(fig, height=260, width=560))
  parts.append(page.figures(figures))
  return parts
