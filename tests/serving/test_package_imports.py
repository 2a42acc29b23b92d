"""The serving package stands alone: importing all of it loads no other package of this project."""

import pkgutil
import subprocess
import sys

import serving
from tests.serving.conftest import REPO_ROOT

PROJECT_PACKAGES = ('models', 'pipeline', 'components', 'monitoring', 'tests')


def test_serving_imports_no_other_project_package():
  modules = [
    f'serving.{info.name}' for info in pkgutil.iter_modules(serving.__path__)
  ]
  code = (
    'import importlib, sys\n'
    f'for name in {modules!r}: importlib.import_module(name)\n'
    'print(" ".join(sorted({m.split(".")[0] for m in sys.modules})))\n'
  )
  loaded = subprocess.run(
    [sys.executable, '-c', code],
    cwd=REPO_ROOT,
    capture_output=True,
    text=True,
    check=True,
  ).stdout.split()
  assert 'serving' in loaded
  assert not set(loaded) & set(PROJECT_PACKAGES)
