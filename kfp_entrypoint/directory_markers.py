"""Directory markers out of a task's GCS outputs.

tf.io.gfile's GCS file system writes a zero-byte object `dir/` for every
directory it creates. Kubeflow Pipelines' launcher downloads each input
artifact before the task's command runs (backend/src/v2/objectstore
DownloadBlob: every key under the prefix, listed without a delimiter, is
written to a local file), so a marker `model/` or `model/Format-Serving/`
becomes a file where the model's directory must go and the download fails
with "not a directory" (kubeflow/pipelines#13476). The objects hold no data;
deleting them once the producing task has finished leaves every file.
"""

from typing import Iterable, List

GCS_SCHEME = 'gs://'


def marker_names(artifact_path: str, objects: Iterable) -> List[str]:
  """Names of the zero-byte `.../` objects at or under `artifact_path`
  (a bucket-relative path) among `objects` (blobs with .name and .size)."""
  root = artifact_path.rstrip('/') + '/'
  return [
    blob.name
    for blob in objects
    if blob.name.startswith(root) and blob.name.endswith('/') and not blob.size
  ]


def remove_markers(uri: str, client) -> List[str]:
  """Deletes the directory markers of one gs:// artifact with `client` (a
  google.cloud.storage.Client); returns their names. Other URIs: nothing
  to do."""
  if not uri.startswith(GCS_SCHEME):
    return []
  bucket_name, _, path = uri[len(GCS_SCHEME) :].partition('/')
  bucket = client.bucket(bucket_name)
  names = marker_names(
    path, client.list_blobs(bucket_name, prefix=path.rstrip('/') + '/')
  )
  for name in names:
    bucket.blob(name).delete()
  return names
