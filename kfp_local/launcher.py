"""Runs a compiled KFP v2 pipeline package here, task by task, as Kubeflow
Pipelines' driver and launcher would in the cluster.

    python -m kfp_local.launcher taxi_pipeline.yaml --root DIR
        [--param data_root=/path/to/csv ...] [--backend kubeflow|vertex]

For each task of the root DAG, in dependency order, it builds the
ExecutorInput KFP would give the container (input artifacts from upstream
outputs, output URIs under <root>/<run id>/, parameters including run
parameters), starts the container's own command and args from the package
with this machine's Python in place of the image's, and reads the executor
output back to feed downstream tasks. A dry run of a package before it goes
to a cluster: wrong module paths, unserialisable parameters or a missing
package fail here the way they would in a pod.

Backends differ where the real ones do:
  kubeflow  open-source Kubeflow Pipelines (backend 2.0-2.4, read from
            kubeflow/pipelines backend/src/v2/driver and component/): refuses
            resolver tasks (its compiler has no resolver executor), runs only
            command + args, and hands a task its input artifacts as the
            driver resolves them from ML Metadata: type {"instanceSchema": ""}
            (the driver never reads the artifact's type back), named by their
            ML Metadata id, metadata as custom properties plus the launcher's
            display_name; outputs unnamed, with the spec's type; the executor
            output file under a directory named kfp_outputs; gs:// inputs
            downloaded first as its launcher does (download_artifact).
  vertex    Vertex AI Pipelines: every artifact keeps the spec's instance
            schema; also runs the containers' pre-cache-check hook (TFX's
            ExampleGen driver) and answers resolver queries from the
            artifacts of earlier runs under the same root.
"""

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import yaml
from google.protobuf import json_format, struct_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

BACKENDS = ('kubeflow', 'vertex')
# The placeholder KFP replaces with the whole ExecutorInput as JSON.
EXECUTOR_INPUT_PLACEHOLDER = '{{$}}'
ARTIFACT_LOG = 'artifacts.jsonl'
OUTPUT_METADATA_FILE = 'executor_output.json'
# Kubeflow Pipelines' launcher: /tmp/kfp_outputs/output_metadata.json in the
# pod (TFX takes the directory's name as the task's unique id).
KUBEFLOW_OUTPUT_DIR = 'kfp_outputs'
KUBEFLOW_OUTPUT_METADATA_FILE = 'output_metadata.json'
TASK_LOG = 'log.txt'
_INPUT_METADATA_PLACEHOLDER = re.compile(
  r"\{\{\$\.inputs\.artifacts\['([^']+)'\]\.metadata\['([^']+)'\]\}\}"
)
_FILTER_TERM = re.compile(r'^([\w.]+)=(?:"(.*)"|(\S+))$')

ExecutorInput = pipeline_spec_pb2.ExecutorInput
ArtifactList = pipeline_spec_pb2.ArtifactList


class TaskFailedError(RuntimeError):
  """A task's container exited non-zero; carries the end of its log."""

  def __init__(self, task: str, log_path: str):
    self.task = task
    self.log_path = log_path
    with open(log_path) as f:
      self.log_tail = f.read()[-4000:]
    super().__init__(f'Task {task!r} failed; log {log_path}:\n{self.log_tail}')


class UnsupportedSpecError(ValueError):
  """The package uses something the chosen backend (or this launcher)
  cannot run."""


@dataclasses.dataclass
class RunResult:
  run_id: str
  run_dir: str
  # Task name -> output key -> artifacts, as the launcher recorded them
  # (with the spec's types; on kubeflow, downstream tasks got them as
  # kubeflow_input_artifact makes them).
  outputs: Dict[str, Dict[str, ArtifactList]]


def load_pipeline_spec(path: str) -> pipeline_spec_pb2.PipelineSpec:
  """A PipelineSpec from a package YAML or a PipelineJob JSON."""
  with open(path) as f:
    document = yaml.safe_load(f)  # JSON is YAML too.
  if 'pipelineSpec' in document:
    document = document['pipelineSpec']
  return json_format.ParseDict(document, pipeline_spec_pb2.PipelineSpec())


