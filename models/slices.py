"""Slices and tags of the error analysis (components/model_analysis.py),
declared once over raw columns (a pandas DataFrame as
components/raw_examples.py reads it).

A slice maps each row to a group name; a tag is a boolean predicate. Add a
tag here and every run reports it.
"""

import numpy as np
import pandas as pd

# Community areas of Chicago's airports: O'Hare and Midway.
AIRPORT_AREAS = (76.0, 56.0)
HOUR_BUCKETS = ((0, 6), (6, 10), (10, 16), (16, 20), (20, 24))
FARE_EDGES = (0.0, 5.0, 10.0, 20.0, 40.0, np.inf)
TOP_COMPANIES = 10
TOP_AREAS = 20


def _hour_bucket(frame: pd.DataFrame) -> pd.Series:
  hour = frame['trip_start_hour']
  names = pd.Series('missing', index=frame.index, dtype=object)
  for low, high in HOUR_BUCKETS:
    names[(hour >= low) & (hour < high)] = f'{low:02d}-{high - 1:02d}'
  return names


def _fare_bucket(frame: pd.DataFrame) -> pd.Series:
  fare = frame['fare']
  names = pd.Series('missing', index=frame.index, dtype=object)
  for low, high in zip(FARE_EDGES, FARE_EDGES[1:]):
    label = f'{low:g}-{high:g}' if np.isfinite(high) else f'{low:g}+'
    names[(fare >= low) & (fare < high)] = label
  return names


def _top(values: pd.Series, n: int) -> pd.Series:
  """The n most frequent values by name, the rest as "other"."""
  values = values.astype(object).where(values.notna(), 'missing')
  names = values.map(lambda v: f'{v:g}' if isinstance(v, float) else str(v))
  kept = names.value_counts().index[:n]
  return names.where(names.isin(kept), 'other')


SLICES = {
  'payment_type': lambda f: f['payment_type'].fillna('missing'),
  'hour': _hour_bucket,
  'fare': _fare_bucket,
  'company': lambda f: _top(f['company'], TOP_COMPANIES),
  'pickup_community_area': lambda f: _top(
    f['pickup_community_area'], TOP_AREAS
  ),
}

TAGS = {
  'airport_trip': lambda f: (
    f['pickup_community_area'].isin(AIRPORT_AREAS)
    | f['dropoff_community_area'].isin(AIRPORT_AREAS)
  ),
  'zero_miles': lambda f: f['trip_miles'] == 0,
  'zero_seconds': lambda f: f['trip_seconds'].fillna(0) == 0,
  'missing_coordinates': lambda f: (
    f['pickup_latitude'].isna() | f['dropoff_latitude'].isna()
  ),
  'card_small_fare': lambda f: (
    (f['payment_type'] == 'Credit Card') & (f['fare'] < 10)
  ),
}

# A target (e.g. human-level) value of the error metric for a named slice or
# tag ("payment_type=Cash", "airport_trip"), used instead of the best
# baseline as its reference. None configured: the simple baseline is it.
TARGETS = {}
