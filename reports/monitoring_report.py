"""One HTML report per monitoring check: each finding with the two
distributions it compares, the history of findings per feature across the
checks recorded in ML Metadata, and what the request log says about serving
(latency, throughput, inputs and outputs)."""

import collections
import datetime
import json
import os
from typing import Dict, List, Optional

import numpy as np
import plotly.graph_objects as go
import tensorflow_data_validation as tfdv
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from core import artifacts, lineage, names
from reports import data_section, page
from serving import request_log

# The statistics each kind of finding compares: (input key, split) pairs.
BASELINE = ('baseline_statistics', names.TRAIN_SPLIT)
SERVING = ('serving_statistics', names.SERVING_SPLIT)
PREVIOUS = ('serving_statistics', names.PREVIOUS_SPLIT)
COMPARED = {
  'schema_skew': (BASELINE, SERVING),
  'distribution_skew': (BASELINE, SERVING),
  'feature_skew': (BASELINE, SERVING),
  'drift': (PREVIOUS, SERVING),
}


def _read_json(path: str) -> Optional[Dict]:
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return json.load(f)


def checks(store: metadata_store.MetadataStore, monitoring_pipeline: str):
  """(skew_report execution, its inputs, its report) of every check with a
  report, oldest first."""
  context = lineage.node_context(store, monitoring_pipeline, names.SKEW_REPORT)
  if context is None:
    return []
  found = []
  for execution in sorted(
    store.get_executions_by_context(context.id), key=lambda e: e.id
  ):
    events = store.get_events_by_execution_ids([execution.id])
    inputs = lineage.artifacts_by_key(
      store, events, metadata_store_pb2.Event.INPUT
    )
    reports = lineage.artifacts_by_key(
      store, events, metadata_store_pb2.Event.OUTPUT
    ).get(names.REPORT, [])
    report = (
      _read_json(os.path.join(reports[-1].uri, names.REPORT_FILE))
      if reports
      else None
    )
    if report is not None:
      found.append((execution, inputs, report))
  return found


def _features(inputs, key: str, split: str):
  """(feature statistics by name, rows) of one split, or None."""
  if not inputs.get(key):
    return None
  path = artifacts.statistics_path(inputs[key][-1].uri, split)
  if not os.path.isfile(path):
    return None
  statistics = tfdv.load_stats_binary(path)
  return (
    data_section.features_by_name(statistics),
    int(statistics.datasets[0].num_examples),
  )


def findings_part(report: Dict, inputs) -> List[str]:
  findings = report.get('findings', [])
  if not findings:
    return [page.paragraph('No finding: serving data matches the baseline.')]
  parts = [
    page.table(
      ['feature', 'kind', 'metric', 'value', 'threshold', 'description'],
      [
        [
          f['feature'],
          f['kind'],
          f['metric'],
          f['value'],
          f['threshold'],
          f['description'],
        ]
        for f in findings
      ],
    )
  ]
  statistics = {
    side: _features(inputs, *side) for side in (BASELINE, SERVING, PREVIOUS)
  }
  figures = []
  for finding in findings:
    by_side = {}
    for side in COMPARED[finding['kind']]:
      found = statistics[side]
      if found and finding['feature'] in found[0]:
        by_side[side[1]] = (found[0][finding['feature']], found[1])
    title = f'{finding["feature"]}: {finding["kind"]}'
    if by_side:
      figures.append(data_section.histogram(title, by_side))
    else:
      figures.append(page.note(f"{title}: in neither side's statistics."))
  parts.append(page.figures(figures))
  return parts


def history_part(all_checks) -> List[str]:
  by_feature = collections.defaultdict(dict)
  columns = []
  for execution, _, report in all_checks:
    column = f'#{execution.id} v{report.get("model_version")}'
    columns.append(column)
    for f in report.get('findings', []):
      by_feature[f['feature']].setdefault(column, []).append(f)
  if not by_feature:
    return [page.paragraph(f'No finding in any of the {len(columns)} checks.')]
  rows = [
    [feature]
    + [
      ', '.join(f['kind'] for f in found.get(column, [])) or '—'
      for column in columns
    ]
    for feature, found in sorted(by_feature.items())
  ]
  fig = go.Figure()
  for feature, found in sorted(by_feature.items()):
    values = [
      next(
        (f['value'] for f in found.get(c, []) if f['value'] is not None), None
      )
      for c in columns
    ]
    if any(v is not None for v in values):
      fig.add_trace(
        go.Scatter(x=columns, y=values, mode='lines+markers', name=feature)
      )
  fig.update_layout(
    title='Finding values per check (distances, mismatch fractions)',
    xaxis_title='check (skew_report execution, model version)',
  )
  return [
    page.table(['feature', *columns], rows),
    page.figure(fig, height=320, width=760),
  ]


