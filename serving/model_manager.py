"""Discovers, loads and swaps model versions: one ModelManager per model, a ModelRegistry for all of them.

Models come from --model_name/--model_base_path or from --model_config_file (TF Serving's ModelServerConfig, with
version policies and labels), re-read every --model_config_file_poll_wait_seconds. Directories named by digits are
versions, zero-padded or not (00000123 is version 123, as in TF Serving); others are ignored. The version policy
(latest N, all, specific) says which versions to serve. A new version is loaded (and warmed up) before an old one
is unloaded, so requests never see a gap; a version that fails to load is reported as END with its error in the
status API while the versions already loaded keep serving. A failed version is retried only once its directory
changes (e.g. a non-atomic writer finishing), not on every poll.
Client-supplied model names are only ever looked up among the configured names: they never reach the file system.
"""

import dataclasses
import logging
import os
import threading

from serving import warmup
from serving.config import ModelSpec
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


def list_versions(base_path: str) -> dict[int, str]:
  """Version number → directory name (TF Serving parses the name as an integer: 00000123 is 123)."""
  try:
    entries = sorted(os.listdir(base_path))
  except OSError:
    return {}
  versions = {}
  for entry in entries:
    if (
      entry.isdigit()
      and entry.isascii()
      and os.path.isdir(os.path.join(base_path, entry))
    ):
      versions.setdefault(int(entry), entry)
  return dict(sorted(versions.items()))


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
  """The versions of one model."""

  def __init__(self, spec: ModelSpec, on_version_event=None):
    self.spec = spec
    # on_version_event(model_name, event, version, path) lets metrics count loads without this module knowing.
    self._on_version_event = on_version_event or (lambda *args: None)
    self._servables: dict[int, Servable] = {}
    self._states: dict[int, VersionState] = {}
    self._failed: dict[int, tuple] = {}
    self._lock = threading.Lock()
    self._poll_lock = threading.Lock()

  @property
  def name(self) -> str:
    return self.spec.name

  # --- serving side ----------------------------------------------------------------------------------------
  @property
  def latest(self) -> Servable | None:
    servables = self._servables
    return servables[max(servables)] if servables else None

  def label_version(self, label: str) -> int:
    labels = dict(self.spec.version_labels)
    if label not in labels:
      raise invalid_argument(f'Unrecognized servable version label: {label}')
    return labels[label]

  def resolve(
    self, version: int | None = None, label: str | None = None
  ) -> Servable:
    """The servable a request addresses, or TF Serving's NOT_FOUND / INVALID_ARGUMENT error."""
    if label is not None:
      version = self.label_version(label)
    servable = self.latest if version is None else self._servables.get(version)
    if servable is None:
      spec = (
        f'Latest({self.name})'
        if version is None
        else f'Specific({self.name}, {version})'
      )
      raise not_found(f'Servable not found for request: {spec}')
    return servable

  def status(
    self, version: int | None = None, label: str | None = None
  ) -> list[dict]:
    if label is not None:
      version = self.label_version(label)
    with self._lock:
      states = sorted(
        self._states.values(), key=lambda s: s.version, reverse=True
      )
    if not states:
      raise not_found(f'Could not find any versions of model {self.name}')
    if version is not None:
      states = [s for s in states if s.version == version]
      if not states:
        raise not_found(
          f'Could not find version {version} of model {self.name}'
        )
    return [s.to_json() for s in states]

  # --- loading side ----------------------------------------------------------------------------------------
  def _set_state(self, state: VersionState) -> None:
    with self._lock:
      self._states[state.version] = state
      for old in sorted(self._states)[:-MAX_REPORTED_VERSIONS]:
        del self._states[old]

  def _event(self, event: str, version: int, path: str) -> None:
    self._on_version_event(self.name, event, version, path)

  def poll_once(self) -> None:
    """One look at the base path: load the versions the policy aspires to, then unload the others."""
    with self._poll_lock:
      spec = self.spec
      directories = list_versions(spec.base_path)
      aspired = spec.aspired_versions(list(directories))
      for version in aspired:
        if version not in self._servables:
          self._load(
            version, os.path.join(spec.base_path, directories[version])
          )
      # Availability first, as TF Serving: old versions go only once an aspired one serves (or none is left).
      if aspired and not any(v in self._servables for v in aspired):
        return
      for version in sorted(set(self._servables) - set(aspired)):
        self._unload(version)

  def _load(self, version: int, path: str) -> None:
    fingerprint = _fingerprint(path)
    if self._failed.get(version) == fingerprint:
      return
    LOG.info('Loading %s version %d from %s', self.name, version, path)
    self._set_state(VersionState(version, 'LOADING'))
    try:
      servable = Servable(self.name, version, path)
      servable.warm_up()
      # TF Serving's warm-up file (assets.extra/tf_serving_warmup_requests): a failed request fails the load.
      warmup.replay(servable)
    except Exception as exc:  # noqa: BLE001 - any load failure must leave the loaded versions serving.
      message = str(exc).strip().split('\n')[0] or type(exc).__name__
      LOG.error('Failed to load %s version %d: %s', self.name, version, message)
      self._failed[version] = fingerprint
      self._set_state(
        VersionState(version, 'END', _load_error_code(exc), message)
      )
      self._event('load_failed', version, path)
      return
    self._failed.pop(version, None)
    # One dict replacement: in-flight requests keep the servable they resolved until they finish.
    self._servables = {**self._servables, version: servable}
    self._set_state(VersionState(version, 'AVAILABLE'))
    self._event('loaded', version, path)
    LOG.info('Now serving %s version %d', self.name, version)

  def _unload(self, version: int) -> None:
    servable = self._servables[version]
    self._servables = {v: s for v, s in self._servables.items() if v != version}
    self._set_state(VersionState(version, 'END'))
    self._event('unloaded', version, servable.path)
    LOG.info('Unloaded %s version %d', self.name, version)

  def unload_all(self) -> None:
    with self._poll_lock:
      for version in sorted(self._servables):
        self._unload(version)


