from core import model_versions


def test_only_decimal_directories_are_versions(tmp_path):
  for name in ('3', '00000123', '12', '.staging-99', 'notes', '²'):
    (tmp_path / name).mkdir()
  (tmp_path / '77').write_text('a file, not a version')
  assert model_versions.versions(str(tmp_path)) == [3, 12, 123]
  assert model_versions.latest_version_dir(str(tmp_path)) == str(
    tmp_path / '00000123'
  )


def test_missing_or_empty_base_has_no_versions(tmp_path):
  assert model_versions.versions(str(tmp_path / 'missing')) == []
  assert model_versions.latest_version_dir(str(tmp_path)) is None
