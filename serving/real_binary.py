"""Hands the process over to the real `tensorflow_model_server` when asked to (--use_real_binary)."""

import argparse
import os
import shutil

from serving.config import TF_SERVING_FLAGS

BINARY_NAME = 'tensorflow_model_server'


def real_binary_argv(args: argparse.Namespace, argv: list[str]) -> list[str]:
  """The binary's command line: the TF Serving flags the user gave, plus the ones whose default differs here."""
  given = {
    token[2:].split('=', 1)[0] for token in argv if token.startswith('--')
  }
  command = [BINARY_NAME]
  # Our REST API is on by default; the binary's is off unless --rest_api_port is set. A model config file
  # replaces --model_name and --model_base_path.
  always = (
    ('rest_api_port',)
    if args.model_config_file
    else ('model_name', 'model_base_path', 'rest_api_port')
  )
  for name in TF_SERVING_FLAGS:
    if name in given or name in always:
      value = getattr(args, name)
      if isinstance(value, bool):
        value = 'true' if value else 'false'
      elif name == 'model_base_path':
        value = os.path.abspath(value)
      command.append(f'--{name}={value}')
  return command


def exec_real_binary(args: argparse.Namespace, argv: list[str]) -> None:
  """Replaces this process with the binary; returns only by raising when it is not on PATH."""
  path = shutil.which(BINARY_NAME)
  if path is None:
    raise FileNotFoundError(
      f'--use_real_binary: {BINARY_NAME} is not on PATH. Install TF Serving or run the official '
      f'tensorflow/serving container image (see docs/serving.md).'
    )
  os.execv(path, real_binary_argv(args, argv))
