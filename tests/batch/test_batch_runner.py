"""batch_runner.py: the same probabilities as the REST endpoint's signature
for the same rows, the decision at the exported threshold, both outputs, and
the run recorded in ML Metadata against the pushed version."""

import math

import numpy as np
import pytest
import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tensorflow_serving.apis import prediction_log_pb2

import batch_runner
from components import batch_scoring
from core import metadata_uri, model_versions
from models import features
from tests.conftest import sample_rows, write_rows


def _raw_tensors(rows) -> dict:
  """The rows as the REST endpoint feeds serving_default: NaN / "" for a
  missing value."""
  tensors = {}
  for name in features.NUMERIC_FEATURES:
    tensors[name] = tf.constant(
      [float(r[name]) if r[name] else math.nan for r in rows], tf.float32
    )
  for name in features.STRING_FEATURES:
    tensors[name] = tf.constant([r[name] for r in rows])
  return tensors


@pytest.fixture(scope='module')
def scored(trained_pipeline, tmp_path_factory):
  root = tmp_path_factory.mktemp('batch')
  work_dir = root / 'work'
  work_dir.mkdir()
  (work_dir / 'metadata.sqlite').write_bytes(
    trained_pipeline.metadata_path.read_bytes()
  )
  rows = sample_rows(300, seed=11)
  for row in rows:  # Scoring data has no label.
    del row[features.TIPS]
  write_rows(root / 'data' / 'rows.csv', rows)
  code = batch_runner.main(
    [
      '--data',
      str(root / 'data'),
      '--output',
      str(root / 'out'),
      '--work-dir',
      str(work_dir),
      '--serving-model-dir',
      str(trained_pipeline.serving_model_dir),
    ]
  )
  assert code == 0
  return rows, root / 'out', work_dir


def test_probabilities_are_the_rest_endpoints(trained_pipeline, scored):
  rows, out, _ = scored
  model_dir = model_versions.latest_version_dir(
    str(trained_pipeline.serving_model_dir)
  )
  model = tf.saved_model.load(model_dir)
  expected = model.signatures['serving_default'](**_raw_tensors(rows))[
    'probability'
  ].numpy()
  threshold = float(model.decision_threshold.numpy())
  got = {i: (p, d) for i, p, d in batch_scoring.read_predictions(str(out))}
  assert len(got) == len(rows)
  probabilities = np.array([got[r[features.TRIP_ID]][0] for r in rows])
  np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-6)
  decisions = [got[r[features.TRIP_ID]][1] for r in rows]
  assert decisions == [int(p >= threshold) for p in expected]
  assert 0 < sum(decisions) < len(rows)


def test_prediction_logs_hold_every_row(scored):
  rows, out, _ = scored
  logs = [
    prediction_log_pb2.PredictionLog.FromString(record.numpy())
    for path in tf.io.gfile.glob(str(out / 'prediction_logs-*.gz'))
    for record in tf.data.TFRecordDataset(path, compression_type='GZIP')
  ]
  assert len(logs) == len(rows)
  assert all(log.predict_log.response.outputs['probability'] for log in logs)


def test_run_is_recorded_against_the_pushed_version(trained_pipeline, scored):
  _, out, work_dir = scored
  store = metadata_store.MetadataStore(
    metadata_uri.connection_config(str(work_dir / 'metadata.sqlite'))
  )
  (execution,) = store.get_executions_by_type(batch_runner.EXECUTION_TYPE)
  version = model_versions.versions(str(trained_pipeline.serving_model_dir))[-1]
  assert execution.properties['model_version'].int_value == version
  assert execution.properties['rows'].int_value == 300
  events = store.get_events_by_execution_ids([execution.id])
  by_type = {e.type: e.artifact_id for e in events}
  (pushed,) = store.get_artifacts_by_id(
    [by_type[metadata_store_pb2.Event.INPUT]]
  )
  assert pushed.custom_properties['pushed_version'].string_value == str(version)
  (result,) = store.get_artifacts_by_id(
    [by_type[metadata_store_pb2.Event.OUTPUT]]
  )
  assert result.uri == str(out)


def test_unknown_version_is_a_usage_error(trained_pipeline, tmp_path, capsys):
  code = batch_runner.main(
    [
      '--data',
      str(tmp_path),
      '--output',
      str(tmp_path / 'out'),
      '--serving-model-dir',
      str(trained_pipeline.serving_model_dir),
      '--model-version',
      '1',
    ]
  )
  assert code == 2
  assert 'no pushed model version 1' in capsys.readouterr().err
