"""kubeflow_runner.py: the package it compiles, and a run of that package
task by task through the containers' own commands (pipeline/
launcher.py), ending with a pushed model that serves."""

import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from kfp.pipeline_spec import pipeline_spec_pb2

import kubeflow_runner
import local_runner
from core import model_versions, names
from kfp_local import launcher
from models import features
from pipeline import config as config_lib
from pipeline.pipeline import create_pipeline
from tests.conftest import (
  E2E_ARGS,
  E2E_ROWS,
  PROJECT_DIR,
  sample_rows,
  write_rows,
)

DATA_COMPONENTS = (
  names.EXAMPLE_GEN,
  names.STATISTICS_GEN,
  names.TRANSFORM,
  names.EVALUATOR,
)
# Differs from the compiled default, so the run form's value must win.
RUN_TRAIN_ARGS = json.dumps(
  {
    'num_steps': int(E2E_ARGS[E2E_ARGS.index('--train-steps') + 1]),
    'splits': ['train'],
  }
)


def compile_package(out_dir, *extra_args):
  """Compiles into out_dir; returns (yaml path, PipelineJob JSON path)."""
  output = os.path.join(out_dir, 'taxi_pipeline.yaml')
  args = [
    '--pipeline-root',
    os.path.join(out_dir, 'root'),
    '--data-root',
    os.path.join(out_dir, 'data'),
    '--serving-model-dir',
    os.path.join(out_dir, 'serving'),
    '--output',
    output,
    *extra_args,
  ]
  assert kubeflow_runner.main(args) == 0
  return output, output[: -len('.yaml')] + kubeflow_runner.JOB_SUFFIX


def executor_args(spec, task):
  component = spec.components[spec.root.dag.tasks[task].component_ref.name]
  executor = spec.deployment_spec['executors'][component.executor_label]
  return list(executor['container']['args'])


def node_graph(nodes_and_upstreams):
  """(nodes, edges) of a pipeline."""
  nodes, edges = set(), set()
  for name, upstreams in nodes_and_upstreams:
    nodes.add(name)
    edges |= {(up, name) for up in upstreams}
  return nodes, edges


def local_graph(tmp_path):
  (tmp_path / 'data').mkdir(exist_ok=True)
  config = local_runner.build_config(
    local_runner.parse_args(
      ['--data-root', str(tmp_path / 'data'), '--work-dir', str(tmp_path)]
    )
  )
  return node_graph(
    (c.id, [u.id for u in c.upstream_nodes])
    for c in create_pipeline(config).components
  )


def compiled_graph(spec):
  return node_graph(
    (name, launcher.task_dependencies(task))
    for name, task in spec.root.dag.tasks.items()
  )


@pytest.fixture(scope='module')
def kubeflow_package(tmp_path_factory):
  return compile_package(str(tmp_path_factory.mktemp('kubeflow')))


@pytest.fixture(scope='module')
def vertex_package(tmp_path_factory):
  return compile_package(
    str(tmp_path_factory.mktemp('vertex')), '--target', 'vertex'
  )


def test_package_is_a_pipeline_spec_the_kfp_api_server_accepts(
  kubeflow_package,
):
  spec = launcher.load_pipeline_spec(kubeflow_package[0])
  # The API server refuses any other schema version.
  assert spec.schema_version == '2.1.0'
  assert re.fullmatch(r'[a-z0-9]([-a-z0-9]*[a-z0-9])?', spec.pipeline_info.name)
  assert spec.root.dag.tasks


def test_job_json_is_the_same_pipeline_for_vertex(kubeflow_package):
  yaml_path, job_path = kubeflow_package
  with open(job_path) as f:
    job = json.load(f)
  with open(yaml_path) as f:
    assert job['pipelineSpec'] == yaml.safe_load(f)
  launcher.json_format.ParseDict(job, pipeline_spec_pb2.PipelineJob())
  assert job['runtimeConfig']['parameterValues'] == {
    'data_root': os.path.join(os.path.dirname(yaml_path), 'data'),
    'train_args': '{"num_steps": 3000}',
  }


