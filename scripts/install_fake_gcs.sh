#!/usr/bin/env bash
# Builds fake-gcs-server (a GCS JSON API server, github.com/fsouza) into
# .cache/bin for the tests of Kubeflow's GCS behaviour (tests/kfp_entrypoint,
# tests/kfp_local) with the Go toolchain, from the Go module proxy.
# Idempotent: does nothing when the pinned build is there. Prints its path.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=v1.56.1
BIN="$PWD/.cache/bin"
if [ -x "$BIN/fake-gcs-server" ] &&
  go version -m "$BIN/fake-gcs-server" 2>/dev/null | grep -q "fake-gcs-server[[:space:]]*$VERSION"; then
  echo "$BIN/fake-gcs-server"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install_fake_gcs: no Go toolchain on PATH (needs go >= 1.22)" >&2
  exit 1
fi
mkdir -p "$BIN"
GOBIN="$BIN" GOFLAGS=-mod=mod go install "github.com/fsouza/fake-gcs-server@$VERSION" >&2
echo "$BIN/fake-gcs-server"
