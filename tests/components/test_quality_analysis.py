"""Metrics, baselines, the gate and the error analysis on real taxi rows."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from components import quality_analysis as qa
from components import raw_examples
from models import slices
from tests.conftest import read_rows


@pytest.fixture(scope='module')
def taxi():
  frame = raw_examples.as_frame(read_rows())
  return frame, raw_examples.labels(frame)


def test_labels_match_the_label_definition(taxi):
  frame, labels = taxi
  expected = [
    int(float(r['tips']) > 0.2 * float(r['fare'])) for r in read_rows()
  ]
  assert labels.tolist() == expected
  assert 0.2 < labels.mean() < 0.25


def test_auc_of_one_class_is_undefined_not_zero():
  assert qa.auc([0, 0, 0], [0.1, 0.5, 0.9]) is None
  assert qa.metrics([0, 0], [0.2, 0.7], [0, 1])['auc'] is None
  assert qa.auc([0, 1], [0.1, 0.9]) == 1.0


def test_bootstrap_auc_equals_roc_auc_score_on_every_draw():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 300)
  # Rounded, so that many probabilities tie within and across classes.
  probabilities = np.round(rng.random(300) * 0.6 + 0.3 * labels, 1)
  draws = rng.integers(0, 300, size=(50, 300))
  expected = [roc_auc_score(labels[d], probabilities[d]) for d in draws]
  np.testing.assert_allclose(
    qa.bootstrap_auc(labels, probabilities, draws), expected, atol=1e-12
  )


def test_bootstrap_auc_is_nan_on_draws_of_one_class_and_chunks_agree(
  monkeypatch,
):
  labels = np.array([0, 0, 1, 1])
  probabilities = np.array([0.1, 0.4, 0.35, 0.8])
  draws = np.array([[0, 1, 0, 1], [0, 2, 1, 3], [2, 3, 3, 2], [1, 2, 2, 0]])
  whole = qa.bootstrap_auc(labels, probabilities, draws)
  assert np.isnan(whole[[0, 2]]).all()
  assert whole[1] == 0.75  # 3 of the 4 (positive, negative) pairs ordered.
  assert whole[3] == roc_auc_score([0, 1, 1, 0], [0.4, 0.35, 0.35, 0.1])
  monkeypatch.setattr(qa, '_BOOTSTRAP_CELLS', 4)  # One draw per chunk.
  np.testing.assert_array_equal(
    qa.bootstrap_auc(labels, probabilities, draws), whole
  )


def test_rule_baseline_is_the_card_rule_with_train_rates(taxi):
  frame, labels = taxi
  train, test = frame.iloc[:12000], frame.iloc[12000:]
  probabilities, decisions = qa.rule_probabilities(
    train, labels[:12000], test, 'payment_type', 'Credit Card'
  )
  card = (test['payment_type'] == 'Credit Card').to_numpy()
  assert decisions.tolist() == card.astype(int).tolist()
  card_rate = labels[:12000][(train['payment_type'] == 'Credit Card')].mean()
  assert np.allclose(probabilities[card], card_rate)
  scored = qa.metrics(labels[12000:], probabilities, decisions)
  # The figure for the whole data set: F1 0.806.
  assert 0.77 < scored['f1'] < 0.84
  assert (
    scored['log_loss']
    < qa.metrics(labels[12000:], *qa.always_no(labels[:12000], len(test)))[
      'log_loss'
    ]
  )


def test_always_no_scores_no_recall_and_the_base_rate_accuracy(taxi):
  _, labels = taxi
  probabilities, decisions = qa.always_no(labels, len(labels))
  scored = qa.metrics(labels, probabilities, decisions)
  assert scored['auc'] == 0.5
  assert scored['recall'] == 0.0 and scored['f1'] == 0.0
  assert scored['accuracy'] == pytest.approx(1 - labels.mean())


def _table(candidate_auc, simple_auc, candidate_loss=0.2, simple_loss=0.2):
  return {
    'candidate': {'auc': candidate_auc, 'log_loss': candidate_loss, 'f1': 0.8},
    'simple': {'auc': simple_auc, 'log_loss': simple_loss, 'f1': 0.8},
    'rule': {'auc': 0.8, 'log_loss': 0.3, 'f1': 0.81},
  }


def test_gate_names_metric_values_and_winner():
  rows = qa.gate(_table(0.95, 0.96, 0.19, 0.18), qa.DEFAULT_GATE)
  failed = {(r['metric'], r['against']): r for r in rows if not r['passed']}
  assert set(failed) == {
    ('auc', 'simple'),
    ('log_loss', 'simple'),
    ('f1', 'rule'),
  }
  assert failed['auc', 'simple']['winner'] == 'simple'
  assert qa.refusals(rows)[0] == (
    'auc: candidate 0.9500 vs simple 0.9600 (winner: simple)'
  )


def test_gate_passes_a_candidate_that_wins_and_honours_the_tolerance():
  rows = qa.gate(_table(0.97, 0.96, 0.17, 0.18), [('auc', 'simple')])
  assert rows[0]['passed'] and rows[0]['winner'] == 'candidate'
  lenient = qa.gate(_table(0.955, 0.96), [('auc', 'simple')], tolerance=0.01)
  assert lenient[0]['passed'] and lenient[0]['winner'] == 'simple'


def test_gate_skips_an_absent_baseline_and_fails_an_undefined_value():
  assert qa.gate(_table(0.9, 0.9), [('auc', 'production')]) == []
  rows = qa.gate(_table(None, 0.9), [('auc', 'simple')])
  assert rows[0]['passed'] is False


def test_error_analysis_rows_gain_intervals_and_found_slices(taxi):
  frame, labels = taxi
  frame, labels = frame.iloc[:3000].reset_index(drop=True), labels[:3000]
  rng = np.random.default_rng(0)
  reference = np.clip(labels * 0.8 + rng.random(len(labels)) * 0.2, 0, 1)
  # A candidate as good as the reference except on cash trips at night.
  bad = (frame['payment_type'] == 'Cash') & (frame['trip_start_hour'] < 6)
  candidate = np.where(bad, 0.5, reference)
  rows = qa.error_analysis(
    frame,
    labels,
    candidate,
    reference,
    'simple',
    slices.SLICES,
    slices.TAGS,
    search_frame=frame[['payment_type', 'trip_start_hour', 'fare']],
    samples=50,
  )
  by_name = {row['name']: row for row in rows}
  cash = by_name['payment_type=Cash']
  assert cash['gap'] > 0 and cash['potential_gain'] == pytest.approx(
    cash['gap'] * cash['share']
  )
  assert cash['gap_ci95'][0] <= cash['gap'] <= cash['gap_ci95'][1]
  assert by_name['payment_type=Credit Card']['gap'] == pytest.approx(0.0)
  # No positives among cash trips: AUC undefined, not 0.
  assert cash['candidate_auc'] is None
  assert {'airport_trip', 'zero_miles', 'missing_coordinates'} <= set(by_name)
  found = [row for row in rows if row['kind'] == 'found']
  assert found and all(row['rows'] >= qa.MIN_SLICE_ROWS for row in found)
  assert any('payment_type=Cash, trip_start_hour=' in r['name'] for r in found)
  # Sorted: trustworthy rows by potential gain, too-small ones after.
  trusted = [r for r in rows if not r['too_small']]
  gains = [r['potential_gain'] for r in trusted]
  assert gains == sorted(gains, reverse=True)
  assert rows[: len(trusted)] == trusted


def test_a_configured_target_replaces_the_baseline_as_reference(taxi):
  frame, labels = taxi
  probabilities = np.full(len(labels), labels.mean())
  rows = qa.error_analysis(
    frame,
    labels,
    probabilities,
    probabilities,
    'simple',
    {'payment_type': slices.SLICES['payment_type']},
    {},
    targets={'payment_type=Cash': 0.0},
    samples=20,
  )
  cash = next(r for r in rows if r['name'] == 'payment_type=Cash')
  assert cash['reference_name'] == 'target' and cash['reference'] == 0.0
  assert cash['gap'] == pytest.approx(cash['candidate'])


def test_slices_sort_hours_and_fares_numerically(taxi):
  frame, _ = taxi
  hours = slices.SLICES['hour'](frame).unique()
  assert sorted(hours, key=qa._natural)[:2] == ['00-05', '06-09']
  fares = sorted(slices.SLICES['fare'](frame).unique(), key=qa._natural)
  assert fares[:3] == ['0-5', '5-10', '10-20'] and fares[-1] == '40+'


def test_calibration_and_threshold_curve_cover_every_row(taxi):
  _, labels = taxi
  probabilities = np.linspace(0, 1, len(labels))
  bins = qa.calibration(labels, probabilities)
  assert sum(b['rows'] for b in bins) == len(labels)
  curve = qa.threshold_curve(labels, probabilities)
  recalls = [point['recall'] for point in curve]
  assert recalls == sorted(recalls, reverse=True)


def test_company_slice_keeps_the_top_companies(taxi):
  frame, _ = taxi
  companies = slices.SLICES['company'](frame)
  assert companies.nunique() == slices.TOP_COMPANIES + 1
  assert 'other' in set(companies)