def test_both_targets_compile_the_local_pipeline(
  kubeflow_package, vertex_package, tmp_path
):
  """No resolver on either: production_baseline finds the served model on
  open-source KFP, Vertex and the local runner alike."""
  for package in (kubeflow_package, vertex_package):
    spec = launcher.load_pipeline_spec(package[0])
    assert compiled_graph(spec) == local_graph(tmp_path)


def test_production_baseline_is_never_taken_from_the_cache(kubeflow_package):
  tasks = launcher.load_pipeline_spec(kubeflow_package[0]).root.dag.tasks
  assert not tasks[names.PRODUCTION_BASELINE].caching_options.enable_cache
  assert tasks[names.EVALUATOR].caching_options.enable_cache


def test_every_tfx_task_runs_the_images_entrypoint(kubeflow_package):
  spec = launcher.load_pipeline_spec(kubeflow_package[0])
  commands = [
    list(executor['container']['command'])
    for executor in spec.deployment_spec['executors'].values()
  ]
  assert commands
  assert all(
    command == kubeflow_runner.IMAGE_ENTRYPOINT for command in commands
  )


def _statistics_artifact(uri: pathlib.Path):
  """ExampleStatistics of 200 real trips, as StatisticsGen writes them."""
  import pandas as pd  # pylint: disable=import-outside-toplevel
  import tensorflow_data_validation as tfdv  # pylint: disable=import-outside-toplevel

  statistics = tfdv.generate_statistics_from_dataframe(
    pd.DataFrame(sample_rows(200)).replace('', float('nan'))
  )
  (uri / 'Split-train').mkdir(parents=True)
  (uri / 'Split-train' / names.STATISTICS_FILE).write_bytes(
    statistics.SerializeToString()
  )
  recorded = pipeline_spec_pb2.RuntimeArtifact(uri=str(uri))
  recorded.type.instance_schema = 'title: tfx.ExampleStatistics\ntype: object\n'
  recorded.metadata.update({'split_names': '["train"]', 'span': 0})
  return recorded


def test_kubeflow_inputs_break_tfxs_entrypoint_and_run_under_the_images(
  kubeflow_package, tmp_path
):
  """SchemaGen's task from the package, fed its statistics as open-source
  KFP's driver hands them over (type {"instanceSchema": ""})."""
  spec = launcher.load_pipeline_spec(kubeflow_package[0])
  args = executor_args(spec, names.SCHEMA_GEN)
  statistics = launcher.kubeflow_input_artifact(
    _statistics_artifact(tmp_path / 'statistics'), 12, names.STATISTICS
  )
  results = {}
  for label, command in (
    ('tfx', kubeflow_runner.TFX_ENTRYPOINT),
    ('image', kubeflow_runner.IMAGE_ENTRYPOINT),
  ):
    executor_input = pipeline_spec_pb2.ExecutorInput()
    executor_input.inputs.artifacts[names.STATISTICS].artifacts.append(
      statistics
    )
    output = executor_input.outputs.artifacts[names.SCHEMA].artifacts.add(
      uri=str(tmp_path / label / 'schema')
    )
    output.type.instance_schema = 'title: tfx.Schema\ntype: object\n'
    executor_input.outputs.output_file = str(
      tmp_path
      / label
      / launcher.KUBEFLOW_OUTPUT_DIR
      / launcher.KUBEFLOW_OUTPUT_METADATA_FILE
    )
    argv = [sys.executable, *command[1:]] + [
      launcher.json_format.MessageToJson(executor_input)
      if arg == launcher.EXECUTOR_INPUT_PLACEHOLDER
      else arg
      for arg in args
    ]
    results[label] = subprocess.run(
      argv,
      capture_output=True,
      text=True,
      cwd=tmp_path,
      env={**os.environ, **image_env(), 'TF_CPP_MIN_LOG_LEVEL': '3'},
      timeout=300,
    )
  assert results['tfx'].returncode != 0
  assert "'NoneType' object has no attribute 'get'" in results['tfx'].stderr
  assert results['image'].returncode == 0, results['image'].stderr[-3000:]
  assert 'type (none) -> tfx.ExampleStatistics' in results['image'].stderr
  schema = (tmp_path / 'image' / 'schema' / names.SCHEMA_FILE).read_text()
  assert 'name: "payment_type"' in schema


