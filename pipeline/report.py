"""The closing summary of a run, in words a person can act on."""

from typing import List

from pipeline.summary import RunSummary

KEY_METRICS = ('auc', 'f1_score', 'precision', 'recall', 'binary_accuracy')


def _row(name: str, values: dict) -> str:
  cells = ' '.join(f'{values.get(m, float("nan")):>9.3f}' for m in KEY_METRICS)
  count = values.get('example_count')
  return f'  {name:<34} {"" if count is None else int(count):>7} {cells}'


def format_summary(summary: RunSummary, max_slices: int = 12) -> str:
  lines: List[str] = ['', 'Summary']
  if summary.rows_per_split:
    lines.append(
      '  rows per split: '
      + ', '.join(
        f'{split} {rows}' for split, rows in summary.rows_per_split.items()
      )
    )
  if summary.anomalies:
    lines.append(f'  data anomalies ({len(summary.anomalies)}):')
    lines += [f'    - {finding}' for finding in summary.anomalies]
  else:
    lines.append('  data anomalies: none')
  overall = summary.metrics.get('overall')
  if overall:
    lines.append(
      '  test split metrics (decision threshold exported with the model):'
    )
    lines.append(
      f'  {"slice":<34} {"rows":>7} '
      + ' '.join(f'{m[:9]:>9}' for m in KEY_METRICS)
    )
    lines.append(_row('overall', overall))
    tp, fp, fn, tn = (
      overall.get(k, 0)
      for k in (
        'true_positives',
        'false_positives',
        'false_negatives',
        'true_negatives',
      )
    )
    if tp + fp + fn + tn:
      always_no = {
        'auc': 0.5,
        'f1_score': 0.0,
        'precision': 0.0,
        'recall': 0.0,
        'binary_accuracy': (tn + fp) / (tp + fp + fn + tn),
      }
      lines.append(_row('baseline: always "no big tip"', always_no))
      lines.append(
        f'  confusion counts: TP {tp:.0f}  FP {fp:.0f}  FN {fn:.0f}'
        f'  TN {tn:.0f}'
      )
    slices = [name for name in summary.metrics if name != 'overall']
    for name in sorted(slices)[:max_slices]:
      lines.append(_row(name, summary.metrics[name]))
    if len(slices) > max_slices:
      lines.append(
        f'  ... {len(slices) - max_slices} more slices in the Evaluator output'
      )
  for failure in summary.validation_failures:
    lines.append(f'  threshold not met: {failure}')
  if summary.blessed is not None:
    lines.append(
      '  model: '
      + (
        'BLESSED'
        if summary.blessed
        else 'NOT blessed (see the thresholds above)'
      )
    )
  lines.append('  pushed to: ' + (summary.pushed_to or 'nothing pushed'))
  if summary.cached_nodes:
    lines.append('  reused from cache: ' + ', '.join(summary.cached_nodes))
  return '\n'.join(lines)