class ModelRegistry:
  """Every served model by name; polls their base paths and, with --model_config_file, the config file."""

  def __init__(
    self,
    specs: list[ModelSpec],
    poll_wait_seconds: float,
    on_version_event=None,
    read_config=None,
    config_poll_wait_seconds: float = 0.0,
  ):
    self.poll_wait_seconds = poll_wait_seconds
    self._on_version_event = on_version_event
    # read_config() -> list[ModelSpec]: re-reads --model_config_file (None: the models never change).
    self._read_config = read_config
    self._config_poll_wait_seconds = config_poll_wait_seconds
    self._managers: dict[str, ModelManager] = {}
    self._reconfigure(specs)
    self._stop = threading.Event()
    self._threads: list[threading.Thread] = []

  # --- serving side ----------------------------------------------------------------------------------------
  def has_model(self, name: str) -> bool:
    return name in self._managers

  @property
  def managers(self) -> list[ModelManager]:
    return list(self._managers.values())

  def latest_version(self, name: str) -> int:
    """The highest version of `name` serving now, 0 if none."""
    manager = self._managers.get(name)
    latest = manager.latest if manager else None
    return latest.version if latest else 0

  def resolve(
    self, model_name: str, version: int | None = None, label: str | None = None
  ) -> Servable:
    if model_name not in self._managers:
      if label is not None:
        raise invalid_argument(f'Unrecognized servable version label: {label}')
      spec = (
        f'Latest({model_name})'
        if version is None
        else f'Specific({model_name}, {version})'
      )
      raise not_found(f'Servable not found for request: {spec}')
    return self._managers[model_name].resolve(version, label)

  def status(
    self, model_name: str, version: int | None = None, label: str | None = None
  ) -> list[dict]:
    if model_name not in self._managers:
      if label is not None:
        raise invalid_argument(f'Unrecognized servable version label: {label}')
      raise not_found(f'Could not find any versions of model {model_name}')
    return self._managers[model_name].status(version, label)

  # --- loading side ----------------------------------------------------------------------------------------
  def _reconfigure(self, specs: list[ModelSpec]) -> None:
    managers = dict(self._managers)
    for spec in specs:
      if spec.name in managers:
        managers[spec.name].spec = spec
      else:
        managers[spec.name] = ModelManager(spec, self._on_version_event)
    removed = [
      m for name, m in managers.items() if name not in {s.name for s in specs}
    ]
    self._managers = {s.name: managers[s.name] for s in specs}
    for manager in removed:
      LOG.info('Model %s is no longer configured: unloading it', manager.name)
      manager.unload_all()

  def poll_once(self) -> None:
    for manager in self.managers:
      manager.poll_once()

  def reload_config(self) -> None:
    """Re-reads --model_config_file; a file that does not parse keeps the models as they are (as TF Serving)."""
    try:
      specs = self._read_config()
    except (OSError, ValueError) as exc:
      LOG.error('Failed to read ModelServerConfig file: %s', exc)
      return
    if [m.spec for m in self.managers] != specs:
      self._reconfigure(specs)
      self.poll_once()

  def start(self) -> None:
    """Loads what is there now, then polls in background threads (once only if a poll wait is <= 0)."""
    self.poll_once()
    for manager in self.managers:
      if not list_versions(manager.spec.base_path):
        LOG.warning(
          'No versions of servable %s found under base path %s',
          manager.name,
          manager.spec.base_path,
        )
    loops = [(self.poll_wait_seconds, self.poll_once, 'model-version-poller')]
    if self._read_config is not None:
      loops.append(
        (
          self._config_poll_wait_seconds,
          self.reload_config,
          'model-config-poller',
        )
      )
    for wait, action, name in loops:
      if wait > 0:
        thread = threading.Thread(
          target=self._loop, args=(wait, action), name=name, daemon=True
        )
        thread.start()
        self._threads.append(thread)

  def _loop(self, wait: float, action) -> None:
    while not self._stop.wait(wait):
      try:
        action()
      except Exception:  # noqa: BLE001 - the poller must survive e.g. a transient file-system error.
        LOG.exception('Polling failed')

  def stop(self) -> None:
    self._stop.set()
    for thread in self._threads:
      thread.join(timeout=30)
