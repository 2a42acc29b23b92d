"""Directory markers against a real GCS API (fake-gcs-server): Kubeflow's
download of an input artifact (as kfp_local emulates it) fails on them, and
succeeds with every file once kfp_entrypoint has removed them."""

import pytest

from kfp_entrypoint import directory_markers
from kfp_local import launcher

MODEL_FILES = {
  'Format-Serving/saved_model.pb': b'graph',
  'Format-Serving/fingerprint.pb': b'fingerprint',
  'Format-Serving/variables/variables.index': b'index',
  'Format-Serving/variables/variables.data-00000-of-00001': b'weights',
}


def _write_like_gfile(fake_gcs, path):
  """The Trainer's model as tf.io.gfile writes it to GCS: a zero-byte
  `dir/` object for every directory it creates, then the files."""
  bucket = fake_gcs.client.bucket(fake_gcs.bucket)
  for marker in ('', 'Format-Serving/', 'Format-Serving/variables/'):
    bucket.blob(f'{path}/{marker}').upload_from_string(b'')
  for name, data in MODEL_FILES.items():
    bucket.blob(f'{path}/{name}').upload_from_string(data)
  # A sibling artifact of the same task, listed under the same prefix.
  bucket.blob(f'{path}_run/events.out').upload_from_string(b'events')
  return f'gs://{fake_gcs.bucket}/{path}'


def test_a_directory_marker_breaks_kubeflows_download(fake_gcs, tmp_path):
  uri = _write_like_gfile(fake_gcs, 'root/run-1/trainer/model')
  with pytest.raises(launcher.DownloadError, match='not a directory'):
    launcher.download_artifact(fake_gcs.client, uri, str(tmp_path / 'model'))
  # The marker of the artifact itself became a file where its directory goes.
  assert (tmp_path / 'model').is_file()


def test_without_markers_the_download_has_every_file(fake_gcs, tmp_path):
  uri = _write_like_gfile(fake_gcs, 'root/run-2/trainer/model')

  removed = directory_markers.remove_markers(uri, fake_gcs.client)

  assert sorted(removed) == [
    'root/run-2/trainer/model/',
    'root/run-2/trainer/model/Format-Serving/',
    'root/run-2/trainer/model/Format-Serving/variables/',
  ]
  assert directory_markers.remove_markers(uri, fake_gcs.client) == []
  launcher.download_artifact(fake_gcs.client, uri, str(tmp_path / 'model'))
  for name, data in MODEL_FILES.items():
    assert (tmp_path / 'model' / name).read_bytes() == data
  # Kubeflow 2.0-2.4 lists without a delimiter: the sibling comes along.
  assert (tmp_path / 'model_run' / 'events.out').read_bytes() == b'events'


def test_local_and_s3_uris_are_left_alone():
  assert directory_markers.remove_markers('/tmp/model', client=None) == []
  assert directory_markers.remove_markers('s3://b/model', client=None) == []
