from collections import Counter

import pytest

from components import stratified_split
from models import features
from tests.conftest import read_rows, sample_rows

WEIGHTS = [8, 1, 1]


def _strata(rows):
  return [
    features.split_stratum(
      {
        'tips': float(r['tips']),
        'fare': float(r['fare']),
        'payment_type': r['payment_type'].encode(),
      }
    )
    for r in rows
  ]


def _assign(rows):
  hashes = [stratified_split.row_hash(r['trip_id'].encode()) for r in rows]
  strata = _strata(rows)
  by_stratum = {}
  for stratum, h in zip(strata, hashes):
    by_stratum.setdefault(stratum, []).append(h)
  cuts = stratified_split.split_boundaries(by_stratum, WEIGHTS)
  return (
    [
      stratified_split.split_index(cuts, stratum, h)
      for stratum, h in zip(strata, hashes)
    ],
    [label for label, _ in strata],
  )


def _max_rate_gap_points(rows):
  splits, labels = _assign(rows)
  overall = sum(labels) / len(labels)
  gaps = []
  for split in range(len(WEIGHTS)):
    members = [label for s, label in zip(splits, labels) if s == split]
    gaps.append(abs(sum(members) / len(members) - overall) * 100)
  return max(gaps), Counter(splits)


def test_every_split_keeps_the_label_rate_on_the_full_data():
  gap, sizes = _max_rate_gap_points(read_rows())
  assert gap <= 1.0
  assert sizes == {0: 12002, 1: 1500, 2: 1500}


@pytest.mark.parametrize('seed', range(5))
def test_every_split_keeps_the_label_rate_on_200_rows(seed):
  gap, sizes = _max_rate_gap_points(sample_rows(200, seed=seed))
  assert gap <= 1.0
  assert sum(sizes.values()) == 200
  assert all(16 <= sizes[i] <= 24 for i in (1, 2))


def test_allocation_assigns_every_row_once():
  strata = {
    (True, b'Card'): 45,
    (False, b'Card'): 20,
    (False, b'Cash'): 135,
    (None, b'Cash'): 3,
  }
  counts = stratified_split.allocate(strata, WEIGHTS)
  for stratum, total in strata.items():
    assert sum(split[stratum] for split in counts) == total


def test_payment_type_is_balanced_within_each_label():
  splits, _ = _assign(read_rows())
  rows = read_rows()
  card_share = []
  for split in range(len(WEIGHTS)):
    members = [r for s, r in zip(splits, rows) if s == split]
    card_share.append(
      sum(r['payment_type'] == 'Credit Card' for r in members) / len(members)
    )
  assert max(card_share) - min(card_share) < 0.002


def test_assignment_is_independent_of_row_order():
  rows = sample_rows(300)
  splits, _ = _assign(rows)
  reversed_splits, _ = _assign(rows[::-1])
  assert splits == reversed_splits[::-1]


def test_row_hash_is_stable_and_fits_a_signed_64_bit_integer():
  assert stratified_split.row_hash(b'trip-000001') == (
    stratified_split.row_hash(b'trip-000001')
  )
  assert 0 <= stratified_split.row_hash(b'x') < 2**63
