#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv:
# Python 3.10, pip, uv, the locked dependencies and this project (editable).
# Idempotent: it does nothing when requirements.lock and setup.py are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
UV_VERSION=0.13.9
STAMP="$VENV/.bootstrap-stamp"
wanted=$(cat requirements.lock setup.py scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

is_python310() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; }

find_python() {
  local candidate
  if [ -n "${PYTHON:-}" ]; then
    is_python310 "$PYTHON" && { echo "$PYTHON"; return; }
    echo "bootstrap: PYTHON=$PYTHON is not a working Python 3.10" >&2; return 1
  fi
  if command -v pyenv >/dev/null 2>&1; then
    for candidate in "$(pyenv root)"/versions/3.10.*/bin/python; do
      is_python310 "$candidate" && { echo "$candidate"; return; }
    done
  fi
  for candidate in python3.10 python3 python; do
    command -v "$candidate" >/dev/null 2>&1 && is_python310 "$candidate" && {
      command -v "$candidate"; return; }
  done
  if command -v uv >/dev/null 2>&1; then
    uv python install 3.10 >&2 && candidate=$(uv python find 3.10) &&
      is_python310 "$candidate" && { echo "$candidate"; return; }
  fi
  cat >&2 <<'MSG'
bootstrap: no Python 3.10 found. This project needs exactly Python 3.10
(TFX 1.16). Tried: $PYTHON, pyenv's versions/3.10.*, python3.10/python3/python
on PATH, and `uv python install 3.10`. Install one, e.g. `pyenv install 3.10`,
or point PYTHON at it: PYTHON=/path/to/python3.10 make test
MSG
  return 1
}

python=$(find_python)
echo "bootstrap: creating $VENV with $python ($("$python" --version 2>&1))"
rm -rf "$VENV"
"$python" -m venv "$VENV"   # a venv with pip inside: TFX installs module wheels with it
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
echo "bootstrap: installing requirements.lock (about 3 GB) ..."
# --compile-bytecode: Python never has to compile TFX's and TensorFlow's
# sources itself. Where PYTHONDONTWRITEBYTECODE is set (as on CI machines) it
# otherwise recompiles them in every process: importing tfx.v1 took 40 s
# instead of 12 s, in each pipeline run, server and test subprocess.
"$VENV/bin/uv" pip install --quiet --compile-bytecode --python "$VENV/bin/python" -r requirements.lock
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e .
echo "$wanted" > "$STAMP"
echo "bootstrap: ready ($VENV)"
