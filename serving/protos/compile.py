"""Regenerates tf_serving_config_pb2.py from tf_serving_config.proto.

    python -m serving.protos.compile [OUT_DIR]   (default: the repository root, i.e. in place)

Calls grpcio-tools' bundled protoc directly: its `grpc_tools.protoc` wrapper imports pkg_resources, which the
locked setuptools no longer has. grpcio-tools 1.48 is pinned because its protoc writes code for protobuf 3.20.
"""

import os
import sys

import grpc_tools
from grpc_tools import _protoc_compiler

PROTO = 'serving/protos/tf_serving_config.proto'
LINT_OFF = '# ruff: noqa\n# fmt: off\n'
REPO_ROOT = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


def compile_proto(out_dir: str) -> str:
  """Writes the generated module under out_dir (same relative path); returns its path."""
  well_known = os.path.join(os.path.dirname(grpc_tools.__file__), '_proto')
  status = _protoc_compiler.run_main(
    [
      b'protoc',
      f'-I{REPO_ROOT}'.encode(),
      f'-I{well_known}'.encode(),
      f'--python_out={out_dir}'.encode(),
      os.path.join(REPO_ROOT, PROTO).encode(),
    ]
  )
  if status != 0:
    raise RuntimeError(f'protoc failed on {PROTO} (exit status {status})')
  generated = os.path.join(out_dir, PROTO.replace('.proto', '_pb2.py'))
  with open(generated, encoding='utf-8') as f:
    code = f.read()
  # protoc's style is not the project's; the generated code is left as protoc wrote it.
  with open(generated, 'w', encoding='utf-8') as f:
    f.write(LINT_OFF + code)
  return generated


if __name__ == '__main__':
  print(compile_proto(sys.argv[1] if len(sys.argv) > 1 else REPO_ROOT))
