"""The model card, generated from ML Metadata: intended use, training data
and its lineage, metrics with 95% intervals, the decision threshold, weak
slices and limitations."""

import json
import math
from typing import Dict, List, Optional, Tuple

from reports import page
from reports.model_section import confusion_counts

Z95 = 1.959964
# Slices with fewer test rows are listed but not judged.
MIN_SLICE_ROWS = 30
# A slice is weak when its AUC or F1 is this much below the overall value.
WEAK_MARGIN = 0.05


def wilson(successes: int, trials: int) -> Optional[Tuple[float, float]]:
  """The Wilson score 95% interval of a proportion."""
  if trials == 0:
    return None
  p = successes / trials
  denominator = 1 + Z95**2 / trials
  centre = (p + Z95**2 / (2 * trials)) / denominator
  half = (
    Z95
    * math.sqrt(p * (1 - p) / trials + Z95**2 / (4 * trials**2))
    / denominator
  )
  return max(0.0, centre - half), min(1.0, centre + half)


def auc_interval(auc: float, positives: int, negatives: int):
  """Hanley & McNeil's (1982) standard error of an AUC, as a 95% interval."""
  if not positives or not negatives:
    return None
  q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
  variance = (
    auc * (1 - auc)
    + (positives - 1) * (q1 - auc**2)
    + (negatives - 1) * (q2 - auc**2)
  ) / (positives * negatives)
  half = Z95 * math.sqrt(max(variance, 0.0))
  return max(0.0, auc - half), min(1.0, auc + half)


def metric_intervals(overall: Dict[str, float]) -> List[list]:
  counts = confusion_counts(overall)
  if counts is None:
    return []
  tp, fp = counts['true_positives'], counts['false_positives']
  fn, tn = counts['false_negatives'], counts['true_negatives']
  rows = []
  for name, value, interval in (
    (
      'auc',
      overall.get('auc'),
      auc_interval(overall.get('auc', 0.5), tp + fn, tn + fp),
    ),
    ('precision', overall.get('precision'), wilson(tp, tp + fp)),
    ('recall', overall.get('recall'), wilson(tp, tp + fn)),
    (
      'accuracy',
      overall.get('binary_accuracy'),
      wilson(tp + tn, tp + fp + fn + tn),
    ),
  ):
    rows.append(
      [
        name,
        value,
        interval[0] if interval else None,
        interval[1] if interval else None,
      ]
    )
  rows.append(['f1_score', overall.get('f1_score'), None, None])
  return rows


def weak_slices(candidate: Dict[str, Dict[str, float]]) -> List[list]:
  overall = candidate.get('overall', {})
  weak = []
  for name, metrics in sorted(candidate.items()):
    rows = int(metrics.get('example_count', 0))
    if name == 'overall' or rows < MIN_SLICE_ROWS:
      continue
    for metric in ('auc', 'f1_score'):
      value, reference = metrics.get(metric), overall.get(metric)
      if (
        value is not None
        and reference is not None
        and value < reference - WEAK_MARGIN
      ):
        weak.append([name, rows, metric, value, reference])
  return weak


def _training_data(chain: Optional[Dict]) -> List[str]:
  if chain is None:
    return [page.note('This run pushed no model: no lineage of a version.')]
  data = chain['examples']
  rows = [['input base', data['input_base']]]
  rows += [
    [f['path'], f'{f["bytes"]:,} bytes, sha256 {f["sha256"]}']
    for f in data['files']
  ]
  rows += [
    ['splits', ', '.join(f'{s} {n:,}' for s, n in chain['splits'].items())],
    [
      'schema',
      f'{chain["schema"]["kind"]}: {chain["schema"]["file"] or chain["schema"]["uri"]}',
    ],
    [
      'anomalies',
      str(sum(len(a) for a in chain['anomalies']['by_split'].values())),
    ],
    ['transform graph', chain['transform']['graph']],
    ['model', chain['trainer']['model']],
    [
      'train args',
      json.dumps(chain['trainer']['execution']['properties'].get('train_args')),
    ],
    [
      'baseline model (in production)',
      chain['evaluation']['baseline_model'] or 'none',
    ],
    ['pushed', f'{chain["push"]["time"]} to {chain["push"]["destination"]}'],
  ]
  return [
    page.paragraph(
      f'Model version {chain["model_version"]}, from ML Metadata lineage:'
    ),
    page.table(['what', 'where'], rows),
  ]


