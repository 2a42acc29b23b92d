"""Pusher whose model versions appear whole or not at all.

TFX's Pusher copies files straight into `<base>/<version>/`, so TF Serving,
which polls that directory, can load a half-copied model. Here the copy goes
to a hidden staging directory (TF Serving ignores non-numeric names) and is
renamed into place in one step.
"""

import filecmp
import os
import shutil
import time
from typing import Any, Dict, List

from tfx import v1 as tfx
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils
from tfx.v1.dsl import Artifact

from core import model_versions

STAGING_PREFIX = '.staging-'


class PushError(RuntimeError):
  """A push that failed and left nothing behind; the message is one line:
  what failed, where, and how much room the model needs."""


def next_version(base_directory: str) -> int:
  """A Unix-time version, above any version already there."""
  existing = model_versions.versions(base_directory)
  return max([int(time.time())] + [v + 1 for v in existing])


def _files(directory: str) -> List[str]:
  return sorted(
    os.path.relpath(os.path.join(root, name), directory)
    for root, _, names in os.walk(directory)
    for name in names
  )


def same_model(first: str, second: str) -> bool:
  """Whether two model directories hold the same files, byte for byte."""
  files = _files(first)
  if files != _files(second):
    return False
  _, mismatch, errors = filecmp.cmpfiles(first, second, files, shallow=False)
  return not mismatch and not errors


def _size(directory: str) -> int:
  return sum(
    os.path.getsize(os.path.join(directory, name)) for name in _files(directory)
  )


def _megabytes(size: int) -> str:
  return f'{size / 1e6:.1f} MB'


def _copy(model_dir: str, staging: str) -> None:
  """Copies file by file and stops at the first error (shutil.copytree
  would go on and report a list of every file that failed)."""
  for root, dirs, files in os.walk(model_dir):
    target_root = os.path.join(staging, os.path.relpath(root, model_dir))
    os.makedirs(target_root, exist_ok=True)
    for name in dirs:
      os.makedirs(os.path.join(target_root, name), exist_ok=True)
    for name in files:
      shutil.copy2(os.path.join(root, name), os.path.join(target_root, name))


def publish(model_dir: str, base_directory: str) -> str:
  """Copies `model_dir` to `<base_directory>/<new version>` atomically.

  Returns the version directory. When the latest version already is this
  model (a rerun that re-blessed it), returns that version instead of
  serving a duplicate. Leftover staging directories of killed pushes are
  removed first. On failure (a full disk, no permission) the staging
  directory is removed at once and PushError says what failed.
  """
  os.makedirs(base_directory, exist_ok=True)
  for name in os.listdir(base_directory):
    if name.startswith(STAGING_PREFIX):
      shutil.rmtree(os.path.join(base_directory, name), ignore_errors=True)
  latest = model_versions.latest_version_dir(base_directory)
  if latest and same_model(model_dir, latest):
    return latest
  version = next_version(base_directory)
  staging = os.path.join(base_directory, f'{STAGING_PREFIX}{version}')
  target = os.path.join(base_directory, str(version))
  try:
    _copy(model_dir, staging)
    os.rename(staging, target)  # Atomic on one POSIX filesystem.
  except OSError as e:
    # Now, not at the next push: a partial copy would keep the disk full.
    shutil.rmtree(staging, ignore_errors=True)
    reason = os.strerror(e.errno).lower() if e.errno else str(e)
    raise PushError(
      f'push to {base_directory} failed: {reason} '
      f'(needs {_megabytes(_size(model_dir))})',
    ) from None
  return target


class Executor(pusher_executor.Executor):
  """Pushes a blessed model with `publish`; remote filesystems fall back to
  TFX's copy (their renames are not atomic anyway)."""

  def Do(
    self,
    input_dict: Dict[str, List[Artifact]],
    output_dict: Dict[str, List[Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    destination = tfx.proto.PushDestination()
    proto_utils.json_to_proto(
      exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
      destination,
    )
    base_directory = destination.filesystem.base_directory
    if '://' in base_directory:
      return super().Do(input_dict, output_dict, exec_properties)
    self._log_startup(input_dict, output_dict, exec_properties)
    model_push = artifact_utils.get_single_instance(
      output_dict[standard_component_specs.PUSHED_MODEL_KEY]
    )
    if not self.CheckBlessing(input_dict):
      self._MarkNotPushed(model_push)
      return
    model_path = self.GetModelPath(input_dict)
    serving_path = publish(model_path, base_directory)
    io_utils.copy_dir(model_path, model_push.uri)
    self._MarkPushed(
      model_push,
      pushed_destination=serving_path,
      pushed_version=os.path.basename(serving_path),
    )


EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
