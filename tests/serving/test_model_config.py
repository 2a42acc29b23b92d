"""--model_config_file: several models, version policies (latest N, all, specific), labels and reload by polling."""

import os
import time

import requests

from tests.serving.conftest import (
  V1_WEIGHTS,
  V2_WEIGHTS,
  in_process_server,
  install_version,
  raw_instance,
  wait_until,
)
from tests.serving.tf_serving_suite.conftest import write_model_config


def predict(url, path):
  response = requests.post(
    f'{url}{path}:predict', json={'instances': [raw_instance()]}, timeout=30
  )
  return response.status_code, response.json()


def versions(url, model):
  body = requests.get(f'{url}/v1/models/{model}', timeout=30).json()
  return {s['version']: s['state'] for s in body['model_version_status']}


def test_policies_labels_and_reload(
  tmp_path, model_v1_template, toy_model_module
):
  base = str(tmp_path / 'taxi')
  install_version(model_v1_template, base, 1, 1)
  install_version(model_v1_template, base, 2, 2)
  # Zero-padded names are the same versions, as TF Serving parses them.
  os.rename(os.path.join(base, '1'), os.path.join(base, '00000001'))
  p1 = toy_model_module.reference_probability(
    12.5, 3.0, 'Credit Card', **V1_WEIGHTS
  )
  p2 = toy_model_module.reference_probability(
    12.5, 3.0, 'Credit Card', **V2_WEIGHTS
  )
  config = tmp_path / 'models.config'
  models = [
    (
      'all',
      base,
      '    model_version_policy { all {} }\n'
      '    version_labels { key: "stable" value: 1 }\n'
      '    version_labels { key: "canary" value: 2 }\n',
    ),
    ('latest', base, ''),
    ('pinned', base, '    model_version_policy { specific { versions: 1 } }\n'),
  ]
  write_model_config(config, models)
  args = [
    f'--model_config_file={config}',
    '--model_config_file_poll_wait_seconds=0.5',
    '--file_system_poll_wait_seconds=0',
    '--rest_api_port=0',
    f'--request_log_dir={tmp_path / "logs"}',
  ]
  with in_process_server(args) as (_, url):
    assert versions(url, 'all') == {'2': 'AVAILABLE', '1': 'AVAILABLE'}
    assert versions(url, 'latest') == {'2': 'AVAILABLE'}
    assert versions(url, 'pinned') == {'1': 'AVAILABLE'}
    for path, expected in (
      ('/v1/models/all', p2),
      ('/v1/models/all/versions/1', p1),
      ('/v1/models/all/labels/stable', p1),
      ('/v1/models/all/labels/canary', p2),
      ('/v1/models/latest', p2),
      ('/v1/models/pinned', p1),
    ):
      status, body = predict(url, path)
      assert status == 200 and abs(body['predictions'][0] - expected) < 1e-6, (
        path
      )
    assert predict(url, '/v1/models/latest/versions/1') == (
      404,
      {'error': 'Servable not found for request: Specific(latest, 1)'},
    )
    assert predict(url, '/v1/models/pinned/labels/stable') == (
      400,
      {'error': 'Unrecognized servable version label: stable'},
    )
    metadata = requests.get(
      f'{url}/v1/models/all/labels/stable/metadata', timeout=30
    )
    assert metadata.json()['model_spec']['version'] == '1'

    # Reload: "all" now serves only version 2 and "pinned" goes away.
    write_model_config(
      config,
      [
        (
          'all',
          base,
          '    model_version_policy { specific { versions: 2 } }\n',
        ),
        models[1],
      ],
    )
    wait_until(
      lambda: versions(url, 'all') == {'2': 'AVAILABLE', '1': 'END'}, 30
    )
    assert predict(url, '/v1/models/pinned')[0] == 404
    # A file that no longer parses keeps the models as they are.
    config.write_text('model_config_list { config { nmae: "x" } }')
    time.sleep(1.5)  # Three config polls.
    assert predict(url, '/v1/models/latest')[0] == 200
