"""A Beam portable runner whose SDK workers are separate processes booted by
scripts/beam_sdk_boot (the PROCESS-environment boot the Flink runner uses),
for running the project's Beam code as a distributed runner would."""

import argparse

import pytest

from core import runner_flags


@pytest.fixture(scope='session')
def portable_args():
  """Beam options for the portable runner; its worker pool lives for the
  test session."""
  args = argparse.Namespace(
    beam_runner='PortableRunner', beam_environment='process', beam_arg=[]
  )
  with runner_flags.beam_runner(args) as options:
    yield list(options)
