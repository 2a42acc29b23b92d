"""The test models of TF Serving's REST tests, generated as its scripts do (half_plus_two.py), and servers for them.

saved_model_half_plus_three has no generator upstream: its 8 KB SavedModel is copied from tensorflow/serving
2.16.1 (commit 0d726954f36a2b6c6bfb60a4caec311f2b3e3101, Apache License 2.0) into testdata/, with the JSON and
text files the upstream tests read.
"""

import os
import shutil

import pytest
import requests

from tests.serving.conftest import in_process_server
from tests.serving.tf_serving_suite import half_plus_two

TESTDATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'testdata')
VERSION = '00000123'


@pytest.fixture(scope='session')
def testdata_dir(tmp_path_factory):
  """The upstream testdata layout: every model under <name>/<zero-padded version>/."""
  root = tmp_path_factory.mktemp('tf_serving_testdata')
  assets = str(root / 'original_assets')
  half_plus_two.write_tf1(
    str(root / 'saved_model_half_plus_two_cpu' / VERSION), assets
  )
  for version in (VERSION, '00000124'):
    half_plus_two.write_tf1(
      str(root / 'saved_model_half_plus_two_2_versions' / version),
      assets,
      classify_x2_to_y3=True,
    )
  half_plus_two.write_tf2(
    str(root / 'saved_model_half_plus_two_tf2_cpu' / VERSION)
  )
  shutil.copytree(
    os.path.join(TESTDATA, 'saved_model_half_plus_three'),
    root / 'saved_model_half_plus_three',
  )
  return root


def rest(url: str, path: str, body=None):
  """(status, JSON body) of a REST call: POST with a body, GET without."""
  if body is None:
    response = requests.get(url + path, timeout=30)
  else:
    response = requests.post(url + path, json=body, timeout=30)
  return response.status_code, response.json()


@pytest.fixture(scope='session')
def default_server(testdata_dir, tmp_path_factory):
  """tensorflow_model_server_test.py's RunServer('default', saved_model_half_plus_two_cpu), with monitoring."""
  args = [
    '--model_name=default',
    f'--model_base_path={testdata_dir / "saved_model_half_plus_two_cpu"}',
    '--rest_api_port=0',
    f'--monitoring_config_file={os.path.join(TESTDATA, "monitoring_config.txt")}',
    '--file_system_poll_wait_seconds=0',
    f'--request_log_dir={tmp_path_factory.mktemp("suite_logs")}',
  ]
  with in_process_server(args) as (_, url):
    yield url


def write_model_config(path, models) -> str:
  """A ModelServerConfig text proto; models: (name, base_path, extra fields text)."""
  entries = ''.join(
    f'  config {{\n    name: "{name}"\n    base_path: "{base_path}"\n'
    f'    model_platform: "tensorflow"\n{extra}  }}\n'
    for name, base_path, extra in models
  )
  path.write_text(f'model_config_list {{\n{entries}}}\n')
  return str(path)
