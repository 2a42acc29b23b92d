"""The unchanged rerun's key: each thing a run starts from, or leaves, moves
its own part, and only that part."""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import pytest

from pipeline import unchanged
from pipeline.config import PipelineConfig
from tests.conftest import PROJECT_DIR


@pytest.fixture
def layout(tmp_path):
  """A data root, schema, project tree, store and pipeline root on disk."""
  data = tmp_path / 'data'
  data.mkdir()
  (data / 'data.csv').write_text('trip_id,fare\nt-1,3.5\n')
  schema = tmp_path / 'schema'
  schema.mkdir()
  (schema / 'schema.pbtxt').write_text('feature { name: "fare" }\n')
  project = tmp_path / 'project'
  (project / 'core').mkdir(parents=True)
  (project / 'core' / '__init__.py').write_text('')
  (project / 'core' / 'names.py').write_text('A = 1\n')
  (project / 'tests').mkdir()
  (project / 'tests' / '__init__.py').write_text('')
  (project / 'tests' / 'test_a.py').write_text('')
  (project / 'local_runner.py').write_text('')
  work = tmp_path / 'work'
  (work / 'pipelines' / 'taxi' / 'trainer' / 'model' / '7').mkdir(parents=True)
  (work / 'metadata.sqlite').write_bytes(b'store')
  config = PipelineConfig(
    data_root=str(data),
    pipeline_root=str(work / 'pipelines' / 'taxi'),
    serving_model_dir=str(tmp_path / 'serving'),
    metadata_uri=str(work / 'metadata.sqlite'),
    schema_dir=str(schema),
    user_code_fingerprint='code',
  )
  return config, project


def _key(config, project):
  return {
    **unchanged.inputs_key(config, str(project)),
    **unchanged.state_key(config),
  }


def _bump_mtime(path):
  stat = os.stat(path)
  os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def test_the_same_state_gives_the_same_key(layout):
  config, project = layout
  assert _key(config, project) == _key(config, project)
  assert set(_key(config, project)) == {
    unchanged.CONFIG,
    unchanged.DATA,
    unchanged.CODE,
    unchanged.SCHEMA,
    unchanged.PACKAGES,
    unchanged.SERVED,
    unchanged.STORE,
    unchanged.OUTPUTS,
  }


def _changes(config, project, change):
  before = _key(config, project)
  config = change(config, project) or config
  record = unchanged.Record(before, 'summary', 'report', 'log', 'then')
  return unchanged.changed_parts(record, _key(config, project))


CHANGES = {
  'a new data file': (
    lambda c, p: open(os.path.join(c.data_root, 'more.csv'), 'w').close(),
    unchanged.DATA,
  ),
  'a data file touched': (
    lambda c, p: _bump_mtime(os.path.join(c.data_root, 'data.csv')),
    unchanged.DATA,
  ),
  'a flag': (
    lambda c, p: dataclasses.replace(c, train_steps=c.train_steps + 1),
    unchanged.CONFIG,
  ),
  'the served version': (
    lambda c, p: dataclasses.replace(c, served_version='1'),
    unchanged.CONFIG,
  ),
  'the code': (
    lambda c, p: (p / 'core' / 'names.py').write_text('A = 2\n') and None,
    unchanged.CODE,
  ),
  'a new runner module': (
    lambda c, p: (p / 'batch_runner.py').write_text('') and None,
    unchanged.CODE,
  ),
  'the schema': (
    lambda c, p: (
      pathlib.Path(c.schema_dir, 'schema.pbtxt').write_text('') and None
    ),
    unchanged.SCHEMA,
  ),
  'a pushed version': (
    lambda c, p: os.makedirs(os.path.join(c.serving_model_dir, '1')),
    unchanged.SERVED,
  ),
  'a write to the store': (
    lambda c, p: _bump_mtime(c.metadata_uri),
    unchanged.STORE,
  ),
  'an output removed': (
    lambda c, p: os.rmdir(os.path.join(c.pipeline_root, 'trainer/model/7')),
    unchanged.OUTPUTS,
  ),
}


@pytest.mark.parametrize('change', CHANGES)
def test_each_change_moves_its_own_part(layout, change):
  config, project = layout
  apply, part = CHANGES[change]
  assert _changes(config, project, apply) == [part]


def test_a_change_to_the_tests_is_not_a_change_to_the_pipeline(layout):
  config, project = layout

  def edit_a_test(c, p):
    (p / 'tests' / 'test_a.py').write_text('assert True\n')

  assert _changes(config, project, edit_a_test) == []


