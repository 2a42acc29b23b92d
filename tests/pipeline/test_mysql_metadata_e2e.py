"""The same end-to-end run with ML Metadata in MariaDB/MySQL instead of
SQLite: lineage queries (the runners' and python -m lineage's) give the same
answers on both stores.

Needs a server: `eval "$(scripts/test_mariadb.sh start)"` exports
TAXI_TEST_MYSQL_URI (.ci/run does this).
"""

import os

import pytest
from ml_metadata import metadata_store

from core import lineage, metadata_uri, names
from core.lineage import training_lineage
from lineage import __main__ as lineage_cli
from tests.conftest import E2E_ARGS, run_local_runner

MYSQL_URI = os.environ.get('TAXI_TEST_MYSQL_URI')
pytestmark = [
  pytest.mark.e2e,  # Every test here runs the pipeline.
  pytest.mark.skipif(
    not MYSQL_URI,
    reason='no MySQL/MariaDB server: run '
    'eval "$(scripts/test_mariadb.sh start)" to set TAXI_TEST_MYSQL_URI',
  ),
]


def _model_lineage(uri, work_dir, data_root):
  """The parts of `python -m lineage model` that must agree across stores
  (times, ids and versions differ; paths relative to the work dir)."""
  store = metadata_store.MetadataStore(metadata_uri.connection_config(uri))
  chain = lineage.model_lineage(store, names.TRAINING_PIPELINE)
  trained_on = lineage.models_trained_on(
    store, names.TRAINING_PIPELINE, str(data_root)
  )
  return {
    'trained_on_data_root': [m['model_version'] for m in trained_on]
    == [chain['model_version']],
    'files': [(f['bytes'], f['sha256']) for f in chain['examples']['files']],
    'splits': chain['splits'],
    'schema': chain['schema']['kind'],
    'anomalies': chain['anomalies']['by_split'],
    'blessed': chain['evaluation']['blessed'],
    'train_args': chain['trainer']['execution']['properties']['train_args'],
    'paths': [
      os.path.relpath(path, work_dir)
      for path in (
        chain['trainer']['model'],
        chain['transform']['graph'],
        chain['statistics']['uri'],
        chain['examples']['uri'],
        chain['inferred_schema'],
      )
    ],
  }


def _lineage(uri, work_dir):
  """The pushed model's training lineage, as paths under the work dir."""
  store = metadata_store.MetadataStore(metadata_uri.connection_config(uri))
  baseline = training_lineage(store, names.TRAINING_PIPELINE)
  return {
    name: os.path.relpath(getattr(baseline, name), work_dir)
    for name in ('model_uri', 'examples_uri', 'statistics_uri', 'schema_uri')
  }


def test_pipeline_on_mariadb_records_the_same_lineage(
  trained_pipeline, tmp_path, capsys
):
  # A database of its own, so the store starts empty like the SQLite one.
  uri = f'{MYSQL_URI}_{os.getpid()}'
  run = run_local_runner(
    trained_pipeline.data_root,
    tmp_path / 'work',
    tmp_path / 'serving',
    '--metadata-uri',
    uri,
    *E2E_ARGS,
  )
  assert run.returncode == 0, run.output[-3000:]
  assert 'model: BLESSED' in run.output
  assert _lineage(uri, tmp_path / 'work') == _lineage(
    str(trained_pipeline.metadata_path), trained_pipeline.work_dir
  )
  assert _model_lineage(
    uri, tmp_path / 'work', trained_pipeline.data_root
  ) == _model_lineage(
    str(trained_pipeline.metadata_path),
    trained_pipeline.work_dir,
    trained_pipeline.data_root,
  )
  assert lineage_cli.main(['model', '--metadata-uri', uri]) == 0
  assert 'evaluator: BLESSED' in capsys.readouterr().out
