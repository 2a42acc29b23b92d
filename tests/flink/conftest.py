"""The local Flink cluster of scripts/flink_cluster.sh, for tests marked
`flink`. They skip only where Java is missing. The pipeline test also needs
Beam's Flink job server jar: where the registry cannot supply it, the test
says so and skips, unless TAXI_REQUIRE_FLINK=1 (CI with a registry that has
it), which turns that into a failure."""

import json
import os
import re
import shutil
import subprocess
import urllib.request

import pytest

from tests.conftest import PROJECT_DIR

SCRIPT = PROJECT_DIR / 'scripts' / 'flink_cluster.sh'
REST_PORT = int(os.environ.get('FLINK_REST_PORT', '8081'))
FLINK_MASTER = f'localhost:{REST_PORT}'


def rest(path: str):
  with urllib.request.urlopen(
    f'http://{FLINK_MASTER}{path}', timeout=10
  ) as response:
    return json.load(response)


def cluster(*command, check=True, timeout=900):
  return subprocess.run(
    [str(SCRIPT), *command],
    capture_output=True,
    text=True,
    timeout=timeout,
    check=check,
  )


@pytest.fixture(scope='session')
def java():
  if shutil.which('java') is None:
    pytest.skip('no java on PATH: the Flink tests need a JDK (11 or 17)')


@pytest.fixture
def flink_cluster(java):
  """JobManager and two TaskManagers (no job server); stopped afterwards."""
  del java
  started = cluster('start', '--no-job-server')
  try:
    yield started
  finally:
    cluster('stop')


@pytest.fixture(scope='session')
def flink_with_job_server(java):
  """The cluster with Beam's job server; stopped afterwards."""
  del java
  installed = cluster('install', check=False)
  if installed.returncode != 0:
    why = [
      line
      for line in re.sub(r'\x1b\[[0-9;]*m', '', installed.stderr).splitlines()
      if 'ould not' in line
    ]
    message = (
      "Beam's Flink job server jar could not be fetched: "
      + ' '.join(why or installed.stderr.splitlines()[-1:])
      + ' (the cluster itself is tested by test_flink_cluster.py)'
    )
    if os.environ.get('TAXI_REQUIRE_FLINK') == '1':
      pytest.fail(message)
    pytest.skip(message)
  started = cluster('start')
  try:
    yield started
  finally:
    cluster('stop')