def task_dependencies(task: pipeline_spec_pb2.PipelineTaskSpec) -> List[str]:
  """Tasks that must finish first: declared ones and artifact producers."""
  producers = {
    spec.task_output_artifact.producer_task
    for spec in task.inputs.artifacts.values()
  }
  return sorted(set(task.dependent_tasks) | producers)


def topological_order(
  tasks: Mapping[str, pipeline_spec_pb2.PipelineTaskSpec],
) -> List[str]:
  """Task names, each after its dependencies; ties by name, so stable."""
  pending = {name: set(task_dependencies(task)) for name, task in tasks.items()}
  unknown = {dep for deps in pending.values() for dep in deps} - set(tasks)
  if unknown:
    raise UnsupportedSpecError(f'Tasks depend on unknown tasks {unknown}')
  order = []
  while pending:
    ready = sorted(name for name, deps in pending.items() if not deps)
    if not ready:
      raise UnsupportedSpecError(f'Dependency cycle among {sorted(pending)}')
    for name in ready:
      order.append(name)
      del pending[name]
    for deps in pending.values():
      deps.difference_update(ready)
  return order


def _typed_value(parameter, raw) -> struct_pb2.Value:
  """A run parameter's value as KFP passes it, by its declared type."""
  kind = pipeline_spec_pb2.ParameterType
  if parameter.parameter_type == kind.STRING:
    return struct_pb2.Value(
      string_value=raw if isinstance(raw, str) else json.dumps(raw)
    )
  if parameter.parameter_type in (kind.NUMBER_INTEGER, kind.NUMBER_DOUBLE):
    return struct_pb2.Value(number_value=float(raw))
  if parameter.parameter_type == kind.BOOLEAN:
    return struct_pb2.Value(
      bool_value=(raw if isinstance(raw, bool) else str(raw).lower() == 'true')
    )
  value = struct_pb2.Value()
  json_format.ParseDict(json.loads(raw) if isinstance(raw, str) else raw, value)
  return value


def _pipeline_parameters(
  spec: pipeline_spec_pb2.PipelineSpec, overrides: Mapping[str, object]
) -> Dict[str, struct_pb2.Value]:
  declared = spec.root.input_definitions.parameters
  unknown = set(overrides) - set(declared)
  if unknown:
    raise UnsupportedSpecError(
      f'Unknown run parameters {sorted(unknown)}; the pipeline declares '
      f'{sorted(declared)}'
    )
  values = {}
  for name, parameter in declared.items():
    if name in overrides:
      values[name] = _typed_value(parameter, overrides[name])
    elif parameter.HasField('default_value'):
      values[name] = parameter.default_value
    elif not parameter.is_optional:
      raise UnsupportedSpecError(f'Run parameter {name!r} needs a value')
  return values


def _check_supported(spec: pipeline_spec_pb2.PipelineSpec, backend: str):
  """Fails before any task runs, as KFP does when it compiles the run."""
  executors = _executors(spec)
  for name, task in spec.root.dag.tasks.items():
    component = spec.components[task.component_ref.name]
    if component.WhichOneof('implementation') != 'executor_label':
      raise UnsupportedSpecError(f'Task {name!r}: nested DAGs are not run')
    if task.trigger_policy.condition or task.WhichOneof('iterator'):
      raise UnsupportedSpecError(
        f'Task {name!r}: conditions and loops are not run'
      )
    if component.output_definitions.parameters:
      raise UnsupportedSpecError(
        f'Task {name!r}: output parameters are not run'
      )
    kind = next(iter(executors[component.executor_label]))
    if kind == 'resolver' and backend == 'kubeflow':
      # Kubeflow Pipelines' argo compiler: "resolver executors not
      # implemented".
      raise UnsupportedSpecError(
        f'Task {name!r} is a resolver; Kubeflow Pipelines cannot run '
        'resolver executors (compile with --target kubeflow)'
      )
    if kind not in ('container', 'resolver'):
      raise UnsupportedSpecError(f'Task {name!r}: {kind} executors are not run')


