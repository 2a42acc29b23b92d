"""scripts/flink_cluster.sh: a JobManager and two TaskManagers on loopback,
started and stopped idempotently."""

import subprocess
import urllib.error

import pytest

from tests.flink.conftest import SCRIPT, cluster, rest

pytestmark = pytest.mark.flink


def test_cluster_has_two_taskmanagers_and_stops(flink_cluster):
  overview = rest('/overview')
  assert overview['taskmanagers'] == 2, (overview, flink_cluster.stderr)
  assert overview['slots-total'] == 4
  assert overview['flink-version'].startswith('1.18')
  managers = rest('/taskmanagers')['taskmanagers']
  assert len({m['id'] for m in managers}) == 2
  # A second start keeps the running processes.
  again = cluster('start', '--no-job-server')
  assert again.stderr.count('already running') == 3, again.stderr
  assert rest('/overview')['taskmanagers'] == 2
  cluster('stop')
  with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
    rest('/overview')
  assert 'not running' in cluster('status', check=False).stdout
  cluster('stop')  # Stopping a stopped cluster is fine.


def test_usage_error_exits_2():
  result = subprocess.run(
    [str(SCRIPT), 'restart'],
    capture_output=True,
    text=True,
    check=False,
  )
  assert result.returncode == 2
  assert 'usage' in result.stderr
