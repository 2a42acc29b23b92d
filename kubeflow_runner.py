"""Compiles the taxi pipeline for Kubeflow Pipelines and Vertex AI Pipelines.

    python kubeflow_runner.py [--image IMAGE] [--pipeline-root URI]
        [--data-root URI] [--serving-model-dir URI] [--train-steps N]
        [--beam-runner RUNNER] [--beam-workers N] [--beam-arg ARG ...]
        [--target kubeflow|vertex] [--output taxi_pipeline.yaml]

Writes the pipeline package (KFP v2 PipelineSpec YAML, for "Upload pipeline"
in the Kubeflow Pipelines UI) and next to it <name>_job.json, the full
PipelineJob for Vertex AI Pipelines. The run form offers `data_root` and
`train_args` (TrainArgs JSON, e.g. {"num_steps": 500}).

Compiling is offline: the components import the user code (models/) from
the project installed in the image, by module path, and a fingerprint of
that code enters Transform's and the Trainer's cache keys. Nothing is read
from or written to the pipeline root. See docs/kubeflow.md.
"""

import argparse
import json
import os
import sys
import warnings
from typing import Dict

# As local_runner.py: TensorFlow's C++ start-up lines and google-api-core's
# Python-version notices would bury the one line compiling prints.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
warnings.filterwarnings('ignore', category=FutureWarning, module='google')

# pylint: disable=wrong-import-position
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx

from core import names, runner_flags
from pipeline import config as config_lib
from pipeline.pipeline import create_pipeline

DEFAULT_IMAGE = 'ghcr.io/example/taxi-tfx-pipeline:0.1.0'
# Where the Dockerfile installs this project; schema/ is read from there.
IMAGE_PROJECT_DIR = '/pipeline'
DATA_ROOT_PARAMETER = 'data_root'
TRAIN_ARGS_PARAMETER = 'train_args'
JOB_SUFFIX = '_job.json'
# Every TFX task's container command: TFX's KFP v2 entry point, replaced by
# the image's own (kfp_entrypoint/), which maps the input artifacts' types
# back to TFX's before calling it (open-source KFP hands them over untyped).
TFX_ENTRYPOINT = [
  'python',
  '-m',
  'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor',
]
IMAGE_ENTRYPOINT = ['python', '-m', 'kfp_entrypoint']


def parse_args(argv):
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument(
    '--image',
    default=DEFAULT_IMAGE,
    help=f'pipeline image built from Dockerfile (default: {DEFAULT_IMAGE})',
  )
  parser.add_argument(
    '--model-name',
    default=names.TRAINING_PIPELINE,
    help='model and pipeline name (default: taxi)',
  )
  parser.add_argument(
    '--pipeline-root',
    default='gs://YOUR_BUCKET/tfx/pipelines',
    help='where components write their outputs: gs://, '
    's3:// or a path mounted in every pod',
  )
  parser.add_argument(
    '--data-root',
    default='gs://YOUR_BUCKET/data/taxi',
    help='default of the data_root run parameter: a directory of CSV files',
  )
  parser.add_argument(
    '--serving-model-dir',
    help='push target, TF Serving layout <dir>/<version>/ '
    '(default: <pipeline root>/../serving/<model name>)',
  )
  parser.add_argument(
    '--train-steps',
    type=int,
    default=3000,
    help='default num_steps of the train_args run parameter (default: 3000)',
  )
  config_lib.add_quality_gate_flags(parser)
  # One worker per CPU by default: each pod runs one component.
  runner_flags.add_beam_flags(parser, default_workers=0)
  parser.add_argument(
    '--target',
    choices=('kubeflow', 'vertex'),
    default='kubeflow',
    help="Kubeflow Pipelines' own backend or Vertex AI: both get the same "
    'package (the production_baseline component works on both; kept so '
    'existing commands still run) (default: kubeflow)',
  )
  parser.add_argument(
    '--image-project-dir',
    default=IMAGE_PROJECT_DIR,
    help=f'where the image holds this project (default: {IMAGE_PROJECT_DIR})',
  )
  parser.add_argument(
    '--no-cache', action='store_true', help='compile with task caching off'
  )
  parser.add_argument(
    '--output',
    default=f'{names.TRAINING_PIPELINE}_pipeline.yaml',
    help='pipeline package to write (default: taxi_pipeline.yaml)',
  )
  args = parser.parse_args(argv)
  if args.train_steps < 1:
    parser.error('--train-steps must be at least 1')
  if not args.output.endswith(('.yaml', '.yml')):
    parser.error('--output must end in .yaml or .yml')
  runner_flags.check_beam_flags(parser, args)
  return args


