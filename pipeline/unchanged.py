"""Decides, without importing TFX, whether a rerun would reuse every cached
execution of the last successful run: the unchanged rerun's fast path.

TFX's own cache decision needs TFX, and importing it takes ~10 s before the
first component is looked at. An unchanged rerun only needs to know that
nothing a component's cache key is built from has moved since the last run
that finished. The record of that run (<work dir>/last_run/<pipeline>.json)
keeps the fingerprint of everything that run started from, and the state of
the store and the outputs it left:

- the configuration (flags, data root, Beam options, the served version the
  production baseline keys on, the user code's fingerprint), whole;
- every file under the data root by path, size and mtime, as ExampleGen's
  own input fingerprint does;
- the sources of the project's packages and runner modules, and the schema
  files (stricter than TFX, whose keys name a custom executor's class but
  not its code);
- the interpreter and every installed distribution with its version;
- the model versions under the push destination;
- after the run: the SQLite store's size and mtime (any write to the store,
  by any pipeline, moves them), and the output directories under the
  pipeline root (<component>/<output key>/<execution id>).

Any part that differs, or any doubt (no record, --no-cache, a MySQL store),
launches TFX, which then makes its own cache decision; the parts that
differ are named on the console so a person sees why components run.
"""

import dataclasses
import hashlib
import json
import os
import sys
import time
from typing import Dict, List, Optional, Sequence

from core import metadata_uri as metadata_uri_lib
from core import model_versions
from pipeline.config import PipelineConfig, tree_files

RECORD_DIR = 'last_run'
# The key's parts, in the words the console uses for them.
CONFIG = 'flags and configuration'
DATA = 'data files'
CODE = 'project code'
SCHEMA = 'schema files'
PACKAGES = 'Python and installed packages'
SERVED = 'model versions in the push destination'
STORE = 'ML Metadata store'
OUTPUTS = 'output directories'
# The directories under the project that hold no code the pipeline runs.
NOT_PIPELINE_CODE = frozenset({'tests', 'benchmarks', 'docs', 'scripts'})
OUTPUT_DEPTH = 3  # <component>/<output key>/<execution id>


def record_path(work_dir: str, pipeline_name: str) -> str:
  return os.path.join(work_dir, RECORD_DIR, f'{pipeline_name}.json')


def _digest(entries) -> str:
  digest = hashlib.sha256()
  for entry in entries:
    digest.update(json.dumps(entry).encode() + b'\0')
  return digest.hexdigest()


def _stat_entries(root: str):
  for path in tree_files(root):
    stat = os.stat(path)
    yield os.path.relpath(path, root), stat.st_size, stat.st_mtime_ns


def _content_entries(root: str, paths):
  for path in paths:
    with open(path, 'rb') as f:
      yield os.path.relpath(path, root), hashlib.sha256(f.read()).hexdigest()


def code_files(project_dir: str) -> List[str]:
  """The runner modules and every package's .py files under the project."""
  found = []
  for name in sorted(os.listdir(project_dir)):
    path = os.path.join(project_dir, name)
    if name.endswith('.py') and os.path.isfile(path):
      found.append(path)
    elif (
      name not in NOT_PIPELINE_CODE
      and not name.startswith('.')
      and os.path.isfile(os.path.join(path, '__init__.py'))
    ):
      found.extend(tree_files(path, keep=lambda f: f.endswith('.py')))
  return found


def _distributions() -> List[str]:
  """Every installed distribution's name-version (its .dist-info directory)."""
  found = set()
  for entry in sys.path:
    if os.path.isdir(entry):
      found.update(
        name
        for name in os.listdir(entry)
        if name.endswith(('.dist-info', '.egg-info'))
      )
  return sorted(found)


def sqlite_path(metadata_uri: Optional[str]) -> Optional[str]:
  """The SQLite file of `metadata_uri`; None for a MySQL store."""
  if not metadata_uri:
    return None
  config = metadata_uri_lib.connection_config(metadata_uri)
  return config.sqlite.filename_uri if config.HasField('sqlite') else None


def inputs_key(config: PipelineConfig, project_dir: str) -> Dict[str, str]:
  """Part name -> digest of what a run of `config` starts from."""
  settings = dataclasses.asdict(config)
  settings.pop('enable_cache')  # Only cached runs get here.
  return {
    CONFIG: _digest(sorted(settings.items())),
    DATA: _digest(_stat_entries(config.data_root)),
    CODE: _digest(_content_entries(project_dir, code_files(project_dir))),
    SCHEMA: _digest(
      _content_entries(config.schema_dir, tree_files(config.schema_dir))
    ),
    PACKAGES: _digest([sys.version, sys.executable, *_distributions()]),
    SERVED: _digest(model_versions.versions(config.serving_model_dir)),
  }


def state_key(config: PipelineConfig) -> Dict[str, str]:
  """Part name -> digest of what a finished run leaves: the store's file
  and the output directories."""
  store = sqlite_path(config.metadata_uri)
  stat = os.stat(store) if store and os.path.exists(store) else None
  outputs = []
  root = config.pipeline_root
  for directory, dirs, _ in os.walk(root):
    depth = os.path.relpath(directory, root).count(os.sep) + 1
    if directory != root and depth == OUTPUT_DEPTH:
      outputs.append(os.path.relpath(directory, root))
      dirs[:] = []
    dirs.sort()
  return {
    STORE: _digest([store, stat.st_size, stat.st_mtime_ns] if stat else []),
    OUTPUTS: _digest(outputs),
  }


def fast_path_possible(config: PipelineConfig) -> bool:
  """Only a cached run on a local SQLite store and local data."""
  return (
    config.enable_cache
    and sqlite_path(config.metadata_uri) is not None
    and os.path.isdir(config.data_root)
  )


@dataclasses.dataclass(frozen=True)
class Record:
  """What the last successful run started from and left, and what it said."""

  key: Dict[str, str]
  summary: str
  report: str
  log: str
  finished: str


def read_record(path: str) -> Optional[Record]:
  """The record at `path`; None when it is missing or unreadable."""
  try:
    with open(path) as f:
      return Record(**json.load(f))
  except (OSError, ValueError, TypeError):
    return None


def write_record(path: str, record: Record) -> None:
  """Writes the record whole or not at all."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  staging = f'{path}.{os.getpid()}.tmp'
  with open(staging, 'w') as f:
    json.dump(dataclasses.asdict(record), f, indent=1)
  os.replace(staging, path)


def forget(path: str) -> None:
  """Drops the record before a launch: a run that fails halfway must not
  leave the previous run's record looking current."""
  try:
    os.remove(path)
  except FileNotFoundError:
    pass


def changed_parts(
  record: Optional[Record], key: Dict[str, str]
) -> Sequence[str]:
  """The parts of `key` that differ from the record's; every part when
  there is no record."""
  if record is None:
    return list(key)
  return [
    part for part, digest in key.items() if record.key.get(part) != digest
  ]


def finished_now() -> str:
  return time.strftime('%Y-%m-%d %H:%M:%S')
