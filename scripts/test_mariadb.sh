#!/usr/bin/env bash
# Starts or stops a throwaway MariaDB on loopback for the ML Metadata tests.
#   eval "$(scripts/test_mariadb.sh start)"   # exports TAXI_TEST_MYSQL_URI
#   scripts/test_mariadb.sh stop
# Installs Debian's mariadb-server when it is missing (needs root).
set -euo pipefail
DIR=${TAXI_TEST_MYSQL_DIR:-/tmp/taxi-test-mariadb}
PORT=${TAXI_TEST_MYSQL_PORT:-3307}

start() {
  if ! command -v mariadbd >/dev/null 2>&1; then
    echo "test_mariadb: installing mariadb-server" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >&2
  fi
  stop >/dev/null 2>&1 || true
  rm -rf "$DIR" && mkdir -p "$DIR"
  mariadb-install-db --user=root --datadir="$DIR/data" --auth-root-authentication-method=normal >"$DIR/install.log" 2>&1
  # Loopback only, a private socket, no grant checks: a disposable test server.
  mariadbd --user=root --datadir="$DIR/data" --bind-address=127.0.0.1 --port="$PORT" \
    --socket="$DIR/mysqld.sock" --pid-file="$DIR/mysqld.pid" --skip-grant-tables \
    >"$DIR/server.log" 2>&1 &
  for _ in $(seq 1 60); do
    if mariadb-admin --socket="$DIR/mysqld.sock" ping >/dev/null 2>&1; then
      echo "export TAXI_TEST_MYSQL_URI=mysql://root@127.0.0.1:$PORT/taxi_mlmd"
      return 0
    fi
    sleep 0.5
  done
  echo "test_mariadb: MariaDB did not start; see $DIR/server.log" >&2
  return 1
}

stop() {
  [ -f "$DIR/mysqld.pid" ] && kill "$(cat "$DIR/mysqld.pid")" 2>/dev/null || true
  for _ in $(seq 1 40); do [ -f "$DIR/mysqld.pid" ] || return 0; sleep 0.25; done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