def _time(text: str) -> datetime.datetime:
  return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%S.%fZ')


def serving_part(log_dir: Optional[str], model_version) -> List[str]:
  if not log_dir or not request_log.log_files(log_dir):
    return [
      page.note(
        'No request log: this check read files of feature rows, not the '
        "server's log."
      )
    ]
  records = [
    r
    for r in request_log.read_records(log_dir)
    if str(r.get('model_version')) == str(model_version)
  ]
  if not records:
    return [page.note(f'No request of model version {model_version} logged.')]
  requests = {}
  for record in records:
    requests.setdefault(record['request_id'], record)
  latencies = np.array([r['latency_us'] / 1000 for r in requests.values()])
  times = sorted(_time(r['timestamp']) for r in requests.values())
  span = max((times[-1] - times[0]).total_seconds(), 1.0)
  per_second = collections.Counter(t.replace(microsecond=0) for t in times)
  parts = [
    page.table(
      ['requests', 'instances', 'p50 ms', 'p90 ms', 'p99 ms', 'requests/s'],
      [
        [
          len(requests),
          len(records),
          float(np.percentile(latencies, 50)),
          float(np.percentile(latencies, 90)),
          float(np.percentile(latencies, 99)),
          len(requests) / span,
        ]
      ],
    )
  ]
  latency = go.Figure(go.Histogram(x=latencies, nbinsx=40))
  latency.update_layout(title='Request latency', xaxis_title='ms')
  throughput = go.Figure(
    go.Scatter(
      x=sorted(per_second),
      y=[per_second[t] for t in sorted(per_second)],
      mode='lines+markers',
    )
  )
  throughput.update_layout(
    title='Throughput', yaxis_title='requests per second'
  )
  outputs = collections.defaultdict(list)
  for record in records:
    for name, value in (record.get('outputs') or {}).items():
      if isinstance(value, list):
        value = value[0] if value else None
      if isinstance(value, (int, float)):
        outputs[name].append(value)
  output_figures = []
  for name, values in sorted(outputs.items()):
    fig = go.Figure(go.Histogram(x=values, nbinsx=30))
    fig.update_layout(title=f'Output {name} (mean {np.mean(values):.3f})')
    output_figures.append(page.figure(fig, height=260, width=380))
  inputs = collections.defaultdict(list)
  for record in records:
    for name, value in (record.get('features') or {}).items():
      inputs[name].append(value)
  input_rows = []
  for name, values in sorted(inputs.items()):
    numbers = [v for v in values if isinstance(v, (int, float))]
    missing = sum(v is None or v == '' for v in values)
    input_rows.append(
      [
        name,
        len(values),
        missing / len(values),
        float(np.mean(numbers)) if numbers else None,
        len({str(v) for v in values}),
      ]
    )
  return parts + [
    page.figures(
      [
        page.figure(latency, height=260, width=380),
        page.figure(throughput, height=260, width=380),
        *output_figures,
      ]
    ),
    page.heading('Inputs'),
    page.table(
      ['feature', 'values', 'missing share', 'mean', 'distinct'], input_rows
    ),
  ]


def write_monitoring_report(
  connection_config,
  monitoring_pipeline: str,
  report_json: str,
  log_dir: Optional[str],
  path: str,
) -> str:
  """The report of the newest check (the one that wrote `report_json`)."""
  store = metadata_store.MetadataStore(connection_config)
  report = _read_json(report_json)
  if report is None:
    raise FileNotFoundError(f'no monitoring report at {report_json}')
  all_checks = checks(store, monitoring_pipeline)
  inputs = all_checks[-1][1] if all_checks else {}
  name = os.path.splitext(os.path.basename(path))[0]
  html = page.Page(
    f'Monitoring {monitoring_pipeline}: check {name}, model version '
    f'{report.get("model_version")}'
  )
  counts = ', '.join(f'{k} {v}' for k, v in report.get('counts', {}).items())
  html.section(
    'findings',
    'Findings',
    [
      page.paragraph(
        f'{report.get("serving_examples", 0):,} serving examples against '
        f'{report.get("pushed_model")} ({counts}); '
        f'{report.get("joined_examples", 0):,} joined by id.'
      ),
      *findings_part(report, inputs),
    ],
  )
  html.section('history', 'History of findings', history_part(all_checks))
  html.section(
    'serving',
    'Serving (request log)',
    serving_part(log_dir, report.get('model_version')),
  )
  return html.write(path)
