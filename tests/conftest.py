"""Shared fixtures: the bundled taxi data, samples of it, and one pipeline run
on a sample (session-scoped) that tests of later stages build on."""

import csv
import dataclasses
import os
import pathlib
import random
import shutil
import subprocess
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # pylint: disable=wrong-import-position
import pytest  # pylint: disable=wrong-import-position
from ml_metadata import metadata_store

from core import lineage, metadata_uri
from models import features
from serving import request_log

PROJECT_DIR = pathlib.Path(__file__).resolve().parent.parent
TAXI_CSV = PROJECT_DIR / 'data' / 'taxi' / 'data.csv'


def read_rows(path=TAXI_CSV):
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def write_rows(path: pathlib.Path, rows, fieldnames=None):
  path.parent.mkdir(parents=True, exist_ok=True)
  fieldnames = fieldnames or list(rows[0])
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=fieldnames, lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
  return path


def sample_rows(n: int, seed: int = 7):
  return random.Random(seed).sample(read_rows(), n)


@pytest.fixture(scope='session')
def taxi_rows():
  return read_rows()


@dataclasses.dataclass(frozen=True)
class PipelineRun:
  """A finished local_runner.py run on a small sample of the taxi data."""

  data_root: pathlib.Path
  work_dir: pathlib.Path
  serving_model_dir: pathlib.Path
  output: str
  returncode: int

  @property
  def metadata_path(self) -> pathlib.Path:
    return self.work_dir / 'metadata.sqlite'


# Few rows and steps: the point is the wiring, not the model's quality, so
# the quality gate is lowered to what such a model reaches (and such a model
# may lose a little to the baselines).
E2E_ROWS = 2000
E2E_ARGS = (
  '--train-steps',
  '200',
  '--min-auc',
  '0.8',
  '--min-f1',
  '0.5',
  '--baseline-tolerance',
  '0.05',
)


def run_local_runner(
  data_root, work_dir, serving_model_dir, *extra_args, timeout=900
) -> PipelineRun:
  command = [
    sys.executable,
    str(PROJECT_DIR / 'local_runner.py'),
    '--data-root',
    str(data_root),
    '--work-dir',
    str(work_dir),
    '--serving-model-dir',
    str(serving_model_dir),
    *extra_args,
  ]
  result = subprocess.run(
    command,
    capture_output=True,
    text=True,
    timeout=timeout,
    cwd=PROJECT_DIR,
    check=False,
  )
  return PipelineRun(
    pathlib.Path(data_root),
    pathlib.Path(work_dir),
    pathlib.Path(serving_model_dir),
    result.stdout + result.stderr,
    result.returncode,
  )


# Fixtures that run the pipeline (the KFP one runs the compiled package).
PIPELINE_FIXTURES = {'trained_pipeline', 'launched_run', 'monitoring_run'}


def pytest_collection_modifyitems(items):
  """Every test that needs a pipeline run of a fixture is an e2e test."""
  for item in items:
    if PIPELINE_FIXTURES & set(getattr(item, 'fixturenames', ())):
      item.add_marker(pytest.mark.e2e)


@pytest.fixture
def metadata_copy(trained_pipeline, tmp_path) -> pathlib.Path:
  """A work dir holding a copy of the session run's ML Metadata store (its
  artifact URIs still point at the session run's outputs, read-only), for
  tests that record more runs: the shared run stays as it was."""
  work_dir = tmp_path / 'work'
  work_dir.mkdir()
  shutil.copy(trained_pipeline.metadata_path, work_dir / 'metadata.sqlite')
  return work_dir


@pytest.fixture(scope='session')
def store(trained_pipeline):
  """The session pipeline run's ML Metadata store."""
  return metadata_store.MetadataStore(
    metadata_uri.connection_config(str(trained_pipeline.metadata_path))
  )


@pytest.fixture(scope='session')
def baseline(store):
  """The lineage of the session run's pushed model."""
  return lineage.training_lineage(store, 'taxi')


@pytest.fixture(scope='session')
def trained_pipeline(tmp_path_factory) -> PipelineRun:
  """The pipeline run once per test session on E2E_ROWS sampled rows; it
  ends with a pushed model under serving_model_dir."""
  root = tmp_path_factory.mktemp('e2e')
  write_rows(root / 'data' / 'data.csv', sample_rows(E2E_ROWS))
  run = run_local_runner(
    root / 'data', root / 'work', root / 'serving', *E2E_ARGS
  )
  assert run.returncode == 0, run.output[-5000:]
  return run


