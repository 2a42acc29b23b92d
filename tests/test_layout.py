"""The layout the README draws: which project package may import which.
A new import against the arrows fails here, not in a reviewer's head."""

import ast
import pathlib

import pytest

from tests.conftest import PROJECT_DIR

PACKAGES = (
  'components',
  'continuous',
  'core',
  'kfp_entrypoint',
  'kfp_local',
  'lineage',
  'models',
  'monitoring',
  'pipeline',
  'reports',
  'schema',
  'serving',
)
# What each package may import of the project (runners may import any).
ALLOWED = {
  'core': set(),
  'models': set(),
  'schema': set(),
  'serving': set(),
  'kfp_local': set(),
  # Runs inside the pipeline image, before any project code.
  'kfp_entrypoint': set(),
  'components': {'core', 'models'},
  # One cycle of continuous training runs both pipelines.
  'continuous': {
    'components',
    'core',
    'models',
    'monitoring',
    'pipeline',
    'schema',
  },
  # The lineage CLI and the reports read the server's request log too.
  'lineage': {'core', 'serving'},
  'reports': {'core', 'models', 'serving'},
  'pipeline': {'components', 'core', 'models', 'schema'},
  'monitoring': {'components', 'core', 'models', 'schema'},
}


def _project_imports(path: pathlib.Path):
  tree = ast.parse(path.read_text(), str(path))
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
      names = [node.module or '']
    else:
      continue
    for name in names:
      top = name.split('.')[0]
      if top in PACKAGES or top.endswith('_runner'):
        yield top


@pytest.mark.parametrize('package', PACKAGES)
def test_imports_follow_the_layout(package):
  wrong = set()
  for path in (PROJECT_DIR / package).rglob('*.py'):
    for imported in _project_imports(path):
      if imported != package and imported not in ALLOWED[package]:
        wrong.add(f'{path.relative_to(PROJECT_DIR)} imports {imported}')
  assert not wrong, sorted(wrong)


def test_every_package_says_what_it_is_for():
  for package in PACKAGES:
    docstring = ast.get_docstring(
      ast.parse((PROJECT_DIR / package / '__init__.py').read_text())
    )
    assert docstring and len(docstring) > 40, package
