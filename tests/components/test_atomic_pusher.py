import errno
import os
import shutil
import subprocess

import pytest

from components import atomic_pusher


def _model(tmp_path, content='v'):
  model = tmp_path / 'model'
  (model / 'variables').mkdir(parents=True)
  (model / 'saved_model.pb').write_text(content)
  (model / 'variables' / 'variables.index').write_text(content)
  return model


def test_publish_creates_a_complete_numeric_version(tmp_path):
  base = tmp_path / 'serving'
  target = atomic_pusher.publish(str(_model(tmp_path)), str(base))
  assert os.path.basename(target).isdigit()
  assert sorted(os.listdir(base)) == [os.path.basename(target)]
  assert (
    base / os.path.basename(target) / 'variables' / 'variables.index'
  ).read_text() == 'v'


def test_versions_increase_even_within_one_second(tmp_path):
  base = tmp_path / 'serving'
  first = int(
    os.path.basename(
      atomic_pusher.publish(str(_model(tmp_path, 'a')), str(base))
    )
  )
  second = int(
    os.path.basename(
      atomic_pusher.publish(str(_model(tmp_path / 'b', 'b')), str(base))
    )
  )
  assert second > first


def test_pushing_the_latest_model_again_adds_no_version(tmp_path):
  base = tmp_path / 'serving'
  model = _model(tmp_path)
  first = atomic_pusher.publish(str(model), str(base))
  assert atomic_pusher.publish(str(model), str(base)) == first
  assert len(os.listdir(base)) == 1


def test_leftovers_of_a_killed_push_are_removed_and_never_numeric(tmp_path):
  base = tmp_path / 'serving'
  leftover = base / f'{atomic_pusher.STAGING_PREFIX}123'
  leftover.mkdir(parents=True)
  (leftover / 'saved_model.pb').write_text('half')
  atomic_pusher.publish(str(_model(tmp_path)), str(base))
  assert not leftover.exists()
  assert all(name.isdigit() for name in os.listdir(base))


def _two_megabyte_model(tmp_path):
  model = _model(tmp_path)
  (model / 'variables' / 'variables.data-00000-of-00001').write_bytes(
    b'\0' * 2_000_000
  )
  return model


def test_full_disk_push_removes_its_staging_and_says_why(tmp_path, monkeypatch):
  """ENOSPC injected on the second file: the first is already staged."""
  base = tmp_path / 'serving'
  model = _two_megabyte_model(tmp_path)
  copies = []
  real_copy = atomic_pusher.shutil.copy2

  def copy_until_full(src, dst):
    if copies:
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), dst)
    copies.append(dst)
    return real_copy(src, dst)

  monkeypatch.setattr(atomic_pusher.shutil, 'copy2', copy_until_full)
  with pytest.raises(atomic_pusher.PushError) as failure:
    atomic_pusher.publish(str(model), str(base))
  assert str(failure.value) == (
    f'push to {base} failed: no space left on device (needs 2.0 MB)'
  )
  assert copies and not os.path.exists(copies[0])
  assert os.listdir(base) == []


@pytest.fixture
def one_megabyte_tmpfs(tmp_path):
  mount_point = tmp_path / 'tmpfs'
  mount_point.mkdir()
  if os.geteuid() != 0 or not shutil.which('mount'):
    pytest.skip('mounting a tmpfs needs root')
  mounted = subprocess.run(
    ['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', str(mount_point)],
    capture_output=True,
    check=False,
  )
  if mounted.returncode != 0:
    pytest.skip(f'cannot mount a tmpfs: {mounted.stderr.decode().strip()}')
  yield mount_point
  subprocess.run(['umount', str(mount_point)], check=True)


def test_push_to_a_full_tmpfs_leaves_it_empty(tmp_path, one_megabyte_tmpfs):
  base = one_megabyte_tmpfs / 'taxi'
  with pytest.raises(atomic_pusher.PushError) as failure:
    atomic_pusher.publish(str(_two_megabyte_model(tmp_path)), str(base))
  assert str(failure.value) == (
    f'push to {base} failed: no space left on device (needs 2.0 MB)'
  )
  assert os.listdir(base) == []
  assert shutil.disk_usage(one_megabyte_tmpfs).used < 100_000
