import os

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
