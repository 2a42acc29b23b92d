"""The simple trained baseline and the feature report on real taxi rows."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from components import feature_report, raw_examples, simple_baseline
from models import features
from tests.conftest import read_rows


@pytest.fixture(scope='module')
def split():
  frame = raw_examples.as_frame(read_rows())
  labels = raw_examples.labels(frame)
  rng = np.random.default_rng(3)
  order = rng.permutation(len(frame))
  train, held = order[:6000], order[6000:7500]
  return (
    frame.iloc[train].reset_index(drop=True),
    labels[train],
    frame.iloc[held].reset_index(drop=True),
    labels[held],
  )


def test_baseline_beats_the_card_rule_on_auc_and_survives_a_round_trip(
  split, tmp_path
):
  train, train_labels, held, held_labels = split
  fitted = simple_baseline.train(train, train_labels)
  probabilities = fitted.predict(held)
  assert roc_auc_score(held_labels, probabilities) > 0.93
  assert 0.05 < fitted.decision_threshold < 0.95
  simple_baseline.save(fitted, str(tmp_path), rows=len(train))
  loaded = simple_baseline.load(str(tmp_path))
  assert np.array_equal(loaded.predict(held), probabilities)


def test_baseline_takes_unseen_and_missing_categories(split):
  train, train_labels, held, _ = split
  fitted = simple_baseline.SimpleBaseline(features.SERVING_FEATURES).fit(
    train, train_labels
  )
  odd = held.head(3).copy()
  odd.loc[0, 'company'] = 'A company never seen'
  odd.loc[1, 'payment_type'] = None
  probabilities = fitted.predict(odd)
  assert np.all((probabilities >= 0) & (probabilities <= 1))


def test_feature_report_finds_signal_in_fare_and_payment_not_in_noise(split):
  train, train_labels, held, held_labels = split
  train, held = train.copy(), held.copy()
  rng = np.random.default_rng(0)
  train['noise'] = rng.random(len(train))
  held['noise'] = rng.random(len(held))
  names = ['payment_type', 'fare', 'trip_miles', 'noise']
  trees = simple_baseline.SimpleBaseline(names).fit(train, train_labels)
  rows = feature_report.feature_rows(
    names,
    feature_report.mutual_information(train, train_labels, names),
    feature_report.permutation_importance(
      trees.predict, held, held_labels, names
    ),
    feature_report.ablation(train, train_labels, held, held_labels, names),
  )
  by_name = {row['feature']: row for row in rows}
  assert by_name['payment_type']['carries_signal']
  assert by_name['payment_type']['ablation_delta'] < -0.1
  assert by_name['payment_type']['ablation_ci95'][1] < 0
  assert by_name['fare']['mutual_information'] > 0.01
  assert not by_name['noise']['carries_signal'], by_name['noise']
  assert rows[0]['feature'] == 'payment_type'


def test_label_consistency_counts_conflicts_and_uncomputable_labels(split):
  train, train_labels, _, _ = split
  rows = train.head(50).copy()
  labels = train_labels[:50].copy()
  twin = rows.iloc[[0]].copy()
  twin[features.TRIP_ID] = 'trip-twin'
  rows = raw_examples.as_frame(
    list(rows.to_dict('records')) + list(twin.to_dict('records'))
  )
  labels = np.r_[labels, 1 - labels[0]]
  rows.loc[5, features.TIPS] = np.nan
  report = feature_report.label_consistency(
    rows, labels, features.SERVING_FEATURES
  )
  assert report['uncomputable_labels'] == 1
  assert report['conflicting_rows'] >= 2
  assert any(
    'trip-twin' in example['trip_ids'] and set(example['labels']) == {0, 1}
    for example in report['examples']
  )
