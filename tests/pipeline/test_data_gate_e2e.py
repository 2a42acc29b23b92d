"""Data that breaks the schema stops the run before training; nothing is
pushed and the message names the anomaly."""

import os

import pytest

from tests.conftest import E2E_ARGS, run_local_runner, sample_rows, write_rows

pytestmark = pytest.mark.e2e  # Every test here runs the pipeline.


def _new_payment_type(rows):
  rows[0]['payment_type'] = 'Bitcoin'
  return rows, 'payment_type', 'ENUM_TYPE_UNEXPECTED_STRING_VALUES'


def _missing_required_column(rows):
  for row in rows:
    del row['trip_miles']
  return rows, 'trip_miles', 'SCHEMA_MISSING_COLUMN'


def _string_in_numeric_column(rows):
  rows[3]['fare'] = 'twelve'
  return rows, 'fare', 'UNEXPECTED_DATA_TYPE'


def _unknown_extra_column(rows):
  for row in rows:
    row['driver_rating'] = '5'
  return rows, 'driver_rating', 'SCHEMA_NEW_COLUMN'


def _value_outside_its_domain(rows):
  rows[5]['trip_start_hour'] = '30'
  return rows, 'trip_start_hour', 'INT_TYPE_BIG_INT'


@pytest.mark.parametrize(
  'corrupt',
  [
    _new_payment_type,
    _missing_required_column,
    _string_in_numeric_column,
    _unknown_extra_column,
    _value_outside_its_domain,
  ],
)
def test_bad_data_stops_the_run_before_transform(corrupt, tmp_path):
  rows, feature, kind = corrupt(sample_rows(400))
  write_rows(tmp_path / 'data' / 'data.csv', rows)
  run = run_local_runner(
    tmp_path / 'data', tmp_path / 'work', tmp_path / 'serving', *E2E_ARGS
  )
  assert run.returncode == 1
  assert f"feature '{feature}': {kind}" in run.output
  assert 'Data validation found' in run.output
  assert 'transform ...' not in run.output
  assert not (tmp_path / 'serving').exists() or not os.listdir(
    tmp_path / 'serving'
  )


def test_one_unreadable_file_among_good_ones_is_named(tmp_path):
  rows = sample_rows(400)
  write_rows(tmp_path / 'data' / 'part-1.csv', rows[:200])
  write_rows(tmp_path / 'data' / 'part-2.csv', rows[200:])
  (tmp_path / 'data' / 'part-3.csv').write_text(
    ';'.join(rows[0]) + '\n' + ';'.join(rows[0].values()) + '\n'
  )
  run = run_local_runner(
    tmp_path / 'data', tmp_path / 'work', tmp_path / 'serving', *E2E_ARGS
  )
  assert run.returncode == 1
  assert 'part-3.csv: the header has one column' in run.output
  assert 'part-1.csv:' not in run.output and 'part-2.csv:' not in run.output
  assert not (tmp_path / 'serving').exists()


def test_a_model_below_the_quality_gate_is_not_pushed_and_the_summary_says_why(
  tmp_path,
):
  write_rows(tmp_path / 'data' / 'data.csv', sample_rows(400))
  run = run_local_runner(
    tmp_path / 'data',
    tmp_path / 'work',
    tmp_path / 'serving',
    '--train-steps',
    '20',
    '--min-auc',
    '0.999',
  )
  assert run.returncode == 0, run.output[-3000:]
  assert 'model: NOT blessed' in run.output
  assert 'threshold not met: overall: auc = ' in run.output
  assert 'pushed to: nothing pushed' in run.output
  assert not (tmp_path / 'serving').exists() or not os.listdir(
    tmp_path / 'serving'
  )


def test_a_model_a_baseline_beats_is_not_pushed_and_the_summary_names_it(
  tmp_path,
):
  # Two training steps: the Evaluator's own thresholds (lowered to nothing)
  # pass, the trees and the rule win.
  write_rows(tmp_path / 'data' / 'data.csv', sample_rows(400))
  run = run_local_runner(
    tmp_path / 'data',
    tmp_path / 'work',
    tmp_path / 'serving',
    '--train-steps',
    '2',
    '--min-auc',
    '0',
    '--min-f1',
    '0',
    '--no-feature-report',
  )
  assert run.returncode == 0, run.output[-3000:]
  assert 'threshold not met' not in run.output
  assert 'gate auc vs simple: candidate ' in run.output
  assert 'winner simple: FAILED' in run.output
  assert 'model: NOT blessed (simple baseline beats it on ' in run.output
  assert 'pushed to: nothing pushed' in run.output