def test_without_a_record_every_part_changed(layout):
  config, project = layout
  key = _key(config, project)
  assert unchanged.changed_parts(None, key) == list(key)


def test_record_round_trip_and_forget(layout, tmp_path):
  config, project = layout
  path = unchanged.record_path(str(tmp_path / 'work'), 'taxi')
  record = unchanged.Record(_key(config, project), 'S', 'R', 'L', 'F')
  unchanged.write_record(path, record)
  assert unchanged.read_record(path) == record
  assert os.listdir(os.path.dirname(path)) == ['taxi.json']
  unchanged.forget(path)
  unchanged.forget(path)
  assert unchanged.read_record(path) is None


@pytest.mark.parametrize('text', ['', '{"key": ', '[1]', '{"key": {}}'])
def test_an_unreadable_record_is_no_record(tmp_path, text):
  path = tmp_path / 'taxi.json'
  path.write_text(text)
  assert unchanged.read_record(str(path)) is None


def test_only_cached_runs_on_sqlite_take_the_fast_path(layout):
  config, _ = layout
  assert unchanged.fast_path_possible(config)
  assert not unchanged.fast_path_possible(
    dataclasses.replace(config, enable_cache=False)
  )
  assert not unchanged.fast_path_possible(
    dataclasses.replace(config, metadata_uri='mysql://u@localhost:3306/mlmd')
  )


# The runner's wiring: with a record of the current state, local_runner
# prints it and never imports TFX; when the data moves it launches. Both
# steps run `python -c` from the project, so their sys.path (part of the
# key) is the same.
RECORD_STATE = """
import sys
import local_runner
from core import runner_flags
from pipeline import unchanged
args = local_runner.parse_args(sys.argv[1:])
config = local_runner.build_config(args)
key = {**unchanged.inputs_key(config, runner_flags.PROJECT_DIR),
       **unchanged.state_key(config)}
unchanged.write_record(
  unchanged.record_path(args.work_dir, config.pipeline_name),
  unchanged.Record(key, '\\nSummary\\n  recorded', 'r.html', 'run.log', 'T'))
"""
RUN_UNCHANGED = """
import sys
import local_runner
code = local_runner.main(sys.argv[1:])
print('tfx imported:', any(m.startswith('tfx') for m in sys.modules))
sys.exit(code)
"""


def _python(script, *argv):
  return subprocess.run(
    [sys.executable, '-c', script, *argv],
    cwd=PROJECT_DIR,
    capture_output=True,
    text=True,
    check=False,
    timeout=120,
  )


def _runner_argv(tmp_path, csv_text):
  """local_runner's flags for a data root holding one CSV of `csv_text`."""
  data = tmp_path / 'data'
  data.mkdir()
  (data / 'data.csv').write_text(csv_text)
  return [
    '--data-root',
    str(data),
    '--work-dir',
    str(tmp_path / 'work'),
    '--serving-model-dir',
    str(tmp_path / 'serving'),
  ]


def test_local_runner_reuses_a_current_record_without_importing_tfx(
  tmp_path,
):
  argv = _runner_argv(tmp_path, 'trip_id,fare\nt-1,3.5\n')
  (tmp_path / 'work').mkdir()
  (tmp_path / 'work' / 'metadata.sqlite').write_bytes(b'')
  recorded = _python(RECORD_STATE, *argv)
  assert recorded.returncode == 0, recorded.stderr
  reused = _python(RUN_UNCHANGED, *argv)
  assert reused.returncode == 0, reused.stdout + reused.stderr
  assert 'nothing was launched' in reused.stdout
  assert 'Summary\n  recorded\n  report: r.html' in reused.stdout
  assert 'tfx imported: False' in reused.stdout
  record = json.loads(
    (tmp_path / 'work' / unchanged.RECORD_DIR / 'taxi.json').read_text()
  )
  assert record['summary'] == '\nSummary\n  recorded'


def test_local_runner_names_what_changed_and_drops_the_record(tmp_path):
  argv = _runner_argv(tmp_path, 'not,a,taxi,file\n')
  assert _python(RECORD_STATE, *argv).returncode == 0
  _bump_mtime(tmp_path / 'data' / 'data.csv')
  launched = _python(RUN_UNCHANGED, *argv)
  # The launch fails on the bad CSV; what matters is that it happened.
  assert 'changed since the run that finished T: data files' in (
    launched.stdout
  )
  assert 'tfx imported: True' in launched.stdout
  assert launched.returncode == 1
  assert not (tmp_path / 'work' / unchanged.RECORD_DIR / 'taxi.json').exists()
