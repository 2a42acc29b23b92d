"""The closing summary of a run, in words a person can act on."""

from typing import List, Optional

from pipeline.summary import RunSummary

KEY_METRICS = ('auc', 'f1_score', 'precision', 'recall', 'binary_accuracy')
# model_analysis.json's baseline metrics, in its own names.
BASELINE_METRICS = ('auc', 'log_loss', 'f1', 'precision', 'recall', 'accuracy')
ERROR_ROWS = 8


def _cell(value: Optional[float], width: int = 9) -> str:
  return f'{"undefined":>{width}}' if value is None else f'{value:>{width}.3f}'


def _row(name: str, values: dict) -> str:
  cells = ' '.join(_cell(values.get(m, float('nan'))) for m in KEY_METRICS)
  count = values.get('example_count')
  return f'  {name:<34} {"" if count is None else int(count):>7} {cells}'


def _interval(values) -> str:
  return '' if not values else f'[{values[0]:.3f}, {values[1]:.3f}]'


def format_model_analysis(analysis: dict, error_rows: int = ERROR_ROWS):
  """The baselines side by side, the gate against each, the top
  error-analysis rows (model_analysis.json)."""
  lines = [
    f'  baselines on the {analysis["split"]} split (candidate threshold '
    f'{analysis["decision_threshold"]:.3f}):',
    f'  {"model":<12} {"rows":>6} '
    + ' '.join(f'{m[:9]:>9}' for m in BASELINE_METRICS),
  ]
  for entry in analysis['baselines']:
    values = entry['metrics']
    lines.append(
      f'  {entry["name"]:<12} {values["rows"]:>6} '
      + ' '.join(_cell(values[m]) for m in BASELINE_METRICS)
    )
  for row in analysis['gate']:
    verdict = 'passed' if row['passed'] else 'FAILED'
    lines.append(
      f'  gate {row["metric"]} vs {row["against"]}: candidate '
      f'{_cell(row["candidate"], 0)}, {row["against"]} '
      f'{_cell(row["baseline"], 0)}, winner {row["winner"]}: {verdict}'
    )
  errors = analysis['error_analysis'][:error_rows]
  if errors:
    lines.append(
      f'  error analysis (top {len(errors)} of '
      f'{len(analysis["error_analysis"])} by potential gain in '
      f'{errors[0]["metric"]} against {errors[0]["reference_name"]}):'
    )
    lines.append(
      f'  {"slice or tag":<40} {"kind":<5} {"rows":>5} {"share":>6} '
      f'{"model":>7} {"ref":>7} {"gain":>7}  gap 95% interval'
    )
    for row in errors:
      name = row['name'] + (' (too small)' if row['too_small'] else '')
      gain = row['potential_gain']
      lines.append(
        f'  {name[:40]:<40} {row["kind"]:<5} {row["rows"]:>5} '
        f'{row["share"]:>6.3f} {_cell(row["candidate"], 7)} '
        f'{_cell(row["reference"], 7)} {_cell(gain, 7)}  '
        f'{_interval(row.get("gap_ci95"))}'
      )
  empty = [
    row['feature']
    for row in analysis.get('features', [])
    if not row['carries_signal']
  ]
  if 'features' in analysis:
    lines.append(
      '  features carrying no signal: ' + (', '.join(empty) or 'none')
    )
  return lines


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
    for name in slices[:max_slices]:
      lines.append(_row(name, summary.metrics[name]))
    if len(slices) > max_slices:
      lines.append(
        f'  ... {len(slices) - max_slices} more slices in the Evaluator output'
      )
  if summary.production_baseline:
    lines.append(f'  model in production: {summary.production_baseline}')
  for failure in summary.validation_failures:
    lines.append(f'  threshold not met: {failure}')
  if summary.model_analysis:
    lines += format_model_analysis(summary.model_analysis)
  if summary.blessed is not None:
    lines.append('  model: ' + _verdict(summary))
  if summary.infra_blessed is not None:
    lines.append('  infra validation: ' + _infra_verdict(summary))
  not_pushed = 'nothing pushed'
  if summary.infra_blessed is False:
    not_pushed += ' (infra validation failed)'
  lines.append('  pushed to: ' + (summary.pushed_to or not_pushed))
  if summary.cached_nodes:
    lines.append('  reused from cache: ' + ', '.join(summary.cached_nodes))
  return '\n'.join(lines)


def _infra_verdict(summary: RunSummary) -> str:
  """One line: the failure's reason, or what was measured."""
  result = summary.infra_validation or {}
  if not summary.infra_blessed:
    return 'FAILED: ' + (result.get('reason') or 'see the infra_validator log')
  figures = result.get('measurements', {})
  return (
    f'passed ({result.get("server", "?")}: {figures.get("requests")} '
    f'requests, p50 {figures.get("p50_ms")} ms, p99 {figures.get("p99_ms")} '
    f'ms, budget {figures.get("p99_budget_ms"):g} ms; server ready in '
    f'{figures.get("startup_s")} s, step {result.get("step_s")} s)'
  )


def _verdict(summary: RunSummary) -> str:
  if summary.blessed:
    return 'BLESSED'
  reasons = []
  if summary.evaluator_blessed is False:
    reasons.append("the Evaluator's thresholds above")
  for row in (summary.model_analysis or {}).get('gate', []):
    if not row['passed']:
      reasons.append(
        f'{row["against"]} baseline beats it on {row["metric"]}: '
        f'{_cell(row["baseline"], 0)} against {_cell(row["candidate"], 0)}'
      )
  return 'NOT blessed (' + ('; '.join(reasons) or 'see above') + ')'
