"""python -m lineage end to end: the three queries on the store a pipeline
run wrote, as trees and as JSON, and the refusals."""

import json
import subprocess
import sys

import pytest

from core import lineage, names
from lineage import __main__ as cli
from tests.conftest import PROJECT_DIR


@pytest.fixture
def run_cli(capsys):
  """(exit status, stdout, stderr) of the command in this process (the
  imports take most of a run's time); argparse's exits are caught too."""

  def run(*args):
    try:
      code = cli.main([str(a) for a in args])
    except SystemExit as e:
      code = e.code
    out, err = capsys.readouterr()
    return code, out, err

  return run


def test_python_m_lineage_answers(trained_pipeline):
  result = subprocess.run(
    [
      sys.executable,
      '-m',
      'lineage',
      'model',
      '--work-dir',
      str(trained_pipeline.work_dir),
    ],
    capture_output=True,
    text=True,
    timeout=600,
    cwd=PROJECT_DIR,
    check=False,
  )
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.startswith('model taxi version ')
  assert result.stderr == ''


def test_model_as_tree_and_json(trained_pipeline, store, run_cli):
  chain = lineage.model_lineage(store, names.TRAINING_PIPELINE)
  version = chain['model_version']
  code, tree, _ = run_cli(
    'model', version, '--work-dir', trained_pipeline.work_dir
  )
  assert code == 0
  assert tree.startswith(f'model taxi version {version}\n')
  for expected in (
    f'pushed {chain["push"]["time"]} to {chain["push"]["destination"]}',
    'evaluator: BLESSED',
    f'sha256 {chain["examples"]["files"][0]["sha256"]}',
    'schema (curated)',
    'anomalies: none',
    'splits: train',
    '"num_steps": 200',
  ):
    assert expected in tree, expected
  code, text, _ = run_cli(
    'model', '--json', '--metadata-uri', trained_pipeline.metadata_path
  )
  assert code == 0
  assert json.loads(text) == chain


def test_data(trained_pipeline, store, run_cli):
  version = lineage.model_lineage(store, names.TRAINING_PIPELINE)[
    'model_version'
  ]
  code, tree, _ = run_cli(
    'data',
    trained_pipeline.data_root / 'data.csv',
    '--work-dir',
    trained_pipeline.work_dir,
  )
  assert code == 0
  assert f'version {version}, pushed' in tree
  code, text, _ = run_cli(
    'data',
    trained_pipeline.data_root,
    '--json',
    '--work-dir',
    trained_pipeline.work_dir,
  )
  assert [m['model_version'] for m in json.loads(text)] == [version]
  code, _, error = run_cli(
    'data', trained_pipeline.work_dir, '--work-dir', trained_pipeline.work_dir
  )
  assert code == 1
  assert error == (
    f'not found: no pushed model was trained on data under '
    f'{trained_pipeline.work_dir}\n'
  )


def test_request_names_its_version_and_the_checks_of_it(
  monitoring_run, run_cli
):
  assert monitoring_run.returncode in (0, 1), monitoring_run.output[-3000:]
  request_id = monitoring_run.request_ids[7]
  code, text, _ = run_cli(
    'request',
    request_id,
    '--json',
    '--work-dir',
    monitoring_run.work_dir,
    '--request-log',
    monitoring_run.request_log,
  )
  assert code == 0
  found = json.loads(text)
  assert found['request_id'] == request_id
  assert found['model_version'] == monitoring_run.model_version
  assert found['instances'] == 1
  [run] = found['monitoring_runs']
  assert run['state'] == 'COMPLETE'
  with open(run['report']) as f:
    assert json.load(f)['serving_examples'] == len(monitoring_run.request_ids)
  code, tree, _ = run_cli(
    'request',
    request_id,
    '--work-dir',
    monitoring_run.work_dir,
    '--request-log',
    monitoring_run.request_log,
  )
  assert code == 0
  assert f'version {monitoring_run.model_version}' in tree
  assert f'execution {run["execution"]}' in tree


def test_bad_input_is_one_line(
  trained_pipeline, monitoring_run, tmp_path, run_cli
):
  cases = [
    (('model', '--work-dir', tmp_path), 2, 'error: no ML Metadata store at'),
    (
      ('model', '12345', '--work-dir', trained_pipeline.work_dir),
      1,
      'not found: Model version 12345 was not pushed',
    ),
    (
      (
        'request',
        'no-such-request',
        '--work-dir',
        monitoring_run.work_dir,
        '--request-log',
        monitoring_run.request_log,
      ),
      1,
      'not found: no request no-such-request in the request log',
    ),
    (
      ('request', 'x', '--work-dir', trained_pipeline.work_dir),
      2,
      'error: no request log (requests-*.jsonl) in',
    ),
    (
      ('model', '--metadata-uri', 'postgres://h/db'),
      2,
      'error: argument --metadata-uri',
    ),
  ]
  for args, status, message in cases:
    code, out, error = run_cli(*args)
    assert (code, out) == (status, ''), args
    assert message in error, (args, error)
    assert 'Traceback' not in error
    if 'argument' not in message:  # argparse prints its usage line too.
      assert error.count('\n') == 1, error
