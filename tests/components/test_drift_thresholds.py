"""Calibrated Jensen-Shannon comparisons on value counts of the taxi data."""

import collections
import random

import numpy as np

from components import drift_thresholds
from tests.conftest import read_rows

CEILING = 0.1


def _counts(rows, name):
  return dict(collections.Counter(row[name] for row in rows))


def _samples(n, seed):
  rows = read_rows()
  random.Random(seed).shuffle(rows)
  return rows[:1600], rows[1600 : 1600 + n]


def test_jensen_shannon_is_zero_for_equal_and_one_for_disjoint():
  same = drift_thresholds.jensen_shannon(np.array([3.0, 1]), np.array([6.0, 2]))
  disjoint = drift_thresholds.jensen_shannon(
    np.array([1.0, 0]), np.array([0.0, 1])
  )
  assert abs(float(same)) < 1e-12
  assert abs(float(disjoint) - 1.0) < 1e-12


def test_held_out_hours_are_within_the_calibrated_threshold():
  training, serving = _samples(3000, 0)
  counts = _counts(training, 'trip_start_hour')
  result = drift_thresholds.compare_categorical(
    'trip_start_hour', counts, counts, _counts(serving, 'trip_start_hour'), 0.1
  )
  assert result.compared
  assert not result.exceeded
  # 24 values, 1,600 against 3,000 rows: far below a fixed 0.1.
  assert 0.003 < result.threshold < 0.02


def test_an_eight_hour_shift_exceeds_the_threshold():
  training, serving = _samples(3000, 1)
  for row in serving:
    row['trip_start_hour'] = str((int(row['trip_start_hour']) + 8) % 24)
  counts = _counts(training, 'trip_start_hour')
  result = drift_thresholds.compare_categorical(
    'trip_start_hour', counts, counts, _counts(serving, 'trip_start_hour'), 0.1
  )
  assert result.exceeded
  assert result.value > 5 * result.threshold


def test_one_row_is_not_compared_and_says_how_many_it_needs():
  training, serving = _samples(1, 2)
  counts = _counts(training, 'trip_start_hour')
  result = drift_thresholds.compare_categorical(
    'trip_start_hour', counts, counts, _counts(serving, 'trip_start_hour'), 0.1
  )
  assert not result.compared and not result.exceeded
  assert result.value is None
  assert result.rows == 1
  # The rows it needs do make a comparison at that size.
  assert 20 < result.rows_needed < 1000
  needed = drift_thresholds.noise_threshold(
    np.array(list(counts.values())) + 0.5,
    1600,
    result.rows_needed,
    seed=0,
  )
  assert needed <= CEILING * 1.1


def test_more_values_need_more_rows():
  training, _ = _samples(0, 3)
  days = np.array(list(_counts(training, 'trip_start_day').values()), float)
  areas = np.array(
    list(_counts(training, 'pickup_community_area').values()), float
  )
  assert drift_thresholds.rows_needed(
    areas, 1600, CEILING, 0
  ) > 1.5 * drift_thresholds.rows_needed(days, 1600, CEILING, 0)