def _executors(spec: pipeline_spec_pb2.PipelineSpec) -> Dict[str, dict]:
  return json_format.MessageToDict(spec.deployment_spec)['executors']


def _schema_title(artifact_type: pipeline_spec_pb2.ArtifactTypeSchema) -> str:
  if artifact_type.WhichOneof('kind') == 'schema_title':
    return artifact_type.schema_title
  return yaml.safe_load(artifact_type.instance_schema)['title']


class _ArtifactLog:
  """Output artifacts of every run under one root: the launcher's stand-in
  for the orchestrator's ML Metadata, which resolver queries search."""

  def __init__(self, path: str):
    self._path = path

  def record(
    self, run_id: str, task: str, outputs: Mapping[str, ArtifactList]
  ) -> Dict[str, int]:
    """Appends the outputs; returns each key's artifact id (its line number
    in the log, as ML Metadata numbers artifacts 1, 2, ...)."""
    ids = {}
    next_id = len(self.artifacts()) + 1
    with open(self._path, 'a') as f:
      for key, artifacts in sorted(outputs.items()):
        for artifact in artifacts.artifacts:
          ids[key] = next_id
          next_id += 1
          f.write(
            json.dumps(
              {
                'run_id': run_id,
                'task': task,
                'key': key,
                'artifact': json_format.MessageToDict(artifact),
              }
            )
            + '\n'
          )
    return ids

  def artifacts(self) -> List[pipeline_spec_pb2.RuntimeArtifact]:
    if not os.path.exists(self._path):
      return []
    with open(self._path) as f:
      return [
        json_format.ParseDict(
          json.loads(line)['artifact'], pipeline_spec_pb2.RuntimeArtifact()
        )
        for line in f
      ]


def _matches(
  artifact: pipeline_spec_pb2.RuntimeArtifact, query_filter: str
) -> bool:
  """Evaluates the filters TFX compiles resolvers into: AND-ed terms over
  schema_title, state, name and metadata.<key>.number_value."""
  metadata = json_format.MessageToDict(artifact.metadata)
  for term in query_filter.split(' AND '):
    match = _FILTER_TERM.match(term.strip())
    if not match:
      raise UnsupportedSpecError(f'Resolver filter term {term!r}')
    field, quoted, bare = match.groups()
    wanted = quoted if quoted is not None else bare
    if field == 'schema_title':
      actual = _schema_title(artifact.type)
    elif field == 'state':
      actual = 'LIVE'  # Nothing here deletes artifacts.
    elif field == 'name':
      actual = artifact.name
    elif field.startswith('metadata.') and field.endswith('.number_value'):
      actual = metadata.get(field[len('metadata.') : -len('.number_value')])
      wanted = float(wanted)
    else:
      raise UnsupportedSpecError(f'Resolver filter field {field!r}')
    if actual != wanted:
      return False
  return True


def resolve(
  resolver_spec,
  inputs: Mapping[str, ArtifactList],
  known: Sequence[pipeline_spec_pb2.RuntimeArtifact],
) -> Dict[str, ArtifactList]:
  """The latest known artifact matching each output query; an empty list
  when none does (or an input its query refers to is empty)."""
  outputs = {}
  for key, query in resolver_spec['outputArtifactQueries'].items():
    query_filter = query['filter']
    try:
      query_filter = _INPUT_METADATA_PLACEHOLDER.sub(
        lambda m: str(
          json_format.MessageToDict(inputs[m.group(1)].artifacts[0].metadata)[
            m.group(2)
          ]
        ),
        query_filter,
      )
    except (KeyError, IndexError):
      outputs[key] = ArtifactList()
      continue
    found = [a for a in known if _matches(a, query_filter)]
    outputs[key] = ArtifactList(artifacts=found[-1:])
  return outputs


