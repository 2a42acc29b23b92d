import numpy as np
import pytest

from models import threshold


def test_best_f1_threshold_separates_perfectly_separable_scores():
  labels = [0, 0, 1, 1]
  cut = threshold.best_f1_threshold(labels, [0.1, 0.3, 0.6, 0.9])
  assert 0.3 < cut < 0.6
  assert threshold.binary_metrics(labels, [0.1, 0.3, 0.6, 0.9], cut)['f1'] == 1


def test_best_f1_threshold_matches_a_brute_force_search():
  rng = np.random.default_rng(0)
  labels = rng.random(500) < 0.3
  scores = np.clip(labels * 0.2 + rng.random(500) * 0.8, 0, 1)
  cut = threshold.best_f1_threshold(labels, scores)
  best = max(
    threshold.binary_metrics(labels, scores, t)['f1'] for t in np.unique(scores)
  )
  assert threshold.binary_metrics(labels, scores, cut)['f1'] == best


def test_binary_metrics_counts():
  m = threshold.binary_metrics([1, 1, 0, 0], [0.9, 0.2, 0.8, 0.1], 0.5)
  assert (m['tp'], m['fn'], m['fp'], m['tn']) == (1, 1, 1, 1)
  assert m['precision'] == m['recall'] == m['f1'] == m['accuracy'] == 0.5


def test_half_best_f1_threshold_is_near_the_optimum_for_calibrated_scores():
  rng = np.random.default_rng(1)
  probabilities = rng.beta(0.5, 1.5, 20000)
  labels = rng.random(20000) < probabilities  # Calibrated by construction.
  cut = threshold.half_best_f1_threshold(labels, probabilities)
  best = threshold.binary_metrics(labels, probabilities, cut)['f1']
  assert cut == pytest.approx(best / 2, abs=0.01)
  fresh = rng.random(20000) < probabilities
  optimum = max(
    threshold.binary_metrics(fresh, probabilities, t)['f1']
    for t in np.linspace(0.05, 0.95, 91)
  )
  assert threshold.binary_metrics(fresh, probabilities, cut)['f1'] > (
    optimum - 0.005
  )
