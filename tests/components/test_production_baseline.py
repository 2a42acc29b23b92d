"""production_baseline's plain functions on real directories."""

from tfx.v1.types.standard_artifacts import Model

from components import production_baseline


def test_the_newest_numbered_version_is_production(tmp_path):
  for name in ('7', '0000012', '.staging-13', 'notes'):
    (tmp_path / name).mkdir()
  (tmp_path / '99').write_text('a file, not a version')
  assert production_baseline.newest_version(str(tmp_path)) == (
    '0000012',
    str(tmp_path / '0000012'),
  )


def test_an_empty_or_missing_destination_has_no_baseline(tmp_path):
  assert production_baseline.newest_version(str(tmp_path)) is None
  assert production_baseline.newest_version(str(tmp_path / 'none')) is None


def test_the_artifact_says_what_it_found():
  baseline = Model()
  baseline.set_int_custom_property(production_baseline.FOUND, 0)
  assert not production_baseline.is_found(baseline)
  assert 'no baseline yet' in production_baseline.describe(baseline)
  baseline.set_int_custom_property(production_baseline.FOUND, 1)
  baseline.set_string_custom_property(production_baseline.PUSHED_VERSION, '3')
  baseline.set_string_custom_property(
    production_baseline.PUSHED_DESTINATION, '/srv/models/taxi/3'
  )
  assert production_baseline.is_found(baseline)
  assert (
    production_baseline.describe(baseline) == 'version 3 (/srv/models/taxi/3)'
  )