@dataclasses.dataclass(frozen=True)
class MonitoringRun:
  """A monitoring_runner.py check of a request log, recorded in a copy of
  the session run's store (the session run's own store stays as it was)."""

  work_dir: pathlib.Path
  request_log: pathlib.Path
  request_ids: tuple
  model_version: str
  output: str
  returncode: int


def write_request_log(
  log_dir: pathlib.Path, rows, model_version: int, with_ids: bool = False
):
  """Logs each row as one predict request with the server's own writer
  (with_ids: as a serving_with_id request, the trip id beside the features)."""
  logger = request_log.RequestLogger(str(log_dir), flush_seconds=0.05)
  request_ids = []
  for index, row in enumerate(rows):
    instance = {
      name: row[name]
      if name in features.STRING_FEATURES
      else (float(row[name]) if row[name] else None)
      for name in features.SERVING_FEATURES
    }
    if with_ids:
      instance[features.TRIP_ID] = row[features.TRIP_ID]
    request_ids.append(f'request-{index:05d}')
    logger.log(
      request_log.LoggedRequest(
        timestamp=1_777_000_000 + index * 0.01,
        model_name='taxi',
        model_version=model_version,
        signature_name='serving_with_id' if with_ids else 'serving_default',
        method='predict',
        request_id=request_ids[-1],
        instances=[instance],
        example_inputs=None,
        outputs={'probability': np.array([[0.1 + 0.8 * (index % 10) / 10]])},
        latency_us=700 + index % 300,
      )
    )
  logger.close()
  return tuple(request_ids)


@pytest.fixture(scope='session')
def monitoring_run(trained_pipeline, baseline, tmp_path_factory):
  """One check of 1,200 held-out trips, logged as the server logs them."""
  root = tmp_path_factory.mktemp('monitoring')
  work_dir = root / 'work'
  work_dir.mkdir()
  shutil.copy(trained_pipeline.metadata_path, work_dir / 'metadata.sqlite')
  seen = {row['trip_id'] for row in sample_rows(E2E_ROWS)}
  held_out = [row for row in read_rows() if row['trip_id'] not in seen]
  log_dir = root / 'request_logs'
  request_ids = write_request_log(
    log_dir, held_out[:1200], int(baseline.model_version)
  )
  result = subprocess.run(
    [
      sys.executable,
      str(PROJECT_DIR / 'monitoring_runner.py'),
      '--work-dir',
      str(work_dir),
      '--serving-data',
      str(log_dir),
    ],
    capture_output=True,
    text=True,
    timeout=900,
    cwd=PROJECT_DIR,
    check=False,
  )
  return MonitoringRun(
    work_dir,
    log_dir,
    request_ids,
    baseline.model_version,
    result.stdout + result.stderr,
    result.returncode,
  )


FAKE_GCS_SERVER = PROJECT_DIR / '.cache' / 'bin' / 'fake-gcs-server'


@dataclasses.dataclass(frozen=True)
class FakeGcs:
  """A running fake-gcs-server: a google.cloud.storage client of it and its
  one bucket."""

  client: object
  bucket: str


@pytest.fixture(scope='session')
def fake_gcs(tmp_path_factory):
  """fake-gcs-server (scripts/install_fake_gcs.sh builds it; .ci/run does)
  on a free loopback port, with one empty bucket."""
  import socket  # pylint: disable=import-outside-toplevel
  import time  # pylint: disable=import-outside-toplevel

  from google.auth.credentials import AnonymousCredentials  # pylint: disable=import-outside-toplevel
  from google.cloud import storage  # pylint: disable=import-outside-toplevel

  if not FAKE_GCS_SERVER.exists():
    pytest.skip('fake-gcs-server missing: run scripts/install_fake_gcs.sh')
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  log = open(tmp_path_factory.mktemp('fake-gcs') / 'server.log', 'w')
  process = subprocess.Popen(
    [
      str(FAKE_GCS_SERVER),
      '-scheme=http',
      '-host=127.0.0.1',
      f'-port={port}',
      '-backend=memory',
      f'-public-host=127.0.0.1:{port}',
    ],
    stdout=log,
    stderr=subprocess.STDOUT,
  )
  client = storage.Client(
    project='test',
    credentials=AnonymousCredentials(),
    client_options={'api_endpoint': f'http://127.0.0.1:{port}'},
  )
  deadline = time.monotonic() + 30
  while True:
    try:
      client.create_bucket('artifacts')
      break
    except Exception:  # pylint: disable=broad-except
      if time.monotonic() > deadline or process.poll() is not None:
        raise
      time.sleep(0.2)
  yield FakeGcs(client=client, bucket='artifacts')
  process.terminate()
  process.wait(10)
  log.close()