def test_run_form_offers_data_root_and_train_args(kubeflow_package):
  spec = launcher.load_pipeline_spec(kubeflow_package[0])
  declared = spec.root.input_definitions.parameters
  string = pipeline_spec_pb2.ParameterType.STRING
  assert {
    name: (p.parameter_type, p.default_value.string_value)
    for name, p in declared.items()
  } == {
    'data_root': (
      string,
      os.path.join(os.path.dirname(kubeflow_package[0]), 'data'),
    ),
    'train_args': (string, '{"num_steps": 3000}'),
  }
  tasks = spec.root.dag.tasks
  assert (
    tasks[names.EXAMPLE_GEN]
    .inputs.parameters['input_base']
    .component_input_parameter
    == 'data_root'
  )
  assert (
    tasks[names.TRAINER]
    .inputs.parameters['train_args']
    .component_input_parameter
    == 'train_args'
  )


def test_compiling_twice_gives_identical_files(tmp_path):
  first = compile_package(str(tmp_path))
  contents = [open(path, 'rb').read() for path in first]
  second = compile_package(str(tmp_path))
  assert [open(path, 'rb').read() for path in second] == contents


def _network_namespaces_work() -> bool:
  return (
    subprocess.run(['unshare', '-n', 'true'], capture_output=True).returncode
    == 0
  )