def _substitute(
  arguments: Iterable[str], executor_input_json: str
) -> List[str]:
  resolved = [
    executor_input_json if arg == EXECUTOR_INPUT_PLACEHOLDER else arg
    for arg in arguments
  ]
  leftover = [
    arg for arg in resolved if arg is not executor_input_json and '{{$' in arg
  ]
  if leftover:
    raise UnsupportedSpecError(f'Placeholders not substituted: {leftover}')
  return resolved


def _local_command(command: Sequence[str], python: str) -> List[str]:
  if not command or command[0] not in ('python', 'python3'):
    raise UnsupportedSpecError(
      f'Container command {list(command)} does not start with python'
    )
  return [python, *command[1:]]


GCS_SCHEME = 'gs://'


class DownloadError(RuntimeError):
  """Kubeflow's launcher could not download an input artifact."""


def download_artifact(client, uri: str, local_path: str) -> None:
  """Kubeflow Pipelines' launcher's download of one gs:// input artifact
  before the task's command runs (backend/src/v2/objectstore DownloadBlob,
  2.0-2.4): every key starting with the artifact's path, listed without a
  delimiter, is written to local_path joined with the key relative to that
  path. A zero-byte directory marker (`path/`, `path/sub/`) joins to a
  directory's own name and is written as a file there, so the keys below it
  cannot be written (kubeflow/pipelines#13476). `client`: a
  google.cloud.storage.Client."""
  bucket_name, _, path = uri[len(GCS_SCHEME) :].partition('/')
  for blob in client.list_blobs(bucket_name, prefix=path):
    target = os.path.normpath(
      os.path.join(local_path, os.path.relpath(blob.name, path))
    )
    parent = os.path.dirname(target)
    try:
      os.makedirs(parent, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as e:
      raise DownloadError(
        f'failed to download input artifact {uri}: mkdir {parent}: '
        'not a directory'
      ) from e
    blob.download_to_filename(target)


def _as_custom_property(value):
  """A metadata value after the round trip through ML Metadata custom
  properties (StructValueToMLMDValue and back): booleans become 0/1, lists
  and structs come back wrapped."""
  if isinstance(value, bool):
    return int(value)
  if isinstance(value, list):
    return {'list': value}
  if isinstance(value, dict):
    return {'struct': value}
  return value


def kubeflow_input_artifact(
  recorded: pipeline_spec_pb2.RuntimeArtifact, artifact_id: int, output_key: str
) -> pipeline_spec_pb2.RuntimeArtifact:
  """An upstream output as open-source Kubeflow Pipelines' driver hands it
  to the next task. backend/src/v2/metadata/client.go: the artifact comes
  from GetOutputArtifactsByExecutionId, which leaves its schema empty
  ("TODO(Bobgy): figure out how to get schema"), and ToRuntimeArtifact
  turns it into {"instanceSchema": ""}; its name is its ML Metadata id; its
  metadata is every custom property, including the display_name the
  launcher recorded (its output key)."""
  artifact = pipeline_spec_pb2.RuntimeArtifact(
    name=str(artifact_id), uri=recorded.uri
  )
  artifact.type.instance_schema = ''
  metadata = {
    key: _as_custom_property(value)
    for key, value in json_format.MessageToDict(recorded.metadata).items()
  }
  metadata['display_name'] = output_key
  artifact.metadata.update(metadata)
  return artifact


class _Run:
  """One run of a pipeline spec under run_dir."""

  def __init__(
    self,
    spec,
    run_id,
    run_dir,
    parameters,
    backend,
    python,
    env,
    log: _ArtifactLog,
  ):
    self.spec = spec
    self.run_id = run_id
    self.run_dir = run_dir
    self.parameters = parameters
    self.backend = backend
    self.python = python
    self.env = env
    self.log = log
    self.executors = _executors(spec)
    self.outputs: Dict[str, Dict[str, ArtifactList]] = {}
    # Task name -> output key -> artifact id in the artifact log.
    self.artifact_ids: Dict[str, Dict[str, int]] = {}

  def _input_artifacts(self, task) -> Dict[str, ArtifactList]:
    inputs = {}
    for key, spec in task.inputs.artifacts.items():
      producer = spec.task_output_artifact
      artifacts = self.outputs[producer.producer_task].get(
        producer.output_artifact_key, ArtifactList()
      )
      if not artifacts.artifacts:  # Absent, as KFP leaves an unresolved input.
        continue
      if self.backend == 'kubeflow':
        ids = self.artifact_ids[producer.producer_task]
        artifacts = ArtifactList(
          artifacts=[
            kubeflow_input_artifact(
              artifact,
              ids[producer.output_artifact_key],
              producer.output_artifact_key,
            )
            for artifact in artifacts.artifacts
          ]
        )
      inputs[key] = artifacts
    return inputs

  def _download_inputs(self, name, inputs: Mapping[str, ArtifactList]):
    """As Kubeflow's launcher: every gs:// input to its local path
    (/gcs/BUCKET/PATH in the pod, <task dir>/gcs/... here)."""
    uris = [
      artifact.uri
      for artifacts in inputs.values()
      for artifact in artifacts.artifacts
      if artifact.uri.startswith(GCS_SCHEME)
    ]
    if not uris:
      return
    from google.cloud import storage  # pylint: disable=import-outside-toplevel

    client = storage.Client()
    for uri in uris:
      download_artifact(
        client,
        uri,
        os.path.join(self.run_dir, name, 'gcs', uri[len(GCS_SCHEME) :]),
      )

  def _executor_input(self, name, task, component) -> ExecutorInput:
    executor_input = ExecutorInput()
    inputs = self._input_artifacts(task)
    if self.backend == 'kubeflow':
      self._download_inputs(name, inputs)
    for key, artifacts in inputs.items():
      executor_input.inputs.artifacts[key].CopyFrom(artifacts)
    for key, spec in task.inputs.parameters.items():
      if spec.HasField('runtime_value'):
        value = spec.runtime_value.constant
      elif spec.component_input_parameter:
        value = self.parameters[spec.component_input_parameter]
      else:
        raise UnsupportedSpecError(
          f'Task {name!r}: parameter {key!r} has an unsupported source'
        )
      executor_input.inputs.parameter_values[key].CopyFrom(value)
    task_dir = os.path.join(self.run_dir, name)
    for key, definition in component.output_definitions.artifacts.items():
      output = executor_input.outputs.artifacts[key].artifacts.add(
        type=definition.artifact_type,
        uri=os.path.join(task_dir, key),
      )
      output.metadata.CopyFrom(definition.metadata)
      if self.backend == 'vertex':  # Kubeflow's driver names no output.
        output.name = f'{self.run_id}/{name}/{key}'
    executor_input.outputs.output_file = (
      os.path.join(task_dir, KUBEFLOW_OUTPUT_DIR, KUBEFLOW_OUTPUT_METADATA_FILE)
      if self.backend == 'kubeflow'
      else os.path.join(task_dir, OUTPUT_METADATA_FILE)
    )
    return executor_input

  def _exec(
    self,
    name: str,
    command: Sequence[str],
    args: Sequence[str],
    executor_input_json: str,
    log_path: str,
  ):
    argv = _local_command(command, self.python) + _substitute(
      args, executor_input_json
    )
    with open(log_path, 'a') as log:
      # A scratch working directory: nothing may depend on this checkout's.
      workdir = os.path.join(os.path.dirname(log_path), 'workdir')
      os.makedirs(workdir, exist_ok=True)
      result = subprocess.run(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        env=self.env,
        check=False,
      )
    if result.returncode != 0:
      raise TaskFailedError(name, log_path)

  def _run_container(
    self, name, task, component, container
  ) -> Dict[str, ArtifactList]:
    executor_input = self._executor_input(name, task, component)
    output_file = executor_input.outputs.output_file
    os.makedirs(os.path.dirname(output_file), exist_ok=True)
    executor_input_json = json_format.MessageToJson(executor_input)
    log_path = os.path.join(self.run_dir, name, TASK_LOG)
    hook = container.get('lifecycle', {}).get('preCacheCheck')
    if hook and self.backend == 'vertex':
      self._exec(
        name,
        hook['command'],
        hook.get('args', []),
        executor_input_json,
        log_path,
      )
    self._exec(
      name,
      container.get('command', []),
      container.get('args', []),
      executor_input_json,
      log_path,
    )
    executor_output = pipeline_spec_pb2.ExecutorOutput()
    if os.path.exists(output_file):
      with open(output_file) as f:
        json_format.Parse(f.read(), executor_output, ignore_unknown_fields=True)
    outputs = {}
    # As KFP's launcher: the declared artifact, with what the executor
    # reported about it (metadata such as split names, blessed).
    for key, declared in executor_input.outputs.artifacts.items():
      artifact = pipeline_spec_pb2.RuntimeArtifact()
      artifact.CopyFrom(declared.artifacts[0])
      reported = executor_output.artifacts.get(key)
      if reported and reported.artifacts:
        artifact.metadata.CopyFrom(reported.artifacts[0].metadata)
      outputs[key] = ArtifactList(artifacts=[artifact])
    return outputs

  def run_task(self, name: str):
    task = self.spec.root.dag.tasks[name]
    component = self.spec.components[task.component_ref.name]
    executor = self.executors[component.executor_label]
    if 'resolver' in executor:
      outputs = resolve(
        executor['resolver'], self._input_artifacts(task), self.log.artifacts()
      )
    else:
      outputs = self._run_container(
        name, task, component, executor['container']
      )
      self.artifact_ids[name] = self.log.record(self.run_id, name, outputs)
    self.outputs[name] = outputs


def run_pipeline(
  package_path: str,
  root: str,
  parameter_values: Optional[Mapping[str, object]] = None,
  backend: str = 'kubeflow',
  python: str = sys.executable,
  env: Optional[Mapping[str, str]] = None,
  run_id: Optional[str] = None,
) -> RunResult:
  """Runs every task of the package; raises TaskFailedError (or
  DownloadError) on the first failure (downstream tasks do not start, as in
  KFP)."""
  if backend not in BACKENDS:
    raise ValueError(f'backend must be one of {BACKENDS}')
  spec = load_pipeline_spec(package_path)
  _check_supported(spec, backend)
  parameters = _pipeline_parameters(spec, parameter_values or {})
  run_id = run_id or time.strftime('run-%Y%m%d-%H%M%S')
  run_dir = os.path.join(os.path.abspath(root), run_id)
  os.makedirs(run_dir)
  run = _Run(
    spec,
    run_id,
    run_dir,
    parameters,
    backend,
    python,
    dict(os.environ, **(env or {})),
    _ArtifactLog(os.path.join(os.path.abspath(root), ARTIFACT_LOG)),
  )
  for name in topological_order(spec.root.dag.tasks):
    print(f'[{time.strftime("%H:%M:%S")}] {name}', flush=True)
    run.run_task(name)
  return RunResult(run_id, run_dir, run.outputs)


def _parse_args(argv):
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument('package', help='pipeline YAML or PipelineJob JSON')
  parser.add_argument(
    '--root',
    required=True,
    help='directory for outputs, logs and the artifact log',
  )
  parser.add_argument(
    '--param',
    action='append',
    default=[],
    metavar='NAME=VALUE',
    help='run parameter, converted to its declared type',
  )
  parser.add_argument('--backend', choices=BACKENDS, default='kubeflow')
  args = parser.parse_args(argv)
  values = {}
  for item in args.param:
    name, sep, raw = item.partition('=')
    if not sep:
      parser.error(f'--param {item!r} is not NAME=VALUE')
    values[name] = raw
  return args, values


def main(argv=None) -> int:
  args, values = _parse_args(argv)
  try:
    result = run_pipeline(args.package, args.root, values, args.backend)
  except (TaskFailedError, UnsupportedSpecError, DownloadError) as e:
    print(f'FAILED: {e}', file=sys.stderr)
    return 1
  print(f'Run {result.run_id} finished; outputs under {result.run_dir}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
