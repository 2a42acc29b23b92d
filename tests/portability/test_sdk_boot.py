"""scripts/beam_sdk_boot: the PROCESS-environment boot, run by a Beam worker
pool exactly as a Flink TaskManager runs it."""

import json
import os
import subprocess
import sys
from concurrent import futures

import apache_beam as beam
import grpc
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import (
  beam_provision_api_pb2,
  beam_provision_api_pb2_grpc,
)
from apache_beam.testing.util import assert_that, equal_to
from google.protobuf import struct_pb2

from core import runner_flags


def _worker_pid(_):
  return os.getpid()


def test_sdk_workers_are_other_processes(portable_args):
  driver = os.getpid()
  with beam.Pipeline(options=PipelineOptions(portable_args)) as pipeline:
    pids = (
      pipeline
      | beam.Create(range(20))
      | beam.Map(_worker_pid)
      | beam.Distinct()
      | beam.Map(lambda pid, driver: pid == driver, driver)
    )
    assert_that(pids, equal_to([False]))


def test_staged_extra_packages_are_installed_for_the_workers(
  portable_args, tmp_path
):
  # What TFX does with a module file: --extra_package=<wheel>.
  package = tmp_path / 'pkg'
  (package / 'staged_probe').mkdir(parents=True)
  (package / 'staged_probe' / '__init__.py').write_text('VALUE = 42\n')
  (package / 'setup.py').write_text(
    'from setuptools import setup\n'
    "setup(name='staged-probe', version='1.0', packages=['staged_probe'])\n"
  )
  subprocess.run(
    [
      sys.executable,
      '-m',
      'pip',
      'wheel',
      '--no-deps',
      '-q',
      '-w',
      'dist',
      '.',
    ],
    cwd=package,
    check=True,
  )
  (wheel,) = (package / 'dist').glob('*.whl')

  def probe(_):
    import staged_probe  # pylint: disable=import-outside-toplevel

    return staged_probe.VALUE

  options = PipelineOptions([*portable_args, f'--extra_package={wheel}'])
  with beam.Pipeline(options=options) as pipeline:
    assert_that(pipeline | beam.Create([0]) | beam.Map(probe), equal_to([42]))


def test_dry_run_environment_follows_the_container_contract(tmp_path):
  """The variables sdk_worker_main reads, from a provision service."""
  options = struct_pb2.Struct()
  options.update({'beam:option:job_name:v1': 'probe'})
  info = beam_provision_api_pb2.ProvisionInfo(
    pipeline_options=options, runner_capabilities=['beam:cap:a', 'beam:cap:b']
  )

  class Provision(beam_provision_api_pb2_grpc.ProvisionServiceServicer):
    def GetProvisionInfo(self, request, context):
      assert ('worker_id', 'w7') in context.invocation_metadata()
      return beam_provision_api_pb2.GetProvisionInfoResponse(info=info)

  server = grpc.server(futures.ThreadPoolExecutor(2))
  beam_provision_api_pb2_grpc.add_ProvisionServiceServicer_to_server(
    Provision(), server
  )
  port = server.add_insecure_port('127.0.0.1:0')
  server.start()
  try:
    result = subprocess.run(
      [
        runner_flags.BOOT_COMMAND,
        '--id=w7',
        f'--provision_endpoint=localhost:{port}',
        '--control_endpoint=localhost:1',
        '--logging_endpoint=localhost:2',
        f'--semi_persist_dir={tmp_path}',
        '--dry_run',
      ],
      capture_output=True,
      text=True,
      check=True,
      env={**os.environ, 'BEAM_SDK_PYTHON': sys.executable},
    )
  finally:
    server.stop(None)
  env = json.loads(result.stdout)
  assert env['WORKER_ID'] == 'w7'
  assert json.loads(env['PIPELINE_OPTIONS']) == {
    'beam:option:job_name:v1': 'probe'
  }
  assert env['CONTROL_API_SERVICE_DESCRIPTOR'].strip() == 'url: "localhost:1"'
  assert env['LOGGING_API_SERVICE_DESCRIPTOR'].strip() == 'url: "localhost:2"'
  assert env['SEMI_PERSISTENT_DIRECTORY'] == str(tmp_path)
  assert env['RUNNER_CAPABILITIES'] == 'beam:cap:a beam:cap:b'
