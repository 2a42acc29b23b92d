"""What a cycle does with the monitoring reports of its new spans."""

import dataclasses
from typing import Sequence

from components import verdict
from components.skew_detection import Finding

RETRAIN = 'retrain'
NOTHING = 'nothing'
REFUSE = 'refuse'
# Findings that mean the data itself is wrong: retraining on it would teach
# the model the bug. Schema skew is the data gate's own check.
DATA_PROBLEM_KINDS = ('schema_skew', 'feature_skew')
RETRAIN_KINDS = ('distribution_skew', 'drift', 'model_quality', 'concept_drift')


@dataclasses.dataclass(frozen=True)
class Decision:
  action: str
  reason: str


def decide(span_findings: Sequence[Sequence[Finding]], spans) -> Decision:
  """REFUSE when a span breaks the schema (or the same trips differ from
  training), RETRAIN when any other finding needs it (the data moved, the
  concept changed, the served model is below its gate), else NOTHING."""
  for span, findings in zip(spans, span_findings):
    bad = [f for f in findings if f.kind in DATA_PROBLEM_KINDS]
    if bad:
      return Decision(
        REFUSE,
        f"{span} refused by the data gate's schema check: "
        + '; '.join(f'{f.feature} {f.kind} ({f.metric})' for f in bad)
        + '. Fix the data (or the schema); nothing retrained.',
      )
  reasons = []
  for span, findings in zip(spans, span_findings):
    needing = [f for f in findings if f.kind in RETRAIN_KINDS]
    if needing:
      reasons.append(
        f'{span}: {verdict.describe(findings)} ('
        + ', '.join(sorted({f'{f.kind} of {f.feature}' for f in needing}))
        + ')'
      )
  if reasons:
    return Decision(RETRAIN, ' '.join(reasons))
  return Decision(
    NOTHING,
    'No finding in ' + ', '.join(spans) + ': the served model stays.',
  )
