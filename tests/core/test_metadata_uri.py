import argparse

import pytest

from core import metadata_uri


def test_a_path_is_sqlite():
  config = metadata_uri.connection_config('/work/metadata.sqlite')
  assert config.sqlite.filename_uri == '/work/metadata.sqlite'
  assert (
    metadata_uri.connection_config('sqlite:///tmp/m.db').sqlite.filename_uri
    == '/tmp/m.db'
  )


def test_mysql_uri(monkeypatch):
  monkeypatch.delenv(metadata_uri.PASSWORD_ENV, raising=False)
  config = metadata_uri.connection_config(
    'mysql://mlmd:s%40cret@db.local:3307/taxi'
  )
  assert (
    config.mysql.host,
    config.mysql.port,
    config.mysql.database,
    config.mysql.user,
    config.mysql.password,
  ) == ('db.local', 3307, 'taxi', 'mlmd', 's@cret')
  assert not config.mysql.skip_db_creation  # created when missing


def test_mysql_password_from_the_environment(monkeypatch):
  monkeypatch.setenv(metadata_uri.PASSWORD_ENV, 'pw')
  config = metadata_uri.connection_config('mysql://mlmd@127.0.0.1/taxi')
  assert config.mysql.password == 'pw' and config.mysql.port == 3306


@pytest.mark.parametrize(
  'uri, message',
  [
    ('postgres://u@h/db', 'expected a path'),
    ('mysql://h/db', 'needs a user'),
    ('mysql://u@h/', 'needs a user, a host and a database'),
  ],
)
def test_bad_uris_say_what_is_wrong(uri, message):
  with pytest.raises(ValueError, match=message):
    metadata_uri.connection_config(uri)


def test_describe_hides_the_password():
  assert metadata_uri.describe('mysql://u:pw@h:1/d') == 'mysql://u:***@h:1/d'


def test_checked_is_an_argparse_type():
  assert metadata_uri.checked('/tmp/m.sqlite') == '/tmp/m.sqlite'
  with pytest.raises(argparse.ArgumentTypeError, match='needs a user'):
    metadata_uri.checked('mysql://h/db')


def test_no_uri_means_the_orchestrator_brings_the_store():
  assert metadata_uri.optional_connection_config(None) is None
  config = metadata_uri.optional_connection_config('/tmp/m.sqlite')
  assert config.sqlite.filename_uri == '/tmp/m.sqlite'
