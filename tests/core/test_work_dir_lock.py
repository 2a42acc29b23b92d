import pytest

from core.work_dir_lock import WorkDirBusyError, exclusive_run
from tests.conftest import E2E_ARGS, run_local_runner


def test_a_second_run_on_the_same_work_dir_is_refused(tmp_path):
  with exclusive_run(str(tmp_path)):
    with pytest.raises(WorkDirBusyError, match='another pipeline run'):
      with exclusive_run(str(tmp_path)):
        pass


def test_the_lock_is_released_after_the_run(tmp_path):
  with exclusive_run(str(tmp_path)):
    pass
  with exclusive_run(str(tmp_path)):
    pass


def test_local_runner_refuses_while_another_run_holds_the_work_dir(tmp_path):
  with exclusive_run(str(tmp_path / 'work')):
    run = run_local_runner(
      tmp_path, tmp_path / 'work', tmp_path / 'serving', *E2E_ARGS
    )
  assert run.returncode == 1
  assert 'another pipeline run (pid ' in run.output
  assert not (tmp_path / 'serving').exists()
