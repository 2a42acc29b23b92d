"""monitoring_runner.py end to end against the session's trained model: the
report, the exit status and the runs' records in ML Metadata."""

import json
import subprocess
import sys

import pytest
from ml_metadata import metadata_store

import monitoring_runner
from components import skew_detection
from core import lineage, metadata_uri, names
from models import features
from tests.conftest import PROJECT_DIR, write_rows


def _logged(row, version, index):
  """A request-log record of `row` as the server writes it for predict on
  serving_default: numbers as floats, no trip id."""
  logged = {}
  for name in features.SERVING_FEATURES:
    value = row[name]
    logged[name] = (
      value
      if name in features.STRING_FEATURES
      else (float(value) if value else None)
    )
  return {
    'timestamp': '2024-05-01T12:00:00.000000Z',
    'model_name': 'taxi',
    'model_version': version,
    'signature_name': 'serving_default',
    'method': 'predict',
    'request_id': f'r{index}',
    'instance_index': 0,
    'features': logged,
    'outputs': {'probability': 0.5},
    'latency_us': 800,
  }


def _run(work_dir, *args):
  command = [
    sys.executable,
    str(PROJECT_DIR / 'monitoring_runner.py'),
    '--work-dir',
    str(work_dir),
    *args,
  ]
  result = subprocess.run(
    command,
    capture_output=True,
    text=True,
    timeout=600,
    cwd=PROJECT_DIR,
    check=False,
  )
  return result.returncode, result.stdout + result.stderr


def _report_inputs(store, pipeline_name=names.MONITORING_PIPELINE):
  context = lineage.node_context(store, pipeline_name, names.SKEW_REPORT)
  execution = max(
    store.get_executions_by_context(context.id), key=lambda e: e.id
  )
  return {
    e.artifact_id
    for e in store.get_events_by_execution_ids([execution.id])
    if e.type == e.INPUT
  }


def test_request_log_with_fare_in_cents(
  metadata_copy, baseline, held_out_rows, tmp_path
):
  version = int(baseline.model_version)
  log_dir = tmp_path / 'request_logs'
  log_dir.mkdir()
  records = []
  for i, row in enumerate(held_out_rows[:1500]):
    record = _logged(row, version, i)
    record['features']['fare'] *= 100  # The client sends cents.
    records.append(record)
  # Served by another version: not compared with this model's data.
  for i, row in enumerate(held_out_rows[1500:1600]):
    record = _logged(row, version - 1, i)
    record['features']['payment_type'] = 'Bogus'
    records.append(record)
  (log_dir / 'requests-20240501T120000000000Z-1-0001.jsonl').write_text(
    ''.join(json.dumps(r) + '\n' for r in records)
  )
  report_path = tmp_path / 'report.json'

  returncode, output = _run(
    metadata_copy,
    '--serving-data',
    str(log_dir),
    '--report',
    str(report_path),
  )

  assert returncode == 1, output[-3000:]
  report = json.loads(report_path.read_text())
  assert {(f['feature'], f['kind']) for f in report['findings']} == {
    ('fare', skew_detection.DISTRIBUTION_SKEW)
  }
  (finding,) = report['findings']
  assert set(finding) == {
    'feature',
    'kind',
    'metric',
    'value',
    'threshold',
    'description',
  }
  assert report['serving_examples'] == 1500
  assert report['joined_examples'] == 0  # The server logs no trip ids.
  assert report['model_version'] == baseline.model_version
  assert 'distribution_skew  fare' in output
  # Linked in ML Metadata to the pushed model and its training statistics.
  store = metadata_store.MetadataStore(
    metadata_uri.connection_config(str(metadata_copy / 'metadata.sqlite'))
  )
  pushed = lineage.pushed_models(store, names.TRAINING_PIPELINE)[-1][1]
  statistics = store.get_artifacts_by_uri(baseline.statistics_uri)
  assert {pushed.id, statistics[0].id} <= _report_inputs(store)


def test_clean_spans_with_trip_ids(
  metadata_copy, baseline, training_rows, held_out_rows, tmp_path
):
  spans_dir = tmp_path / 'spans'
  write_rows(spans_dir / 'span-1' / 'serving.csv', held_out_rows[:1500])
  # The newest span: trips the model was trained on, sent with their ids,
  # as JSON numbers: joined to the training examples, no feature differs.
  newest = spans_dir / 'span-2' / 'serving.jsonl'
  newest.parent.mkdir()
  newest.write_text(
    ''.join(
      json.dumps(
        {
          k: (
            v
            if k in features.STRING_FEATURES + (features.TRIP_ID,)
            else float(v)
            if v
            else None
          )
          for k, v in row.items()
        }
      )
      + '\n'
      for row in training_rows[:1500]
    )
  )
  report_path = tmp_path / 'report.json'

  returncode, output = _run(
    metadata_copy,
    '--serving-data',
    str(spans_dir),
    '--report',
    str(report_path),
    '--model-version',
    baseline.model_version,
  )

  assert returncode == 0, output[-3000:]
  report = json.loads(report_path.read_text())
  assert report['findings'] == [] and report['previous_span'] is True
  assert report['joined_examples'] == 1500
  assert 'No skew or drift found.' in output


@pytest.mark.parametrize(
  'args,message',
  [
    (['--serving-data', '/nonexistent/serving.csv'], 'no such file'),
    (['--model-version', '12345'], 'was not pushed'),
    (['--serving-data', '{garbage}'], 'Not a JSON line'),
  ],
)
def test_bad_input_exits_2(metadata_copy, tmp_path, capsys, args, message):
  garbage = tmp_path / 'garbage.jsonl'
  garbage.write_text('this is not json\n')
  args = [a.replace('{garbage}', str(garbage)) for a in args]
  if '--serving-data' not in args:
    args += ['--serving-data', str(garbage)]
  code = monitoring_runner.main(['--work-dir', str(metadata_copy), *args])
  assert code == 2
  assert message in capsys.readouterr().err


def test_missing_metadata_store_exits_2(tmp_path, capsys):
  assert monitoring_runner.main(['--work-dir', str(tmp_path)]) == 2
  assert 'No ML Metadata store' in capsys.readouterr().err
