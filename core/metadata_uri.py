"""Where ML Metadata lives, as one string a flag or a config can carry.

- a path (or sqlite:///path): an SQLite file, for one machine;
- mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE: a MySQL or MariaDB server
  shared by a team (the database is created when missing). The password
  may also come from the MLMD_MYSQL_PASSWORD environment variable, so it
  need not appear on a command line.
"""

import argparse
import os
import urllib.parse
from typing import Optional

from ml_metadata.proto import metadata_store_pb2

PASSWORD_ENV = 'MLMD_MYSQL_PASSWORD'


def connection_config(uri: str) -> metadata_store_pb2.ConnectionConfig:
  """The ConnectionConfig for `uri`; ValueError names what is wrong."""
  config = metadata_store_pb2.ConnectionConfig()
  parsed = urllib.parse.urlparse(uri)
  if parsed.scheme in ('', 'sqlite'):
    path = parsed.path if parsed.scheme else uri
    if not path:
      raise ValueError(f'metadata URI {uri!r} names no SQLite file')
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = (
      metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return config
  if parsed.scheme != 'mysql':
    raise ValueError(
      f'metadata URI {uri!r}: expected a path, sqlite:///PATH '
      'or mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE'
    )
  database = parsed.path.lstrip('/')
  if not (parsed.hostname and parsed.username and database):
    raise ValueError(
      f'metadata URI {uri!r}: a MySQL URI needs a user, a '
      'host and a database: mysql://USER@HOST:PORT/DATABASE'
    )
  config.mysql.host = parsed.hostname
  config.mysql.port = parsed.port or 3306
  config.mysql.database = database
  config.mysql.user = urllib.parse.unquote(parsed.username)
  password = (
    urllib.parse.unquote(parsed.password)
    if parsed.password
    else os.environ.get(PASSWORD_ENV, '')
  )
  config.mysql.password = password
  return config


def optional_connection_config(
  uri: Optional[str],
) -> Optional[metadata_store_pb2.ConnectionConfig]:
  """connection_config(uri), or None where the orchestrator brings its own
  store (Kubeflow Pipelines, Vertex AI)."""
  return connection_config(uri) if uri else None


def checked(uri: str) -> str:
  """`uri` if it is well formed: an argparse `type` for --metadata-uri."""
  try:
    connection_config(uri)
  except ValueError as e:
    raise argparse.ArgumentTypeError(str(e)) from None
  return uri


def describe(uri: str) -> str:
  """The URI without its password, for messages and logs."""
  parsed = urllib.parse.urlparse(uri)
  if parsed.password:
    netloc = parsed.netloc.replace(f':{parsed.password}@', ':***@')
    return parsed._replace(netloc=netloc).geturl()
  return uri
