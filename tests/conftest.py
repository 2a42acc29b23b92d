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

import pytest  # pylint: disable=wrong-import-position
from ml_metadata import metadata_store

from core import lineage, metadata_uri

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
PIPELINE_FIXTURES = {'trained_pipeline', 'launched_run'}


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
