"""Fixtures: a real toy SavedModel (two versions) and real servers on loopback (in-process or subprocess)."""

import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import contextlib  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402

REPO_ROOT = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
# Version 2 differs from version 1 so a hot swap is visible in the predictions.
V1_WEIGHTS = dict(fare_weight=0.8, miles_weight=0.5, bias=-1.0)
V2_WEIGHTS = dict(fare_weight=1.5, miles_weight=0.9, bias=0.2)


def raw_instance(
  fare=12.5,
  trip_miles=3.0,
  payment_type='Credit Card',
  company='Flash Cab',
  **overrides,
):
  instance = {
    'fare': fare,
    'trip_miles': trip_miles,
    'trip_seconds': 600.0,
    'trip_start_hour': 10.0,
    'trip_start_day': 3.0,
    'trip_start_month': 5.0,
    'pickup_latitude': 41.9,
    'pickup_longitude': -87.6,
    'dropoff_latitude': 41.8,
    'dropoff_longitude': -87.6,
    'pickup_community_area': 8.0,
    'dropoff_community_area': 32.0,
    'payment_type': payment_type,
    'company': company,
  }
  instance.update(overrides)
  return instance


class SharedReader:
  """One buffered reader over a socket for several http.client.HTTPResponse objects in turn (pipelined or
  keep-alive responses): kept open across responses, so no read-ahead bytes are lost between them."""

  def __init__(self, sock: socket.socket):
    self._file = sock.makefile('rb')

  def makefile(self, *args, **kwargs):
    return self

  def close(self):
    pass  # HTTPResponse closes its file after each response.

  def __getattr__(self, name):
    return getattr(self._file, name)


def run_cli(*args, env=None) -> subprocess.CompletedProcess:
  """`python -m serving ARGS` as a user runs it, to its exit."""
  return subprocess.run(
    [sys.executable, '-m', 'serving', *args],
    cwd=REPO_ROOT,
    capture_output=True,
    text=True,
    timeout=60,
    env={**os.environ, **(env or {})},
  )


def assert_refused(args, message: str) -> None:
  """The server refuses ARGS as usage errors are refused: exit 2 and one
  line, `message`, with no traceback."""
  result = run_cli(*args)
  assert result.returncode == 2
  assert 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == message


def free_port() -> int:
  with socket.socket() as sock:
    sock.bind(('127.0.0.1', 0))
    return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.05):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    result = predicate()
    if result:
      return result
    time.sleep(interval)
  raise AssertionError(f'condition not met within {timeout} s')


@pytest.fixture(scope='session')
def toy_model_module():
  from tests.serving import toy_model

  return toy_model


@pytest.fixture(scope='session')
def model_v1_template(tmp_path_factory, toy_model_module):
  """Built once; tests copy it into their own base paths (copying is much faster than saving)."""
  base = tmp_path_factory.mktemp('templates')
  v1 = toy_model_module.build_toy_model(str(base / 'v1'), 1, **V1_WEIGHTS)
  v2 = toy_model_module.build_toy_model(str(base / 'v2'), 2, **V2_WEIGHTS)
  return {1: v1, 2: v2}


def install_version(
  templates, base_path, template_version: int, as_version: int
) -> str:
  """Pushes a version the way a pipeline should: copy to a temp name, then rename atomically."""
  os.makedirs(base_path, exist_ok=True)
  staging = os.path.join(base_path, f'.tmp-{as_version}')
  shutil.copytree(templates[template_version], staging)
  final = os.path.join(base_path, str(as_version))
  os.rename(staging, final)
  return final


@pytest.fixture(scope='session')
def model_base_path(tmp_path_factory, model_v1_template):
  base = str(tmp_path_factory.mktemp('serving_model') / 'taxi')
  install_version(model_v1_template, base, 1, 1)
  return base


def server_args(model_base_path, log_dir, *extra):
  return [
    '--model_name=taxi',
    f'--model_base_path={model_base_path}',
    '--rest_api_port=0',
    f'--request_log_dir={log_dir}',
    *extra,
  ]


@contextlib.contextmanager
def in_process_server(args):
  """A real ModelServer on a free loopback port in this process; yields (server, base_url)."""
  from serving.config import build_parser, config_from_args
  from serving.server import ModelServer

  server = ModelServer(config_from_args(build_parser().parse_args(args)))
  port = server.start()
  try:
    yield server, f'http://127.0.0.1:{port}'
  finally:
    server.stop()


@pytest.fixture(scope='session')
def monitoring_config(tmp_path_factory):
  path = tmp_path_factory.mktemp('config') / 'monitoring.config'
  path.write_text(
    'prometheus_config {\n  enable: true,\n  path: "/monitoring/prometheus/metrics"\n}\n'
  )
  return str(path)


@pytest.fixture(scope='session')
def contract_server(model_base_path, monitoring_config, tmp_path_factory):
  """The shared server for contract tests: no batching, metrics on, request log on, a version label."""
  log_dir = str(tmp_path_factory.mktemp('contract_logs'))
  args = server_args(
    model_base_path,
    log_dir,
    f'--monitoring_config_file={monitoring_config}',
    '--file_system_poll_wait_seconds=0',
    '--version_labels=stable=1',
    '--max_body_bytes=200000',
    '--max_header_bytes=8192',
    '--request_log_flush_seconds=0.1',
  )
  with in_process_server(args) as (server, url):
    yield {'server': server, 'url': url, 'log_dir': log_dir}


@contextlib.contextmanager
def subprocess_server(args, port=None, env=None, ready_statuses=(200,)):
  """`python -m serving` as a child process; yields (process, base_url). SIGTERMs it on exit if alive.
  Ready once GET /v1/models/taxi answers one of ready_statuses."""
  port = port or free_port()
  args = [a for a in args if not a.startswith('--rest_api_port')] + [
    f'--rest_api_port={port}'
  ]
  # A file, not a pipe: nobody reads the server's log while it runs, and a full pipe would block it.
  log_file = tempfile.TemporaryFile()
  process = subprocess.Popen(
    [sys.executable, '-m', 'serving', *args],
    cwd=REPO_ROOT,
    env={**os.environ, **(env or {})},
    stdout=log_file,
    stderr=subprocess.STDOUT,
  )
  url = f'http://127.0.0.1:{port}'

  def ready():
    if process.poll() is not None:
      log_file.seek(0)
      raise AssertionError(
        f'server exited early: {log_file.read().decode()[-3000:]}'
      )
    try:
      return (
        requests.get(f'{url}/v1/models/taxi', timeout=1).status_code
        in ready_statuses
      )
    except requests.ConnectionError:
      return False

  try:
    wait_until(ready, timeout=90, interval=0.2)
    yield process, url
  finally:
    if process.poll() is None:
      process.send_signal(signal.SIGTERM)
      try:
        process.wait(timeout=30)
      except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log_file.close()
