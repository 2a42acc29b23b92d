"""continuous_runner.py end to end on real taxi spans: one first cycle (train
and push on span-1) shared by the module; each scenario runs the next cycle
on a copy of it with a new span-2, and asserts the exact findings, the
decision, the versions and what ML Metadata recorded."""

import json
import math
import pathlib
import random
import shutil
import subprocess
import sys
import time

import pytest
import requests
from ml_metadata import metadata_store

from continuous import cycle
from core import metadata_uri, model_versions
from models import features
from tests.conftest import (
  E2E_ARGS,
  E2E_ROWS,
  PROJECT_DIR,
  read_rows,
  sample_rows,
  write_rows,
)
from tests.serving.conftest import server_args, subprocess_server, wait_until

pytestmark = pytest.mark.e2e
SPAN_ROWS = 2000


def _run(root: pathlib.Path, *args):
  started = time.time()
  result = subprocess.run(
    [
      sys.executable,
      str(PROJECT_DIR / 'continuous_runner.py'),
      '--data-root',
      str(root / 'spans'),
      '--work-dir',
      str(root / 'work'),
      '--serving-model-dir',
      str(root / 'serving'),
      *E2E_ARGS,
      *args,
    ],
    capture_output=True,
    text=True,
    timeout=1800,
    cwd=PROJECT_DIR,
    check=False,
  )
  output = result.stdout + result.stderr
  print(f'cycle wall time {time.time() - started:.0f} s\n{output[-3000:]}')
  return result.returncode, output


@pytest.fixture(scope='module')
def first_cycle(tmp_path_factory):
  """The first cycle: no model yet, so it trains on span-1 and pushes."""
  root = tmp_path_factory.mktemp('loop')
  write_rows(root / 'spans' / 'span-1' / 'data.csv', sample_rows(E2E_ROWS))
  status, output = _run(root)
  assert status == 0, output[-5000:]
  assert 'Decision: first_push' in output
  assert len(model_versions.versions(str(root / 'serving'))) == 1
  return root


@pytest.fixture(scope='module')
def new_rows():
  seen = {row['trip_id'] for row in sample_rows(E2E_ROWS)}
  rows = [row for row in read_rows() if row['trip_id'] not in seen]
  random.Random(13).shuffle(rows)
  return rows[:SPAN_ROWS]


def _next_cycle(first_cycle, tmp_path, rows, *args):
  """The next cycle on a copy of the first one's spans, store and models,
  with `rows` as span-2."""
  root = tmp_path / 'loop'
  shutil.copytree(first_cycle, root)
  write_rows(root / 'spans' / 'span-2' / 'data.csv', rows)
  before = model_versions.versions(str(root / 'serving'))
  status, output = _run(root, *args)
  after = model_versions.versions(str(root / 'serving'))
  reports = sorted((root / 'work' / 'continuous' / 'reports').glob('span-2*'))
  report = json.loads(reports[-1].read_text()) if reports else None
  return status, output, before, after, report, root


def _findings(report):
  return {(f['kind'], f['feature']) for f in report['findings']}


def _decisions(root):
  store = metadata_store.MetadataStore(
    metadata_uri.connection_config(str(root / 'work' / 'metadata.sqlite'))
  )
  context = store.get_context_by_type_and_name(
    cycle.CONTEXT_TYPE, 'taxi.continuous'
  )
  # In the order they were recorded (the store returns them in any order).
  executions = sorted(
    store.get_executions_by_context(context.id), key=lambda e: e.id
  )
  decisions = [e for e in executions if e.type == cycle.DECISION_TYPE]
  checks = [e for e in executions if e.type == cycle.SPAN_CHECK_TYPE]
  return store, decisions, checks


def test_clean_span_is_checked_and_nothing_retrained(
  first_cycle, new_rows, tmp_path
):
  status, output, before, after, report, root = _next_cycle(
    first_cycle, tmp_path, new_rows
  )
  assert status == 0, output[-5000:]
  assert report['findings'] == []
  assert report['labels']['joined'] == SPAN_ROWS
  assert 'Decision: nothing' in output
  assert after == before
  _, decisions, checks = _decisions(root)
  assert [d.properties['action'].string_value for d in decisions] == [
    'first_push',
    'nothing',
  ]
  assert {c.properties['span'].string_value for c in checks} == {
    'span-1',
    'span-2',
  }
  # Every compared feature has a score gauge for node_exporter.
  gauges = (root / 'work' / 'metrics' / 'taxi_monitoring.prom').read_text()
  assert 'kind="distribution_skew",feature="trip_start_hour"' in gauges