@pytest.mark.skipif(
  not _network_namespaces_work(), reason='unshare -n is not permitted here'
)
@pytest.mark.parametrize(
  'roots',
  [
    (),  # The defaults: gs://YOUR_BUCKET/...
    ('--pipeline-root', 's3://bucket/tfx', '--data-root', 's3://bucket/data'),
  ],
)
def test_compiling_needs_no_network_and_writes_only_the_package(
  tmp_path, roots
):
  output = tmp_path / 'taxi_pipeline.yaml'
  result = subprocess.run(
    [
      'unshare',
      '-n',
      sys.executable,
      str(PROJECT_DIR / 'kubeflow_runner.py'),
      '--output',
      str(output),
      *roots,
    ],
    capture_output=True,
    text=True,
    cwd=tmp_path,
    timeout=600,
    check=False,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(p.name for p in tmp_path.iterdir()) == [
    'taxi_pipeline.yaml',
    'taxi_pipeline_job.json',
  ]
  spec = launcher.load_pipeline_spec(str(output))
  fingerprint = json.dumps(
    {names.USER_CODE_FINGERPRINT: config_lib.user_code_fingerprint()}
  )
  for task, function in (
    (names.TRANSFORM, ('preprocessing_fn', config_lib.PREPROCESSING_FN)),
    (names.TRAINER, ('run_fn', config_lib.RUN_FN)),
  ):
    parameters = {
      key: value.runtime_value.constant.string_value
      for key, value in spec.root.dag.tasks[task].inputs.parameters.items()
    }
    assert 'module_file' not in parameters
    assert parameters[function[0]] == function[1]
    assert parameters['custom_config'] == fingerprint


def test_the_user_code_fingerprint_follows_the_code_and_only_the_code(
  tmp_path,
):
  models = tmp_path / 'models'
  shutil.copytree(config_lib.MODELS_DIR, models)
  original = config_lib.user_code_fingerprint(str(models))
  assert original == config_lib.user_code_fingerprint()
  (models / '__pycache__').mkdir(exist_ok=True)
  (models / '__pycache__' / 'stale.py').write_text('x = 1\n')
  assert config_lib.user_code_fingerprint(str(models)) == original
  with open(models / 'preprocessing.py', 'a') as f:
    f.write('\n# A changed comment is changed code to a cache key.\n')
  assert config_lib.user_code_fingerprint(str(models)) != original


def test_schema_is_read_where_the_dockerfile_installs_the_project(
  kubeflow_package,
):
  spec = launcher.load_pipeline_spec(kubeflow_package[0])
  schema_file = (
    spec.root.dag.tasks[names.SCHEMA_IMPORTER]
    .inputs.parameters['schema_file']
    .runtime_value.constant.string_value
  )
  assert (
    schema_file == f'{kubeflow_runner.IMAGE_PROJECT_DIR}/schema/schema.pbtxt'
  )
  dockerfile = (PROJECT_DIR / 'Dockerfile').read_text()
  assert f'WORKDIR {kubeflow_runner.IMAGE_PROJECT_DIR}\n' in dockerfile
  assert 'COPY schema ./schema\n' in dockerfile
  # The packages the components' executors import (infra_validator starts
  # `python -m serving`).
  for package in ('components', 'core', 'models', 'serving'):
    assert f'COPY {package} ./{package}\n' in dockerfile, package
  assert re.search(
    r'^FROM gcr\.io/tfx-oss-public/tfx:1\.16\.0$', dockerfile, re.M
  )


def test_data_components_scale_out_on_direct_runner_processes(tmp_path):
  spec = launcher.load_pipeline_spec(
    compile_package(str(tmp_path), '--beam-workers', '4')[0]
  )
  for task in DATA_COMPONENTS:
    assert executor_args(spec, task)[-4:] == [
      # The image's project, not the compiling machine's (TFX then builds
      # no sdist of itself in the pod; the DirectRunner stages nothing).
      '--setup_file=/pipeline/setup.py',
      '--runner=DirectRunner',
      '--direct_running_mode=multi_processing',
      '--direct_num_workers=4',
    ], task


@pytest.mark.parametrize(
  'runner, options',
  [
    (
      'DataflowRunner',
      [
        '--project=my-project',
        '--region=europe-west1',
        '--temp_location=gs://my-bucket/tmp',
      ],
    ),
    (
      'FlinkRunner',
      [
        '--flink_master=flink-jobmanager:8081',
        '--environment_type=EXTERNAL',
        '--environment_config=localhost:50000',
      ],
    ),
  ],
)
def test_data_components_get_the_distributed_runners_options(
  tmp_path, runner, options
):
  spec = launcher.load_pipeline_spec(
    compile_package(
      str(tmp_path),
      '--beam-runner',
      runner,
      *[f'--beam-arg={option}' for option in options],
    )[0]
  )
  for task in DATA_COMPONENTS:
    assert executor_args(spec, task)[-1 - len(options) :] == [
      f'--runner={runner}',
      *options,
    ], task
  assert (
    f'--runner={runner}'
    in spec.deployment_spec['executors']['example_gen_executor']['container'][
      'lifecycle'
    ]['preCacheCheck']['args']
  )


def test_distributed_runner_without_its_required_options_is_refused(capsys):
  with pytest.raises(SystemExit):
    kubeflow_runner.parse_args(
      ['--beam-runner', 'DataflowRunner', '--beam-arg=--project=my-project']
    )
  assert '--region' in capsys.readouterr().err


def test_serving_dir_defaults_next_to_the_pipeline_root():
  config = kubeflow_runner.build_config(
    kubeflow_runner.parse_args(['--pipeline-root', 's3://bucket/tfx/pipelines'])
  )
  assert config.pipeline_root == 's3://bucket/tfx/pipelines/taxi'
  assert config.serving_model_dir == 's3://bucket/tfx/serving/taxi'
  assert config.metadata_uri is None


def image_env():
  """ENV lines of the Dockerfile: the environment every task gets."""
  text = (PROJECT_DIR / 'Dockerfile').read_text()
  return dict(re.findall(r'^ENV (\w+)=(\S+)$', text, re.M))


def serving_inputs(rows):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  def number(value):
    return float(value) if value != '' else math.nan

  inputs = {
    key: tf.constant([number(r[key]) for r in rows], tf.float32)
    for key in features.NUMERIC_FEATURES
  }
  inputs.update(
    {
      key: tf.constant([r[key] for r in rows])
      for key in features.STRING_FEATURES
    }
  )
  return inputs


@pytest.fixture(scope='module')
def launched_run(tmp_path_factory):
  """The kubeflow package run by the local launcher on E2E_ROWS rows, with
  its run parameters set as in the KFP run form."""
  root = tmp_path_factory.mktemp('kfp-run')
  write_rows(root / 'csv' / 'data.csv', sample_rows(E2E_ROWS))
  # The compiled default data root does not exist, so the run parameters
  # must win. This checkout stands in for the image's /pipeline.
  package, _ = compile_package(
    str(root),
    '--image-project-dir',
    str(PROJECT_DIR),
    '--beam-workers',
    '1',
    *E2E_ARGS,
  )
  result = launcher.run_pipeline(
    package,
    str(root / 'launcher'),
    {'data_root': str(root / 'csv'), 'train_args': RUN_TRAIN_ARGS},
    env={**image_env(), 'TF_CPP_MIN_LOG_LEVEL': '3'},
  )
  return root, result


def test_package_runs_to_a_pushed_model_that_serves(launched_run):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  root, result = launched_run
  pushed = result.outputs[names.PUSHER][names.PUSHED_MODEL].artifacts[0]
  metadata = launcher.json_format.MessageToDict(pushed.metadata)
  assert metadata['pushed'] == 1
  version_dir = metadata['pushed_destination']
  assert os.path.dirname(version_dir) == str(root / 'serving')
  assert model_versions.is_version(os.path.basename(version_dir))
  model = tf.saved_model.load(version_dir)
  probabilities = model.signatures['serving_default'](
    **serving_inputs(sample_rows(5, seed=11))
  )['probability'].numpy()
  assert probabilities.shape == (5,)
  assert ((probabilities >= 0) & (probabilities <= 1)).all()


def test_run_parameter_reached_the_trainer(launched_run):
  _, result = launched_run
  with open(os.path.join(result.run_dir, names.TRAINER, 'log.txt')) as f:
    assert repr(RUN_TRAIN_ARGS) in f.read()  # As the executor logs it.


@pytest.fixture(scope='module')
def second_launched_run(launched_run):
  """The same package run again by the launcher, into the same serving
  directory: production now serves the first run's model."""
  root, _ = launched_run
  return launcher.run_pipeline(
    str(root / 'taxi_pipeline.yaml'),
    str(root / 'launcher'),
    {'data_root': str(root / 'csv'), 'train_args': RUN_TRAIN_ARGS},
    env={**image_env(), 'TF_CPP_MIN_LOG_LEVEL': '3'},
  )


def _metadata(artifact):
  return launcher.json_format.MessageToDict(artifact.metadata)


def test_the_first_run_has_no_baseline_and_says_so(launched_run):
  _, result = launched_run
  [baseline] = result.outputs[names.PRODUCTION_BASELINE][
    names.BASELINE
  ].artifacts
  assert _metadata(baseline)['found'] == 0
  [blessing] = result.outputs[names.EVALUATOR][names.BLESSING].artifacts
  assert 'baseline_model' not in _metadata(blessing)


def test_the_second_runs_evaluator_compares_with_the_first_runs_push(
  launched_run, second_launched_run
):
  _, first = launched_run
  [pushed] = first.outputs[names.PUSHER][names.PUSHED_MODEL].artifacts
  [baseline] = second_launched_run.outputs[names.PRODUCTION_BASELINE][
    names.BASELINE
  ].artifacts
  assert _metadata(baseline)['found'] == 1
  assert (
    _metadata(baseline)['pushed_destination']
    == _metadata(pushed)['pushed_destination']
  )
  [blessing] = second_launched_run.outputs[names.EVALUATOR][
    names.BLESSING
  ].artifacts
  assert _metadata(blessing)['baseline_model'] == baseline.uri
  [analysis] = second_launched_run.outputs[names.MODEL_ANALYSIS][
    names.ANALYSIS
  ].artifacts
  with open(os.path.join(analysis.uri, names.MODEL_ANALYSIS_FILE)) as f:
    document = json.load(f)
  # The model in production scored beside the candidate and the baselines.
  assert names.PRODUCTION in [row['name'] for row in document['baselines']]
