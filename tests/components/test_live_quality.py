"""Live quality metrics and concept drift on labels of real taxi trips, with
a score that knows what the training rule knows (card payment, fare)."""

import numpy as np

from components import live_quality
from models import features
from tests.conftest import sample_rows


def _labelled(rows, card_tip_factor=1.0):
  labels, scores = [], []
  for row in rows:
    tips, fare = float(row['tips'] or 0), float(row['fare'] or 0)
    if row['payment_type'] == 'Credit Card':
      tips *= card_tip_factor
    labels.append(int(features.is_big_tipper(tips, fare)))
    # A fixed stand-in for a model: card trips are likely big tippers.
    card = row['payment_type'] == 'Credit Card'
    scores.append(0.7 if card else 0.02)
  return live_quality.scored(rows, labels, scores)


def test_auc_matches_the_pairwise_definition():
  labels = np.array([0, 0, 1, 1, 0, 1])
  scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.4])
  pairs = [(p, n) for p in scores[labels == 1] for n in scores[labels == 0]]
  expected = np.mean([1.0 if p > n else 0.5 if p == n else 0 for p, n in pairs])
  assert live_quality.auc(labels, scores) == expected
  assert live_quality.auc(np.array([1, 1]), np.array([0.2, 0.3])) is None


def test_same_rule_is_no_concept_drift_and_halved_card_tips_are():
  rows = sample_rows(4000, seed=21)
  reference = _labelled(rows[:2000])
  assert (
    live_quality.concept_drift_findings(_labelled(rows[2000:]), reference) == []
  )
  changed = live_quality.concept_drift_findings(
    _labelled(rows[2000:], card_tip_factor=0.5), reference
  )
  assert 'payment_type=Credit Card' in {f.feature for f in changed}
  assert 'payment_type=Cash' not in {f.feature for f in changed}
  assert all(f.value < -f.threshold for f in changed)


def test_quality_below_the_gate_is_a_finding():
  live = _labelled(sample_rows(2000, seed=22), card_tip_factor=0.5)
  overall = live_quality.metrics(live.labels, live.scores, 0.5)
  findings = live_quality.quality_findings(overall, {}, 0.8, 0.5)
  assert [(f.metric, f.threshold) for f in findings] == [('f1_score', 0.5)]
  assert live_quality.label_rows_needed(199)['rows_needed'] == 200
  assert live_quality.label_rows_needed(200) is None
