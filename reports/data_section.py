"""The data section: TFDV statistics per split (with histograms), missing
values, the schema and the anomalies of a run."""

from typing import Dict, List

import plotly.graph_objects as go
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from reports import page

SPLIT_COLORS = {
  'train': '#1f77b4',
  'eval': '#ff7f0e',
  'test': '#2ca02c',
  'serving': '#d62728',
  'previous': '#9467bd',
}
TOP_VALUES = 12


def _name(feature) -> str:
  return '.'.join(feature.path.step) or feature.name


def _common(feature):
  kind = feature.WhichOneof('stats')
  stats = getattr(feature, kind)
  return stats.common_stats, kind, stats


def features_by_name(
  stats: statistics_pb2.DatasetFeatureStatisticsList,
) -> Dict[str, statistics_pb2.FeatureNameStatistics]:
  return {_name(f): f for f in stats.datasets[0].features}


def _numeric_trace(feature, split: str, rows: int) -> go.Bar:
  """Shares of rows, as for categories: the splits differ in size."""
  [standard] = [h for h in feature.num_stats.histograms if h.type == h.STANDARD]
  buckets = standard.buckets
  return go.Bar(
    x=[(b.low_value + b.high_value) / 2 for b in buckets],
    y=[b.sample_count / rows if rows else 0 for b in buckets],
    width=[b.high_value - b.low_value for b in buckets],
    name=split,
    marker_color=SPLIT_COLORS.get(split),
    opacity=0.6,
  )


def _share_trace(feature, split: str, rows: int) -> go.Bar:
  values = feature.string_stats.top_values[:TOP_VALUES]
  return go.Bar(
    x=[v.value for v in values],
    y=[v.frequency / rows if rows else 0 for v in values],
    name=split,
    marker_color=SPLIT_COLORS.get(split),
  )


def histogram(name: str, by_split: Dict[str, tuple]) -> str:
  """One figure per feature, one trace per split."""
  fig = go.Figure()
  numeric = True
  for split, (feature, rows) in by_split.items():
    if feature.HasField('num_stats') and feature.num_stats.histograms:
      fig.add_trace(_numeric_trace(feature, split, rows))
    elif feature.HasField('string_stats'):
      numeric = False
      fig.add_trace(_share_trace(feature, split, rows))
  fig.update_layout(
    title=name,
    barmode='overlay' if numeric else 'group',
    yaxis_title='share of rows',
    legend=dict(orientation='h', y=-0.25),
  )
  return page.figure(fig, height=280, width=380)


def statistics_table(stats_by_split) -> str:
  rows = []
  for split, stats in stats_by_split.items():
    total = int(stats.datasets[0].num_examples)
    for name, feature in sorted(features_by_name(stats).items()):
      common, kind, detail = _common(feature)
      missing = int(total - common.num_non_missing)
      row = [name, split, kind.replace('_stats', ''), total - missing, missing]
      row.append(missing / total if total else None)
      if kind == 'num_stats':
        row += [detail.mean, detail.std_dev, detail.min, detail.max, None]
      else:
        row += [None, None, None, None, int(detail.unique)]
      rows.append(row)
  return page.table(
    [
      'feature',
      'split',
      'kind',
      'present',
      'missing',
      'missing share',
      'mean',
      'std dev',
      'min',
      'max',
      'distinct',
    ],
    rows,
  )


def schema_table(schema: schema_pb2.Schema) -> str:
  rows = []
  for feature in schema.feature:
    domain = ''
    if feature.HasField('int_domain'):
      d = feature.int_domain
      domain = f'ints [{d.min}, {d.max}]' + (
        ' categorical' if d.is_categorical else ''
      )
    elif feature.HasField('float_domain'):
      domain = (
        f'floats [{feature.float_domain.min}, {feature.float_domain.max}]'
      )
    elif feature.domain:
      domain = f'string domain {feature.domain}'
    rows.append(
      [
        feature.name,
        schema_pb2.FeatureType.Name(feature.type),
        feature.presence.min_fraction if feature.HasField('presence') else None,
        domain,
        ', '.join(feature.in_environment) or 'all',
        ', '.join(feature.not_in_environment) or '',
      ]
    )
  return page.table(
    [
      'feature',
      'type',
      'min presence',
      'domain',
      'in environments',
      'not in environments',
    ],
    rows,
  )


def anomalies_table(by_split: Dict[str, List[Dict]]) -> str:
  rows = [
    [split, a['feature'], a['kind'], a['description']]
    for split, found in by_split.items()
    for a in found
  ]
  if not rows:
    return page.paragraph(
      'No anomalies: every split matches the curated schema.'
    )
  return page.table(['split', 'feature', 'kind', 'description'], rows)


def section(
  stats_by_split,
  schema: schema_pb2.Schema,
  schema_source: str,
  anomalies: Dict[str, List[Dict]],
) -> List[str]:
  rows = {
    split: int(s.datasets[0].num_examples)
    for split, s in stats_by_split.items()
  }
  names = sorted(
    set().union(*(features_by_name(s) for s in stats_by_split.values()))
  )
  figures = []
  for name in names:
    by_split = {
      split: (features_by_name(s)[name], rows[split])
      for split, s in stats_by_split.items()
      if name in features_by_name(s)
    }
    figures.append(histogram(name, by_split))
  return [
    page.paragraph(
      'Rows per split: '
      + ', '.join(f'{split} {n:,}' for split, n in rows.items())
    ),
    page.heading('Statistics per feature and split (TFDV)'),
    statistics_table(stats_by_split),
    page.heading('Distributions per split'),
    page.figures(figures),
    page.heading(f'Schema ({schema_source})'),
    schema_table(schema),
    page.heading('Anomalies (ExampleValidator against the schema)'),
    anomalies_table(anomalies),
  ]
