"""The lineage queries for people (model, data, request) on the session
run's real ML Metadata store."""

import hashlib
import json
import os

import pytest

from core import artifacts, lineage, names
from tests.conftest import E2E_ROWS


def test_model_lineage_reaches_the_input_files(trained_pipeline, store):
  chain = lineage.model_lineage(store, names.TRAINING_PIPELINE)
  [pushed] = [
    name
    for name in os.listdir(trained_pipeline.serving_model_dir)
    if name.isdecimal()
  ]
  assert chain['model_version'] == pushed
  assert chain['push']['destination'] == str(
    trained_pipeline.serving_model_dir / pushed
  )
  data_file = trained_pipeline.data_root / 'data.csv'
  assert chain['examples']['input_base'] == str(trained_pipeline.data_root)
  assert chain['examples']['files'] == [
    {
      'path': str(data_file),
      'bytes': data_file.stat().st_size,
      'sha256': hashlib.sha256(data_file.read_bytes()).hexdigest(),
    }
  ]
  assert sum(chain['splits'].values()) == E2E_ROWS
  assert set(chain['splits']) == {'train', 'eval', 'test'}
  assert chain['schema']['kind'] == 'curated'
  assert chain['schema']['file'].endswith('schema/schema.pbtxt')
  assert chain['inferred_schema'].startswith(
    str(trained_pipeline.work_dir / 'pipelines' / 'taxi' / 'schema_gen')
  )
  assert chain['anomalies']['by_split'] == {'train': [], 'eval': [], 'test': []}
  train_args = chain['trainer']['execution']['properties']['train_args']
  assert train_args['num_steps'] == 200
  assert (
    chain['trainer']['decision_threshold']
    == (
      artifacts.read_model_metadata(chain['trainer']['model'])[
        'decision_threshold'
      ]
    )
  )
  assert chain['evaluation']['blessed'] is True
  assert 0.5 < chain['evaluation']['metrics']['auc'] <= 1
  assert chain['evaluation']['baseline_model'] is None  # The first run.
  json.dumps(chain)  # All of it is JSON.


def test_models_trained_on_a_path(trained_pipeline, store):
  version = lineage.model_lineage(store, names.TRAINING_PIPELINE)[
    'model_version'
  ]
  for path in (
    trained_pipeline.data_root,
    trained_pipeline.data_root / 'data.csv',
    trained_pipeline.data_root.parent,
  ):
    found = lineage.models_trained_on(store, names.TRAINING_PIPELINE, str(path))
    assert [m['model_version'] for m in found] == [version], path
  assert (
    lineage.models_trained_on(
      store, names.TRAINING_PIPELINE, str(trained_pipeline.work_dir)
    )
    == []
  )
  # A sibling whose name merely starts with the directory's is not under it.
  assert (
    lineage.models_trained_on(
      store, names.TRAINING_PIPELINE, str(trained_pipeline.data_root)[:-1]
    )
    == []
  )


def test_unknown_version(store):
  with pytest.raises(lineage.LineageNotFound, match='was not pushed'):
    lineage.model_lineage(store, names.TRAINING_PIPELINE, '12345')
  with pytest.raises(lineage.LineageNotFound, match='pushed no model'):
    lineage.model_lineage(store, 'other')
