"""Process labeling on real taxi rows: request-log records written by the
server's own writer, joined to feedback labels into the next span."""

import csv

import pytest

from components import serving_rows
from continuous import process_labeling
from models import features
from tests.conftest import sample_rows, write_request_log, write_rows

# What the business system records after the trip: the label's inputs and
# the training column the server is never sent.
FEEDBACK_COLUMNS = (features.TRIP_ID, features.TIPS, features.FARE)
FEEDBACK_COLUMNS += ('trip_start_timestamp',)


def _same(harvested: str, original: str) -> bool:
  if harvested == original:
    return True
  try:
    return float(harvested) == float(original)
  except ValueError:
    return False


@pytest.fixture
def loop(tmp_path):
  rows = sample_rows(60, seed=3)
  trained, served = rows[:20], rows[20:]
  write_rows(tmp_path / 'spans' / 'span-1' / 'data.csv', trained)
  # A client without ids, then one with them; one trained trip served again.
  write_request_log(tmp_path / 'log', served[:5], 1)
  write_request_log(tmp_path / 'log', served[5:] + trained[:1], 1, True)
  labelled = served[5:35]
  feedback = [{c: r[c] for c in FEEDBACK_COLUMNS} for r in labelled]
  # The same trip reported again with a big tip, or again without one.
  first = feedback[0]
  big = features.is_big_tipper(float(first['tips']), float(first['fare']))
  conflicting = dict(first, fare='10', tips='0' if big else '9')
  repeated = dict(feedback[1])
  stranger = dict(feedback[2], trip_id='trip-never-served')
  write_rows(
    tmp_path / 'labels.csv', feedback + [conflicting, repeated, stranger]
  )
  return tmp_path, served, labelled


def test_joined_requests_become_the_next_span_as_training_rows(loop):
  root, served, labelled = loop
  harvest = process_labeling.harvest(
    str(root / 'log'), str(root / 'labels.csv'), str(root / 'spans')
  )
  assert harvest.span == str(root / 'spans' / 'span-2')
  assert harvest.already_in_spans == 1
  assert harvest.counts == {
    'requests': 40,
    'label_rows': 33,
    'joined': 29,
    'requests_without_id': 5,
    'duplicate_requests': 0,
    'requests_without_label': 6,
    'labels_without_request': 1,
    'duplicate_label_ids': 1,
    'conflicting_label_ids': 1,
  }
  with open(root / 'spans' / 'span-2' / process_labeling.HARVEST_FILE) as f:
    written = list(csv.DictReader(f))
  expected = labelled[1:]  # The first id's feedback contradicts itself.
  assert [r[features.TRIP_ID] for r in written] == [
    r[features.TRIP_ID] for r in expected
  ]
  assert set(written[0]) == set(expected[0])
  # Served features from the request, the rest from the feedback; a column
  # neither carries (the census tracts) stays empty.
  carried = set(features.SERVING_FEATURES) | set(FEEDBACK_COLUMNS)
  for got, want in zip(written, expected):
    mismatched = [c for c in carried if not _same(got[c], want[c])]
    assert mismatched == [], (got, want)
    assert {c for c in got if got[c] == ''} >= set(got) - carried
  # Integer features are written as integers, as CsvExampleGen reads them.
  assert all('.' not in r['trip_start_hour'] for r in written)
  assert 'requests 40, label rows 33, joined 29' in harvest.summary()
  assert 'wrote span-2' in harvest.summary()


def test_a_second_harvest_of_the_same_log_adds_nothing(loop):
  root, _, _ = loop
  args = (str(root / 'log'), str(root / 'labels.csv'), str(root / 'spans'))
  first = process_labeling.harvest(*args)
  second = process_labeling.harvest(*args)
  assert second.span is None
  assert second.already_in_spans == first.already_in_spans + 29
  assert second.counts['joined'] == 0
  assert sorted(p.name for p in (root / 'spans').iterdir()) == [
    'span-1',
    'span-2',
  ]
  assert 'no new labelled rows, no span written' in second.summary()


def test_labels_without_tips_are_refused_in_one_line_and_nothing_written(
  loop,
):
  root, _, labelled = loop
  write_rows(
    root / 'labels.csv',
    [
      {features.TRIP_ID: r[features.TRIP_ID], features.LABEL: 1}
      for r in labelled
    ],
  )
  with pytest.raises(serving_rows.UnreadableInput) as refused:
    process_labeling.harvest(
      str(root / 'log'), str(root / 'labels.csv'), str(root / 'spans')
    )
  assert 'labels.csv row 1: process labeling needs tips' in str(refused.value)
  assert [p.name for p in (root / 'spans').iterdir()] == ['span-1']


def test_a_directory_without_request_logs_is_named(loop):
  root, _, _ = loop
  with pytest.raises(serving_rows.UnreadableInput, match='no request-log'):
    process_labeling.harvest(
      str(root / 'spans'), str(root / 'labels.csv'), str(root / 'spans')
    )


def test_span_numbers_continue_after_the_highest(tmp_path):
  for name in ('span-1', 'span-10', 'span-9', 'notes'):
    (tmp_path / name).mkdir()
  assert process_labeling.next_span_name(str(tmp_path)) == 'span-11'
