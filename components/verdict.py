"""Which kind of change a monitoring run saw, and what it recommends, in
words: data drift (the inputs moved), concept drift (the inputs look the
same, the right answer for them changed), both, or a data problem."""

from typing import Sequence

from components.skew_detection import (
  CONCEPT_DRIFT,
  DISTRIBUTION_SKEW,
  DRIFT,
  FEATURE_SKEW,
  MODEL_QUALITY,
  SCHEMA_SKEW,
  Finding,
)

DATA_DRIFT_KINDS = (DISTRIBUTION_SKEW, DRIFT)

NO_CHANGE = 'no_change'
DATA_PROBLEM = 'data_problem'
DATA_DRIFT = 'data_drift'
CONCEPT = 'concept_drift'
BOTH = 'data_and_concept_drift'
QUALITY_ONLY = 'quality_drop'


def _features(findings: Sequence[Finding], kinds) -> str:
  return ', '.join(sorted({f.feature for f in findings if f.kind in kinds}))


def change_kind(findings: Sequence[Finding]) -> str:
  kinds = {f.kind for f in findings}
  if kinds & {SCHEMA_SKEW, FEATURE_SKEW}:
    return DATA_PROBLEM
  data, concept = bool(kinds & set(DATA_DRIFT_KINDS)), CONCEPT_DRIFT in kinds
  if data and concept:
    return BOTH
  if concept:
    return CONCEPT
  if data:
    return DATA_DRIFT
  if MODEL_QUALITY in kinds:
    return QUALITY_ONLY
  return NO_CHANGE


def describe(findings: Sequence[Finding]) -> str:
  """One paragraph: the kind of change and the recommendation."""
  kind = change_kind(findings)
  data = _features(findings, DATA_DRIFT_KINDS)
  quality = (
    ' The served model is below its quality gate on the labelled rows ('
    + ', '.join(f.metric for f in findings if f.kind == MODEL_QUALITY)
    + ').'
    if any(f.kind == MODEL_QUALITY for f in findings)
    else ''
  )
  if kind == DATA_PROBLEM:
    return (
      'Data problem: the serving data breaks the schema or differs from '
      'the same trips in training ('
      + _features(findings, (SCHEMA_SKEW, FEATURE_SKEW))
      + '). Fix the data (or the schema, if the change is legitimate); '
      'do not retrain on it.' + quality
    )
  if kind == BOTH:
    return (
      f'Data drift and concept drift: the inputs moved ({data}) and the '
      'labels the model expects for its scores changed ('
      + _features(findings, (CONCEPT_DRIFT,))
      + '). Retrain on the newest labelled data; look at the drifted '
      'features.' + quality
    )
  if kind == CONCEPT:
    return (
      'Concept drift: the inputs look the same but the label for them '
      'changed (' + _features(findings, (CONCEPT_DRIFT,)) + '). Retrain on '
      'the newest labelled data.' + quality
    )
  if kind == DATA_DRIFT:
    return (
      f'Data drift: the inputs moved ({data}), the relation between '
      'inputs and label did not show a change. Look at these features '
      '(a broken upstream source is fixed in the data); if the change is '
      'real, retrain on the newest data.' + quality
    )
  if kind == QUALITY_ONLY:
    return (
      'The served model is below its quality gate on the labelled rows '
      'while no input or calibration change was seen: retrain.'
    )
  return 'No change seen: nothing to do.'
