"""The model section: TFMA's metrics per slice and confusion counts, the
exported threshold, and what the model_analysis component computed
(baselines, threshold curve, calibration, error analysis, feature report;
layout in docs/model_quality.md)."""

from typing import Dict, List, Optional

import plotly.graph_objects as go

from reports import page

SLICE_METRICS = (
  'example_count',
  'auc',
  'f1_score',
  'precision',
  'recall',
  'binary_accuracy',
  'mean_label',
)
BASELINE_METRICS = (
  'auc',
  'log_loss',
  'f1',
  'precision',
  'recall',
  'accuracy',
  'rows',
)


def confusion_counts(metrics: Dict[str, float]) -> Optional[Dict[str, int]]:
  keys = ('true_positives', 'false_positives', 'false_negatives')
  keys += ('true_negatives',)
  if not all(k in metrics for k in keys):
    return None
  return {k: int(metrics[k]) for k in keys}


def _slice_order(name: str):
  return (name != 'overall', name.split('=')[0], name)


def slices_table(evaluation: Dict[str, Dict[str, Dict[str, float]]]) -> str:
  candidate = evaluation.get('candidate', {})
  baseline = evaluation.get('baseline', {})
  headers = ['slice', *SLICE_METRICS]
  if baseline:
    headers += ['blessed baseline auc', 'blessed baseline f1_score']
  rows = []
  for name in sorted(candidate, key=_slice_order):
    metrics = candidate[name]
    row = [name, *(metrics.get(m) for m in SLICE_METRICS)]
    if baseline:
      row += [baseline.get(name, {}).get(m) for m in ('auc', 'f1_score')]
    rows.append(row)
  return page.table(headers, rows)


def confusion_figure(counts: Dict[str, int], threshold) -> str:
  tp, fp = counts['true_positives'], counts['false_positives']
  fn, tn = counts['false_negatives'], counts['true_negatives']
  fig = go.Figure(
    go.Heatmap(
      z=[[tn, fp], [fn, tp]],
      x=['predicted no', 'predicted big tip'],
      y=['actual no', 'actual big tip'],
      text=[[tn, fp], [fn, tp]],
      texttemplate='%{text}',
      colorscale='Blues',
      showscale=False,
    )
  )
  fig.update_layout(
    title=f'Confusion matrix (test split, threshold {threshold})'
  )
  return page.figure(fig, height=320, width=420)


def baselines_part(analysis: Optional[Dict]) -> List[str]:
  if analysis is None or not analysis.get('baselines'):
    return [page.note(f'Baselines side by side: {page.NOT_COMPUTED}.')]
  baselines = analysis['baselines']
  rows = [
    [b['name'], b.get('description', '')]
    + [b['metrics'].get(m) for m in BASELINE_METRICS]
    for b in baselines
  ]
  fig = go.Figure(
    [
      go.Bar(
        name=b['name'],
        x=[m for m in BASELINE_METRICS if m != 'rows'],
        y=[b['metrics'].get(m) for m in BASELINE_METRICS if m != 'rows'],
      )
      for b in baselines
    ]
  )
  fig.update_layout(title='Baselines side by side', barmode='group')
  parts = [
    page.table(['model', 'description', *BASELINE_METRICS], rows),
    page.figure(fig, height=320, width=760),
  ]
  if analysis.get('gate'):
    parts.append(
      page.table(
        ['metric', 'against', 'candidate', 'baseline', 'passed'],
        [
          [
            g['metric'],
            g['against'],
            g['candidate'],
            g['baseline'],
            str(g['passed']),
          ]
          for g in analysis['gate']
        ],
      )
    )
  return parts


def threshold_part(analysis: Optional[Dict], threshold) -> List[str]:
  curve = (analysis or {}).get('threshold_curve')
  if not curve:
    return [
      page.note(
        f'Precision and recall against the threshold: {page.NOT_COMPUTED} '
        f'(exported threshold: {page.number(threshold)}).'
      )
    ]
  x = [p['threshold'] for p in curve]
  fig = go.Figure(
    [
      go.Scatter(x=x, y=[p['precision'] for p in curve], name='precision'),
      go.Scatter(x=x, y=[p['recall'] for p in curve], name='recall'),
    ]
  )
  if threshold is not None:
    fig.add_vline(
      x=threshold,
      line_dash='dash',
      annotation_text=f'exported threshold {threshold:.3f}',
    )
  fig.update_layout(
    title='Precision and recall against the threshold',
    xaxis_title='threshold',
    yaxis_range=[0, 1.02],
  )
  return [page.figure(fig, height=320, width=560)]


