"""Discovers, loads and swaps model versions under --model_base_path (TF Serving's "latest" version policy).

Only directories named by digits are versions. The highest one is served. A new version is loaded (and warmed up)
before it replaces the old one, so requests never see a gap; a version that fails to load is reported as END with
its error in the status API while the previous version keeps serving. A failed version is retried only once its
directory changes (e.g. a non-atomic writer finishing), not on every poll.
Client-supplied model names are only ever compared with the configured name: they never reach the file system.
"""

import dataclasses
import logging
import os
import threading

from serving.errors import (
  ServingError,
  from_tf_exception,
  invalid_argument,
  not_found,
)
from serving.servable import Servable

LOG = logging.getLogger(__name__)
MAX_REPORTED_VERSIONS = 10


@dataclasses.dataclass(frozen=True)
class VersionState:
  version: int
  state: str  # TF Serving's ModelVersionStatus.State name: START, LOADING, AVAILABLE, UNLOADING, END.
  error_code: str = 'OK'
  error_message: str = ''

  def to_json(self) -> dict:
    return {
      'version': str(self.version),
      'state': self.state,
      'status': {
        'error_code': self.error_code,
        'error_message': self.error_message,
      },
    }


def list_versions(base_path: str) -> list[int]:
  try:
    entries = os.listdir(base_path)
  except OSError:
    return []
  return sorted(
    int(entry)
    for entry in entries
    if entry.isdigit()
    and entry.isascii()
    and os.path.isdir(os.path.join(base_path, entry))
  )


def _fingerprint(path: str) -> tuple:
  """Changes whenever the version directory's content changes, so a fixed failed version is retried."""
  parts = []
  for relative in (
    '',
    'saved_model.pb',
    'variables',
    os.path.join('variables', 'variables.index'),
  ):
    try:
      stat = os.stat(os.path.join(path, relative))
      parts.append((stat.st_mtime_ns, stat.st_size))
    except OSError:
      parts.append(None)
  return tuple(parts)


def _load_error_code(exc: Exception) -> str:
  if isinstance(exc, ServingError):
    return exc.code
  if isinstance(exc, FileNotFoundError):
    return 'NOT_FOUND'
  code = from_tf_exception(exc).code
  return 'UNKNOWN' if code == 'INTERNAL' else code


class ModelManager:
  def __init__(
    self,
    name: str,
    base_path: str,
    poll_wait_seconds: float,
    version_labels: dict | None = None,
    on_version_event=None,
  ):
    self.name = name
    self.base_path = base_path
    self.poll_wait_seconds = poll_wait_seconds
    self.version_labels = dict(version_labels or {})
    # on_version_event(event, version) lets metrics count loads without this module knowing about them.
    self._on_version_event = on_version_event or (lambda event, version: None)
    self._serving: Servable | None = None
    self._states: dict[int, VersionState] = {}
    self._failed: dict[int, tuple] = {}
    self._lock = threading.Lock()
    self._stop = threading.Event()
    self._thread: threading.Thread | None = None

  # --- serving side ----------------------------------------------------------------------------------------
  @property
  def serving(self) -> Servable | None:
    return self._serving

  def resolve(
    self, model_name: str, version: int | None = None, label: str | None = None
  ) -> Servable:
    """The servable a request addresses, or TF Serving's NOT_FOUND / INVALID_ARGUMENT error."""
    if label is not None:
      if model_name == self.name and label in self.version_labels:
        version = self.version_labels[label]
      else:
        raise invalid_argument(f'Unrecognized servable version label: {label}')
    servable = self._serving
    if (
      model_name != self.name
      or servable is None
      or (version is not None and version != servable.version)
    ):
      spec = (
        f'Latest({model_name})'
        if version is None
        else f'Specific({model_name}, {version})'
      )
      raise not_found(f'Servable not found for request: {spec}')
    return servable

  def status(
    self, model_name: str, version: int | None = None, label: str | None = None
  ) -> list[dict]:
    if label is not None:
      if model_name == self.name and label in self.version_labels:
        version = self.version_labels[label]
      else:
        raise invalid_argument(f'Unrecognized servable version label: {label}')
    with self._lock:
      states = sorted(
        self._states.values(), key=lambda s: s.version, reverse=True
      )
    if model_name != self.name or not states:
      raise not_found(f'Could not find any versions of model {model_name}')
    if version is not None:
      states = [s for s in states if s.version == version]
      if not states:
        raise not_found(
          f'Could not find version {version} of model {model_name}'
        )
    return [s.to_json() for s in states]

  # --- loading side ----------------------------------------------------------------------------------------
  def _set_state(self, state: VersionState) -> None:
    with self._lock:
      self._states[state.version] = state
      for old in sorted(self._states)[:-MAX_REPORTED_VERSIONS]:
        del self._states[old]

  def poll_once(self) -> None:
    """One look at the base path: load the highest version if it is not the one served."""
    versions = list_versions(self.base_path)
    current = self._serving
    if not versions:
      if current is not None:
        LOG.warning(
          'No versions of %s under %s any more: unloading version %d',
          self.name,
          self.base_path,
          current.version,
        )
        self._serving = None
        self._set_state(VersionState(current.version, 'END'))
        self._on_version_event('unloaded', current.version)
      return
    latest = versions[-1]
    if current is not None and current.version == latest:
      return
    path = os.path.join(self.base_path, str(latest))
    fingerprint = _fingerprint(path)
    if self._failed.get(latest) == fingerprint:
      return
    LOG.info('Loading %s version %d from %s', self.name, latest, path)
    self._set_state(VersionState(latest, 'LOADING'))
    try:
      servable = Servable(self.name, latest, path)
      servable.warm_up()
    except Exception as exc:  # noqa: BLE001 - any load failure must leave the current version serving.
      message = str(exc).strip().split('\n')[0] or type(exc).__name__
      LOG.error('Failed to load %s version %d: %s', self.name, latest, message)
      self._failed[latest] = fingerprint
      self._set_state(
        VersionState(latest, 'END', _load_error_code(exc), message)
      )
      self._on_version_event('load_failed', latest)
      return
    self._failed.pop(latest, None)
    # The swap is one reference assignment: in-flight requests keep the old servable until they finish.
    self._serving = servable
    self._set_state(VersionState(latest, 'AVAILABLE'))
    self._on_version_event('loaded', latest)
    if current is not None:
      self._set_state(VersionState(current.version, 'END'))
      self._on_version_event('unloaded', current.version)
      LOG.info(
        'Now serving %s version %d (unloaded version %d)',
        self.name,
        latest,
        current.version,
      )
    else:
      LOG.info('Now serving %s version %d', self.name, latest)

  def start(self) -> None:
    """Loads what is there now, then polls in a background thread (once only if the poll wait is <= 0)."""
    self.poll_once()
    if not list_versions(self.base_path):
      LOG.warning(
        'No versions of servable %s found under base path %s',
        self.name,
        self.base_path,
      )
    if self.poll_wait_seconds > 0:
      self._thread = threading.Thread(
        target=self._poll_loop, name='model-version-poller', daemon=True
      )
      self._thread.start()

  def _poll_loop(self) -> None:
    while not self._stop.wait(self.poll_wait_seconds):
      try:
        self.poll_once()
      except Exception:  # noqa: BLE001 - the poller must survive e.g. a transient file-system error.
        LOG.exception('Polling %s failed', self.base_path)

  def stop(self) -> None:
    self._stop.set()
    if self._thread is not None:
      self._thread.join(timeout=30)