def section(
  model_metadata: Dict,
  evaluation: Optional[Dict],
  chain: Optional[Dict],
  analysis: Optional[Dict],
) -> List[str]:
  candidate = (evaluation or {}).get('candidate', {})
  overall = candidate.get('overall', {})
  threshold = model_metadata.get('decision_threshold')
  parts = [
    page.heading('Intended use'),
    page.paragraph(
      'Predicts whether a Chicago taxi trip ends with a big tip, label '
      f'{model_metadata.get("label", "big_tipper")} = '
      f'{model_metadata.get("label_definition", "tips > 0.2 * fare")}, from '
      'the trip as it is known at drop-off ('
      + ', '.join(model_metadata.get('serving_features', []))
      + '). For ranking and targeting trips, e.g. studying tipping; not for '
      'decisions about individual drivers or passengers.'
    ),
    page.heading('Training data and its lineage'),
    *_training_data(chain),
    page.heading('Metrics on the test split, with 95% intervals'),
  ]
  intervals = metric_intervals(overall)
  if intervals:
    parts.append(
      page.table(
        ['metric', 'value', 'interval low', 'interval high'], intervals
      )
    )
    parts.append(
      page.note(
        'Wilson intervals for the proportions, Hanley-McNeil for the AUC; '
        'none for F1.'
      )
    )
  else:
    parts.append(page.note('No Evaluator output in this run.'))
  parts += [
    page.heading('Decision threshold'),
    page.paragraph(
      f'{page.number(threshold)}, chosen on the '
      f'{model_metadata.get("threshold_chosen_on", "eval split")}; exported '
      'with the model (assets.extra/model_metadata.json) and applied by the '
      'serving signatures.'
    ),
    page.heading('Weak slices'),
  ]
  weak = weak_slices(candidate)
  if weak:
    parts.append(
      page.table(['slice', 'rows', 'metric', 'value', 'overall'], weak)
    )
  else:
    parts.append(
      page.paragraph(
        f'No slice with at least {MIN_SLICE_ROWS} test rows is more than '
        f'{WEAK_MARGIN} below the overall AUC or F1.'
      )
    )
  if analysis and analysis.get('error_analysis'):
    worst = sorted(
      (e for e in analysis['error_analysis'] if not e.get('too_small')),
      key=lambda e: -(e.get('potential_gain') or 0),
    )[:5]
    parts.append(
      page.paragraph(
        'Largest potential gains (error analysis): '
        + '; '.join(
          f'{e["name"]} ({e["metric"]} {page.number(e["candidate"])})'
          for e in worst
        )
      )
    )
  small = sorted(
    name
    for name, m in candidate.items()
    if m.get('example_count', 0) < MIN_SLICE_ROWS
  )
  cash = candidate.get('payment_type=Cash', {}).get('mean_label')
  limitations = [
    f'Measured on {int(overall.get("example_count", 0)):,} test trips; '
    'the intervals above show how far that goes.',
    f'{len(small)} slices have fewer than {MIN_SLICE_ROWS} test trips and '
    'are not judged' + (f' ({", ".join(small[:8])}…)' if small else '') + '.',
    'Cash tips are mostly unrecorded in the source data'
    + (
      f' (big-tip rate of cash trips in the test split: {cash:.3f})'
      if cash is not None
      else ''
    )
    + ': the model learns the recording, not the tipping, for cash trips.',
    'Trained on historical trips of one city; a shift in fares, payment '
    'methods or companies needs the monitoring pipeline (skew and drift).',
  ]
  parts += [
    page.heading('Limitations'),
    '<ul>'
    + ''.join(f'<li>{page.escape(t)}</li>' for t in limitations)
    + '</ul>',
  ]
  return parts