def build_config(args) -> config_lib.PipelineConfig:
  pipeline_root = args.pipeline_root.rstrip('/')
  serving_model_dir = args.serving_model_dir or '/'.join(
    [pipeline_root.rsplit('/', 1)[0], 'serving', args.model_name]
  )
  return config_lib.PipelineConfig(
    pipeline_name=args.model_name,
    data_root=tfx.dsl.experimental.RuntimeParameter(
      name=DATA_ROOT_PARAMETER, ptype=str, default=args.data_root
    ),
    pipeline_root=f'{pipeline_root}/{args.model_name}',
    serving_model_dir=serving_model_dir,
    # Kubeflow Pipelines and Vertex AI bring their own ML Metadata.
    metadata_uri=None,
    schema_dir=f'{args.image_project_dir.rstrip("/")}/schema',
    train_steps=tfx.dsl.experimental.RuntimeParameter(
      name=TRAIN_ARGS_PARAMETER,
      ptype=str,
      default=json.dumps({'num_steps': args.train_steps}),
    ),
    quality_gate=config_lib.quality_gate_of(args),
    beam_pipeline_args=runner_flags.beam_args_of(
      args, project_dir=args.image_project_dir
    ),
    enable_cache=not args.no_cache,
  )


def runtime_parameter_defaults(
  config: config_lib.PipelineConfig,
) -> Dict[str, str]:
  return {
    value.name: value.default
    for value in vars(config).values()
    if isinstance(value, tfx.dsl.experimental.RuntimeParameter)
  }


def compile_pipeline(
  config: config_lib.PipelineConfig, image: str
) -> Dict[str, object]:
  """The PipelineJob (as a JSON dict) of create_pipeline(config)."""
  runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
    config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
      default_image=image,
      # Kubeflow Pipelines' API server accepts schema 2.1.0 only.
      use_pipeline_spec_2_1=True,
    )
  )
  defaults = runtime_parameter_defaults(config)
  job = runner.run(
    create_pipeline(config), parameter_values=defaults, write_out=False
  )
  # TFX leaves the defaults out of the spec; the KFP run form reads them
  # from there.
  root_parameters = job['pipelineSpec']['root']['inputDefinitions'][
    'parameters'
  ]
  for name, default in defaults.items():
    root_parameters[name]['defaultValue'] = default
  # What production serves changes between runs with the same inputs: never
  # take production_baseline from the cache.
  job['pipelineSpec']['root']['dag']['tasks'][names.PRODUCTION_BASELINE][
    'cachingOptions'
  ] = {'enableCache': False}
  for executor in job['pipelineSpec']['deploymentSpec']['executors'].values():
    container = executor.get('container', {})
    if container.get('command') == TFX_ENTRYPOINT:
      container['command'] = IMAGE_ENTRYPOINT
  # Fails here, not on upload, if the spec is not a valid PipelineSpec.
  json_format.ParseDict(job['pipelineSpec'], pipeline_spec_pb2.PipelineSpec())
  return job


def write_package(job: Dict[str, object], output: str) -> str:
  """Writes the PipelineSpec YAML and the PipelineJob JSON; returns the
  JSON's path. Both are byte-identical for identical input."""
  spec = job['pipelineSpec']
  with open(output, 'w') as f:
    f.write(
      f'# PIPELINE DEFINITION\n# Name: {spec["pipelineInfo"]["name"]}\n'
      '# Compiled by kubeflow_runner.py from pipeline/pipeline.py.\n'
    )
    yaml.safe_dump(spec, f, sort_keys=True)
  job_path = os.path.splitext(output)[0] + JOB_SUFFIX
  with open(job_path, 'w') as f:
    json.dump(job, f, indent=2, sort_keys=True)
    f.write('\n')
  return job_path


def main(argv=None) -> int:
  args = parse_args(argv)
  config = build_config(args)
  job_path = write_package(compile_pipeline(config, args.image), args.output)
  print(
    f'Wrote {args.output} (upload in the Kubeflow Pipelines UI) and '
    f'{job_path} (Vertex AI PipelineJob)\n'
    f'  image {args.image}, pipeline root {config.pipeline_root}, '
    f'serving dir {config.serving_model_dir}'
  )
  return 0


if __name__ == '__main__':
  sys.exit(main())
