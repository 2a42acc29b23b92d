"""Version discovery: hot swap without restart, and a corrupt or half-written version never replacing a good one."""

import json
import os
import shutil

import pytest
import requests

from tests.serving.conftest import (
  V1_WEIGHTS,
  V2_WEIGHTS,
  in_process_server,
  install_version,
  raw_instance,
  server_args,
  wait_until,
)


def predict(url):
  response = requests.post(
    url + '/v1/models/taxi:predict',
    data=json.dumps({'instances': [raw_instance(12.5, 3.0, 'Cash')]}),
    timeout=10,
  )
  assert response.status_code == 200, response.text
  return response.json()['predictions'][0]


def states(url):
  return {
    s['version']: s
    for s in requests.get(url + '/v1/models/taxi', timeout=10).json()[
      'model_version_status'
    ]
  }


def test_new_version_is_served_without_restart_and_old_one_unloaded(
  tmp_path, model_v1_template, toy_model_module
):
  base = str(tmp_path / 'taxi')
  install_version(model_v1_template, base, 1, 1)
  p1 = toy_model_module.reference_probability(12.5, 3.0, 'Cash', **V1_WEIGHTS)
  p2 = toy_model_module.reference_probability(12.5, 3.0, 'Cash', **V2_WEIGHTS)
  assert abs(p1 - p2) > 0.05
  with in_process_server(
    server_args(
      base, str(tmp_path / 'logs'), '--file_system_poll_wait_seconds=0.2'
    )
  ) as (_, url):
    assert predict(url) == pytest.approx(p1, abs=1e-6)
    os.makedirs(os.path.join(base, 'not_a_version'))  # Ignored: not digits.
    install_version(model_v1_template, base, 2, 2)
    wait_until(
      lambda: states(url).get('2', {}).get('state') == 'AVAILABLE', timeout=30
    )
    assert predict(url) == pytest.approx(p2, abs=1e-6)
    assert states(url)['1']['state'] == 'END'
    assert (
      requests.post(
        url + '/v1/models/taxi/versions/1:predict',
        timeout=10,
        data=json.dumps({'instances': [raw_instance()]}),
      ).status_code
      == 404
    )


@pytest.mark.parametrize('damage', ['garbage_saved_model', 'half_written'])
def test_broken_version_is_reported_and_previous_keeps_serving(
  tmp_path, model_v1_template, toy_model_module, damage
):
  base = str(tmp_path / 'taxi')
  install_version(model_v1_template, base, 1, 1)
  p1 = toy_model_module.reference_probability(12.5, 3.0, 'Cash', **V1_WEIGHTS)
  with in_process_server(
    server_args(
      base, str(tmp_path / 'logs'), '--file_system_poll_wait_seconds=0.2'
    )
  ) as (_, url):
    broken = os.path.join(base, '3')
    if damage == 'garbage_saved_model':
      shutil.copytree(model_v1_template[1], broken)
      with open(os.path.join(broken, 'saved_model.pb'), 'wb') as f:
        f.write(b'\x00not a protobuf' * 10)
    else:  # A writer copied the variables but not yet saved_model.pb.
      os.makedirs(broken)
      shutil.copytree(
        os.path.join(model_v1_template[1], 'variables'),
        os.path.join(broken, 'variables'),
      )
    failed = wait_until(
      lambda: (
        states(url).get('3', {}).get('state') == 'END' and states(url)['3']
      ),
      timeout=30,
    )
    assert (
      failed['status']['error_code'] != 'OK'
      and failed['status']['error_message']
    )
    assert states(url)['1']['state'] == 'AVAILABLE'
    assert predict(url) == pytest.approx(p1, abs=1e-6)
    if damage == 'half_written':
      # The writer finishes: the version is retried because its directory changed.
      shutil.copy(
        os.path.join(model_v1_template[2], 'saved_model.pb'),
        os.path.join(broken, 'saved_model.pb'),
      )
      for name in os.listdir(os.path.join(model_v1_template[2], 'variables')):
        shutil.copy(
          os.path.join(model_v1_template[2], 'variables', name),
          os.path.join(broken, 'variables', name),
        )
      wait_until(
        lambda: states(url).get('3', {}).get('state') == 'AVAILABLE', timeout=30
      )
      assert predict(url) == pytest.approx(
        toy_model_module.reference_probability(12.5, 3.0, 'Cash', **V2_WEIGHTS),
        abs=1e-6,
      )
