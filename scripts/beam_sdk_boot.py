"""Boots a Beam Python SDK worker for a portable runner's PROCESS environment.

The runner (Flink's TaskManager through Beam's job server, or Beam's own
worker pool) starts the environment's command with the SDK-harness container
contract's flags:

    beam_sdk_boot --id=ID --provision_endpoint=HOST:PORT
        --control_endpoint=... --logging_endpoint=... --artifact_endpoint=...
        [--semi_persist_dir=DIR]

Beam's own boot program for this is a Go binary shipped only inside the SDK
container images (this project runs without Docker), so this is the same
protocol in Python: it asks the provision service for the pipeline options,
fetches the staged artifacts, installs the packages the job staged for its
workers (--extra_package: TFX stages the Transform and Evaluator module
wheels that way; --setup_file's workflow tarball) into a private directory,
and replaces itself with apache_beam.runners.worker.sdk_worker_main in this
same Python. Unlike Beam's boot it does not pip-install a staged
requirements.txt or SDK tarball: a PROCESS worker runs on a machine
provisioned like the submitter (the same virtualenv), which is the point of
PROCESS over DOCKER; it says so in its log when a job staged them.
"""

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile

import grpc
from apache_beam.portability import common_urns
from apache_beam.portability.api import (
  beam_artifact_api_pb2,
  beam_artifact_api_pb2_grpc,
  beam_provision_api_pb2,
  beam_provision_api_pb2_grpc,
  beam_runner_api_pb2,
  endpoints_pb2,
)
from google.protobuf import json_format, text_format

HARNESS = 'apache_beam.runners.worker.sdk_worker_main'
EXTRA_PACKAGES_FILE = 'extra_packages.txt'
WORKFLOW_TARBALL = 'workflow.tar.gz'
NOT_INSTALLED = ('requirements.txt', 'dataflow_python_sdk.tar')

_LOG = logging.getLogger('beam_sdk_boot')


def parse_args(argv):
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--id', required=True)
  parser.add_argument('--provision_endpoint', required=True)
  parser.add_argument('--control_endpoint', required=True)
  parser.add_argument('--logging_endpoint', required=True)
  parser.add_argument('--artifact_endpoint', default='')
  parser.add_argument('--semi_persist_dir', default='')
  parser.add_argument(
    '--dry_run',
    action='store_true',
    help='print the harness environment as JSON instead of starting it',
  )
  args, unknown = parser.parse_known_args(argv)
  if unknown:
    _LOG.info('ignoring flags %s', unknown)
  return args


def provision_info(endpoint: str, worker_id: str):
  with grpc.insecure_channel(endpoint) as channel:
    stub = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel)
    return stub.GetProvisionInfo(
      beam_provision_api_pb2.GetProvisionInfoRequest(),
      metadata=[('worker_id', worker_id)],
      timeout=60,
    ).info


def staged_name(artifact) -> str:
  roles = common_urns.artifact_roles
  if artifact.role_urn == roles.STAGING_TO.urn:
    payload = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(
      artifact.role_payload
    )
    return payload.staged_name
  return ''


def fetch_artifacts(endpoint, worker_id, dependencies, directory):
  """Writes each staged dependency to `directory`; returns their names."""
  os.makedirs(directory, exist_ok=True)
  names = []
  if not endpoint:
    return names
  with grpc.insecure_channel(endpoint) as channel:
    stub = beam_artifact_api_pb2_grpc.ArtifactRetrievalServiceStub(channel)
    for i, artifact in enumerate(dependencies):
      name = staged_name(artifact) or f'artifact-{i}'
      path = os.path.join(directory, name)
      with open(path + '.part', 'wb') as f:
        for chunk in stub.GetArtifact(
          beam_artifact_api_pb2.GetArtifactRequest(artifact=artifact),
          metadata=[('worker_id', worker_id)],
        ):
          f.write(chunk.data)
      os.replace(path + '.part', path)
      names.append(name)
  return names


def install_staged(directory, names):
  """pip-installs the staged extra packages and workflow tarball, without
  dependencies, into <directory>/site; returns that path or None."""
  packages = []
  if EXTRA_PACKAGES_FILE in names:
    with open(os.path.join(directory, EXTRA_PACKAGES_FILE)) as f:
      packages += [line.strip() for line in f if line.strip()]
  if WORKFLOW_TARBALL in names:
    packages.append(WORKFLOW_TARBALL)
  for name in NOT_INSTALLED:
    if name in names:
      _LOG.warning(
        'job staged %s: not installed (PROCESS workers use the '
        "submitter's environment)",
        name,
      )
  if not packages:
    return None
  site = os.path.join(directory, 'site')
  subprocess.run(
    [
      sys.executable,
      '-m',
      'pip',
      'install',
      '--quiet',
      '--no-deps',
      '--no-build-isolation',
      '--disable-pip-version-check',
      '--target',
      site,
      *[os.path.join(directory, p) for p in packages],
    ],
    check=True,
    stdout=sys.stderr,
  )
  return site


def descriptor(url: str) -> str:
  return text_format.MessageToString(
    endpoints_pb2.ApiServiceDescriptor(url=url)
  )


def harness_environment(args, info, site, base_env):
  env = dict(base_env)
  env.update(
    WORKER_ID=args.id,
    PIPELINE_OPTIONS=json_format.MessageToJson(info.pipeline_options),
    SEMI_PERSISTENT_DIRECTORY=args.semi_persist_dir,
    LOGGING_API_SERVICE_DESCRIPTOR=descriptor(args.logging_endpoint),
    CONTROL_API_SERVICE_DESCRIPTOR=descriptor(args.control_endpoint),
    RUNNER_CAPABILITIES=' '.join(info.runner_capabilities),
  )
  if info.HasField('status_endpoint'):
    env['STATUS_API_SERVICE_DESCRIPTOR'] = text_format.MessageToString(
      info.status_endpoint
    )
  if site:
    env['PYTHONPATH'] = os.pathsep.join(
      filter(None, [site, base_env.get('PYTHONPATH')])
    )
  return env


def main(argv=None):
  logging.basicConfig(
    level=logging.INFO, format='beam_sdk_boot %(levelname)s %(message)s'
  )
  args = parse_args(sys.argv[1:] if argv is None else argv)
  if not args.semi_persist_dir:
    # One directory per (runner process, worker id), emptied on each start,
    # so repeated jobs reuse rather than pile up directories.
    args.semi_persist_dir = os.path.join(
      tempfile.gettempdir(),
      f'beam-sdk-boot-{os.getuid()}',
      f'{os.getppid()}-{args.id}',
    )
    shutil.rmtree(args.semi_persist_dir, ignore_errors=True)
  info = provision_info(args.provision_endpoint, args.id)
  staged = os.path.join(args.semi_persist_dir, 'staged')
  names = fetch_artifacts(
    args.artifact_endpoint, args.id, info.dependencies, staged
  )
  site = install_staged(staged, names)
  env = harness_environment(args, info, site, os.environ)
  if args.dry_run:
    print(json.dumps({k: env[k] for k in sorted(env) if k not in os.environ}))
    return 0
  _LOG.info('worker %s: %s -m %s', args.id, sys.executable, HARNESS)
  sys.stdout.flush()
  os.execve(sys.executable, [sys.executable, '-m', HARNESS], env)


if __name__ == '__main__':
  sys.exit(main())