def calibration_part(analysis: Optional[Dict]) -> List[str]:
  bins = (analysis or {}).get('calibration')
  if not bins:
    return [page.note(f'Calibration: {page.NOT_COMPUTED}.')]
  fig = go.Figure(
    [
      go.Scatter(
        x=[0, 1], y=[0, 1], mode='lines', name='perfect', line_dash='dot'
      ),
      go.Scatter(
        x=[b['mean_predicted'] for b in bins],
        y=[b['observed_rate'] for b in bins],
        mode='lines+markers',
        name='model',
        text=[f'{b["rows"]} rows' for b in bins],
      ),
    ]
  )
  fig.update_layout(
    title='Calibration',
    xaxis_title='mean predicted probability',
    yaxis_title='observed rate of big tips',
  )
  return [page.figure(fig, height=320, width=480)]


def error_analysis_part(analysis: Optional[Dict]) -> List[str]:
  found = (analysis or {}).get('error_analysis')
  if not found:
    return [page.note(f'Error analysis: {page.NOT_COMPUTED}.')]
  rows = [
    [
      e['name'],
      e['kind'],
      e['rows'],
      e['share'],
      e['metric'],
      e['candidate'],
      e['reference'],
      e['reference_name'],
      e['gap'],
      e['potential_gain'],
      ''
      if e.get('ci95') is None
      else f'[{e["ci95"][0]:.3f}, {e["ci95"][1]:.3f}]',
      'too small' if e.get('too_small') else '',
    ]
    for e in sorted(found, key=lambda e: -(e.get('potential_gain') or 0))
  ]
  return [
    page.table(
      [
        'group',
        'kind',
        'rows',
        'share',
        'metric',
        'candidate',
        'reference',
        'reference model',
        'gap',
        'potential gain',
        '95% interval',
        '',
      ],
      rows,
    )
  ]


def feature_report_part(analysis: Optional[Dict]) -> List[str]:
  found = (analysis or {}).get('features')
  if not found:
    return [page.note(f'Feature report: {page.NOT_COMPUTED}.')]
  rows = [
    [
      f['feature'],
      f.get('mutual_information'),
      f.get('permutation_importance'),
      f.get('ablation_delta'),
      ''
      if f.get('ablation_ci95') is None
      else f'[{f["ablation_ci95"][0]:.4f}, {f["ablation_ci95"][1]:.4f}]',
      'yes' if f.get('carries_signal') else 'no',
    ]
    for f in sorted(
      found, key=lambda f: -(f.get('permutation_importance') or 0)
    )
  ]
  return [
    page.table(
      [
        'feature',
        'mutual information',
        'permutation importance',
        'ablation delta',
        'ablation 95% interval',
        'carries signal',
      ],
      rows,
    )
  ]


def section(
  evaluation: Optional[Dict],
  blessed: Optional[bool],
  threshold,
  analysis: Optional[Dict],
) -> List[str]:
  if evaluation is None:
    return [page.note('No Evaluator output: the run stopped before it.')]
  overall = evaluation.get('candidate', {}).get('overall', {})
  counts = confusion_counts(overall)
  verdict = {True: 'BLESSED', False: 'NOT blessed', None: 'unknown'}[blessed]
  parts = [
    page.paragraph(
      f'Evaluator verdict: {verdict}. Decision threshold exported with the '
      f'model: {page.number(threshold)}.'
    ),
    page.heading('Metrics per slice (TFMA, test split)'),
    slices_table(evaluation),
    page.heading('Baselines'),
    *baselines_part(analysis),
    page.heading('Confusion matrix, threshold curve, calibration'),
  ]
  figures = [confusion_figure(counts, threshold)] if counts else []
  parts.append(page.figures(figures))
  parts += threshold_part(analysis, threshold)
  parts += calibration_part(analysis)
  parts += [page.heading('Error analysis'), *error_analysis_part(analysis)]
  parts += [page.heading('Feature report'), *feature_report_part(analysis)]
  return parts
