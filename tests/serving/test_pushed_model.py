"""The server over HTTP with the model the pipeline pushed (not the toy)."""

import json
import math

import numpy as np
import requests
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from models import features
from serving.request_log import read_records
from tests.conftest import PROJECT_DIR, read_rows
from tests.serving.conftest import server_args, subprocess_server, wait_until


def _instance(row):
  instance = {
    name: float(row[name]) if row[name] else math.nan
    for name in features.NUMERIC_FEATURES
  }
  instance.update({name: row[name] for name in features.STRING_FEATURES})
  return instance


def _json_example(row, types):
  """A CSV row as a classify/regress example: JSON integers are int64
  features, decimals float features; blank columns are left out."""
  example = {}
  for name in features.SERVING_FEATURES:
    if row[name]:
      if types[name] == schema_pb2.INT:
        example[name] = int(row[name])
      elif types[name] == schema_pb2.FLOAT:
        example[name] = float(row[name])
      else:
        example[name] = row[name]
  return example


def test_rest_predictions_match_the_models_own_signature(
  trained_pipeline, tmp_path
):
  rows = read_rows()[:50]
  assert any(not r['dropoff_latitude'] for r in rows)
  instances = [_instance(r) for r in rows]
  model_dir = trained_pipeline.serving_model_dir
  version = max(
    (v for v in model_dir.iterdir() if v.name.isdigit()),
    key=lambda v: int(v.name),
  )
  signature = tf.saved_model.load(str(version)).signatures['serving_default']
  expected = signature(
    **{
      name: tf.constant(
        [i[name] for i in instances],
        tf.string if name in features.STRING_FEATURES else tf.float32,
      )
      for name in features.SERVING_FEATURES
    }
  )['probability'].numpy()

  log_dir = tmp_path / 'logs'
  with subprocess_server(server_args(model_dir, log_dir)) as (_, url):
    # Missing values travel as NaN, a token TF Serving's JSON accepts
    # (json.dumps writes it; requests' json= refuses it).
    response = requests.post(
      f'{url}/v1/models/taxi:predict',
      data=json.dumps({'instances': instances}),
      timeout=30,
    )
    assert response.status_code == 200, response.text
    predictions = np.array(response.json()['predictions'])
    status = requests.get(f'{url}/v1/models/taxi', timeout=5).json()
    schema = text_format.Parse(
      (PROJECT_DIR / 'schema' / 'schema.pbtxt').read_text(), schema_pb2.Schema()
    )
    types = {f.name: f.type for f in schema.feature}
    examples = [_json_example(r, types) for r in rows]
    classified = requests.post(
      f'{url}/v1/models/taxi:classify',
      timeout=30,
      json={'signature_name': 'classification', 'examples': examples},
    )
    regressed = requests.post(
      f'{url}/v1/models/taxi:regress',
      timeout=30,
      json={'signature_name': 'regression', 'examples': examples},
    )
  assert classified.status_code == 200, classified.text
  assert regressed.status_code == 200, regressed.text
  np.testing.assert_allclose(
    [scores[1][1] for scores in classified.json()['results']],
    expected,
    atol=1e-5,
  )
  np.testing.assert_allclose(regressed.json()['results'], expected, atol=1e-5)
  np.testing.assert_allclose(predictions, expected, atol=1e-5)
  assert status['model_version_status'][0]['version'] == version.name
  assert status['model_version_status'][0]['state'] == 'AVAILABLE'
  records = wait_until(lambda: list(read_records(str(log_dir))), timeout=10)
  assert len(records) == 3 * len(instances)


def test_ids_travel_through_serving_with_id_and_into_the_request_log(
  trained_pipeline, tmp_path
):
  """The forwarded-key pattern over REST: a client with ids names the
  signature, gets each id back beside its probability, and the request log
  keeps the id for the label join."""
  rows = read_rows()[:20]
  instances = [
    dict(_instance(r), **{features.TRIP_ID: r[features.TRIP_ID]}) for r in rows
  ]
  log_dir = tmp_path / 'logs'
  model_dir = trained_pipeline.serving_model_dir
  with subprocess_server(server_args(model_dir, log_dir)) as (_, url):
    plain = requests.post(
      f'{url}/v1/models/taxi:predict',
      data=json.dumps({'instances': [_instance(r) for r in rows]}),
      timeout=30,
    )
    with_ids = requests.post(
      f'{url}/v1/models/taxi:predict',
      data=json.dumps(
        {'signature_name': 'serving_with_id', 'instances': instances}
      ),
      timeout=30,
    )
  assert with_ids.status_code == 200, with_ids.text
  predictions = with_ids.json()['predictions']
  assert [p[features.TRIP_ID] for p in predictions] == [
    r[features.TRIP_ID] for r in rows
  ]
  np.testing.assert_allclose(
    [p['probability'] for p in predictions],
    plain.json()['predictions'],
    atol=1e-6,
  )
  records = wait_until(lambda: list(read_records(str(log_dir))), timeout=10)
  logged = sorted(
    (r for r in records if r['signature_name'] == 'serving_with_id'),
    key=lambda r: r['instance_index'],
  )
  assert [r['features'][features.TRIP_ID] for r in logged] == [
    r[features.TRIP_ID] for r in rows
  ]
  assert [r['outputs'][features.TRIP_ID] for r in logged] == [
    r[features.TRIP_ID] for r in rows
  ]
