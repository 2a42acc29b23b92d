"""The lineage of a pushed model back to its training data (ML Metadata)."""

import os

import pytest

from core import lineage, model_versions


def test_latest_push_leads_to_its_training_data(trained_pipeline, baseline):
  versions = model_versions.versions(str(trained_pipeline.serving_model_dir))
  assert baseline.model_version == str(versions[-1])
  root = str(trained_pipeline.work_dir / 'pipelines' / 'taxi')
  assert baseline.pushed_model_uri.startswith(f'{root}/pusher/')
  assert baseline.model_uri.startswith(f'{root}/trainer/model/')
  assert baseline.examples_uri.startswith(f'{root}/example_gen/examples/')
  assert baseline.statistics_uri.startswith(
    f'{root}/statistics_gen/statistics/'
  )
  assert baseline.schema_uri.startswith(f'{root}/schema_importer/schema/')
  assert os.path.isdir(os.path.join(baseline.statistics_uri, 'Split-train'))


def test_version_picked_by_number(store, baseline):
  picked = lineage.training_lineage(store, 'taxi', baseline.model_version)
  assert picked == baseline
  assert (
    lineage.training_lineage(
      store,
      'taxi',
      destination_dir=os.path.dirname(
        lineage.pushed_models(store, 'taxi')[-1][1]
        .custom_properties['pushed_destination']
        .string_value
      ),
    )
    == baseline
  )


def test_unknown_version_or_pipeline(store, baseline):
  with pytest.raises(lineage.LineageNotFound, match='was not pushed'):
    lineage.training_lineage(store, 'taxi', '12345')
  with pytest.raises(lineage.LineageNotFound, match='pushed no model'):
    lineage.training_lineage(store, 'other')
  with pytest.raises(lineage.LineageNotFound, match='pushed no model'):
    lineage.training_lineage(store, 'taxi', destination_dir='/nowhere')