def test_changed_tipping_rule_is_concept_drift_and_retrains(
  first_cycle, new_rows, tmp_path
):
  def night_card_tips_halved(row):
    row = dict(row)
    hour = int(row['trip_start_hour'])
    if row['payment_type'] == 'Credit Card' and (hour >= 18 or hour < 6):
      row['tips'] = str(float(row['tips'] or 0) / 2)
    return row

  status, output, before, after, report, root = _next_cycle(
    first_cycle,
    tmp_path,
    [night_card_tips_halved(row) for row in new_rows],
    '--window',
    '1',
  )
  assert status == 0, output[-5000:]
  kinds = {kind for kind, _ in _findings(report)}
  assert kinds == {'model_quality', 'concept_drift'}
  assert ('concept_drift', 'payment_type=Credit Card') in _findings(report)
  assert ('concept_drift', 'payment_type=Cash') not in _findings(report)
  assert report['change'] == 'concept_drift'
  assert 'Decision: retrain' in output
  assert len(after) == len(before) + 1 and after[-1] > before[-1]
  store, decisions, _ = _decisions(root)
  first, decision = decisions
  assert first.properties['action'].string_value == 'first_push'
  assert decision.properties['action'].string_value == 'retrain'
  assert 'Concept drift' in decision.properties['reason'].string_value
  assert decision.properties['model_version'].string_value == str(after[-1])
  events = store.get_events_by_execution_ids([decision.id])
  outputs = store.get_artifacts_by_id(
    [e.artifact_id for e in events if e.type == e.OUTPUT]
  )
  inputs = store.get_artifacts_by_id(
    [e.artifact_id for e in events if e.type == e.INPUT]
  )
  assert [
    a.custom_properties['pushed_version'].string_value for a in outputs
  ] == [str(after[-1])]
  report_type = store.get_artifact_type('MonitoringReport')
  assert [a.type_id for a in inputs] == [report_type.id]


def test_eight_hour_shift_is_drift_of_the_start_hour_only(
  first_cycle, new_rows, tmp_path
):
  def later(row):
    row = dict(row)
    row['trip_start_hour'] = str((int(row['trip_start_hour']) + 8) % 24)
    return row

  status, output, before, after, report, _ = _next_cycle(
    first_cycle, tmp_path, [later(row) for row in new_rows]
  )
  assert status == 0, output[-5000:]
  data_findings = {
    (kind, feature)
    for kind, feature in _findings(report)
    if kind in ('drift', 'distribution_skew', 'schema_skew', 'feature_skew')
  }
  assert data_findings == {
    ('drift', 'trip_start_hour'),
    ('distribution_skew', 'trip_start_hour'),
  }
  assert 'Decision: retrain' in output
  assert 'Data drift' in output


def test_new_payment_type_is_refused_and_nothing_pushed(
  first_cycle, new_rows, tmp_path
):
  rows = [dict(row) for row in new_rows]
  for row in rows[::30]:
    row['payment_type'] = 'Crypto'
  status, output, before, after, report, root = _next_cycle(
    first_cycle, tmp_path, rows
  )
  assert status == 1, output[-5000:]
  assert ('schema_skew', 'payment_type') in _findings(report)
  assert {k for k, _ in _findings(report)} <= {
    'schema_skew',
    'distribution_skew',
    'drift',
  }
  assert 'Decision: refuse' in output
  assert 'refused by the data gate' in output
  assert after == before
  _, decisions, _ = _decisions(root)
  assert [d.properties['action'].string_value for d in decisions] == [
    'first_push',
    'refuse',
  ]


def _with_id(row):
  """A client's serving_with_id instance: the features and the trip id
  (a missing number travels as NaN, as TF Serving's JSON takes it)."""
  instance = {
    name: row[name]
    if name in features.STRING_FEATURES
    else (float(row[name]) if row[name] else math.nan)
    for name in features.SERVING_FEATURES
  }
  instance[features.TRIP_ID] = row[features.TRIP_ID]
  return instance


def test_process_labeling_turns_served_requests_and_feedback_into_a_span(
  first_cycle, new_rows, tmp_path
):
  """The served model answers serving_with_id requests; the feedback labels
  arrive later; the cycle joins them into span-2 and checks it."""
  root = tmp_path / 'loop'
  shutil.copytree(first_cycle, root)
  log_dir = root / 'request_logs'
  with subprocess_server(server_args(root / 'serving', log_dir)) as (_, url):
    for start in range(0, len(new_rows), 200):
      response = requests.post(
        f'{url}/v1/models/taxi:predict',
        data=json.dumps(
          {
            'signature_name': 'serving_with_id',
            'instances': [_with_id(r) for r in new_rows[start : start + 200]],
          }
        ),
        timeout=60,
      )
      assert response.status_code == 200, response.text
  wait_until(lambda: len(list(log_dir.glob('requests-*.jsonl'))), timeout=10)
  feedback = [
    {c: r[c] for c in ('trip_id', 'tips', 'fare', 'trip_start_timestamp')}
    for r in new_rows
  ]
  write_rows(root / 'feedback' / 'labels.csv', feedback)
  before = model_versions.versions(str(root / 'serving'))
  status, output = _run(
    root, '--request-log', str(log_dir), '--labels', str(root / 'feedback')
  )
  assert status == 0, output[-5000:]
  assert (
    f'Process labeling: requests {SPAN_ROWS}, label rows {SPAN_ROWS}, '
    f'joined {SPAN_ROWS}, already in a span 0; wrote span-2.'
  ) in output
  harvested = read_rows(root / 'spans' / 'span-2' / 'harvested.csv')
  assert [r['trip_id'] for r in harvested] == [r['trip_id'] for r in new_rows]
  [report_path] = (root / 'work' / 'continuous' / 'reports').glob('span-2*')
  report = json.loads(report_path.read_text())
  assert report['labels']['joined'] == SPAN_ROWS
  assert report['findings'] == []
  assert 'Decision: nothing' in output
  assert model_versions.versions(str(root / 'serving')) == before
