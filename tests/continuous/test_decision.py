"""The cycle's decision and the words of the verdict."""

from components import verdict
from components.skew_detection import Finding
from continuous import decision


def _finding(kind, feature='trip_start_hour'):
  return Finding(feature, kind, 'metric', 0.5, 0.1, f'{kind} of {feature}')


def test_no_finding_does_nothing():
  chosen = decision.decide([[]], ['span-2'])
  assert chosen.action == decision.NOTHING
  assert 'span-2' in chosen.reason


def test_schema_skew_refuses_whatever_else_was_found():
  chosen = decision.decide(
    [[_finding('concept_drift', 'score 0.5-1.0')], [_finding('schema_skew')]],
    ['span-2', 'span-3'],
  )
  assert chosen.action == decision.REFUSE
  assert chosen.reason.startswith('span-3 refused by the data gate')


def test_drift_and_concept_drift_retrain_and_say_which_kind():
  concept = [_finding('concept_drift', 'payment_type=Credit Card')]
  chosen = decision.decide([concept], ['span-2'])
  assert chosen.action == decision.RETRAIN
  assert 'Concept drift' in chosen.reason
  assert verdict.change_kind(concept) == verdict.CONCEPT
  both = concept + [_finding('drift')]
  assert verdict.change_kind(both) == verdict.BOTH
  assert verdict.change_kind([_finding('drift')]) == verdict.DATA_DRIFT
  assert 'Look at these features' in verdict.describe([_finding('drift')])
  assert verdict.describe([]) == 'No change seen: nothing to do.'
