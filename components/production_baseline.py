"""The production_baseline component (id core.names.PRODUCTION_BASELINE):
the model version the server is serving, the newest numbered version under
the push destination, as a Model artifact for the Evaluator's change
thresholds and model_analysis's production baseline.

It replaces TFX's latest-blessed-model resolver, which open-source Kubeflow
Pipelines cannot run (its backend has no resolver executor) and which would
take a blessing the Evaluator gave even where model_analysis then refused
the model: what is pushed is what production serves. The same component
runs on LocalDagRunner, open-source KFP and Vertex. An empty destination
gives an empty artifact marked `found` 0 ("no baseline yet"), which the
Evaluator (BaselineAwareEvaluator) and model_analysis leave out.
"""

import os
from typing import Any, Dict, List, Optional, Tuple

import tensorflow as tf
from tfx import v1 as tfx
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs
from tfx.utils import io_utils
from tfx.v1.dsl import Artifact
from tfx.v1.dsl.components import OutputArtifact, Parameter, component
from tfx.v1.types.standard_artifacts import Model

from core import model_versions, names

FOUND = names.BASELINE_FOUND
PUSHED_VERSION = 'pushed_version'
PUSHED_DESTINATION = 'pushed_destination'


def newest_version(serving_model_dir: str) -> Optional[Tuple[str, str]]:
  """(version name, directory) of the newest pushed version, through gfile
  (gs://, s3:// or local); None when there is none."""
  if not tf.io.gfile.isdir(serving_model_dir):
    return None
  found = []
  for entry in tf.io.gfile.listdir(serving_model_dir):
    name = entry.rstrip('/')  # GCS lists directories with a slash.
    path = os.path.join(serving_model_dir, name)
    if model_versions.is_version(name) and tf.io.gfile.isdir(path):
      found.append((int(name), name, path))
  if not found:
    return None
  _, name, path = max(found)
  return name, path


def is_found(baseline: Artifact) -> bool:
  return baseline.get_int_custom_property(FOUND) == 1


def describe(baseline: Artifact) -> str:
  if not is_found(baseline):
    return 'no baseline yet: nothing pushed to the serving destination'
  return (
    f'version {baseline.get_string_custom_property(PUSHED_VERSION)} '
    f'({baseline.get_string_custom_property(PUSHED_DESTINATION)})'
  )


@component
def ProductionBaseline(  # A TFX component.
  serving_model_dir: Parameter[str],
  cache_key: Parameter[str],
  baseline: OutputArtifact[Model],
):
  """Copies the served version into the artifact (TFX's Model layout).

  `cache_key` is what the runner saw served when it built the pipeline
  (LocalDagRunner caches on exec properties: a new push must miss the
  cache); the compiled Kubeflow package turns caching off for this task.
  """
  newest = newest_version(serving_model_dir)
  tf.io.gfile.makedirs(baseline.uri)
  baseline.set_int_custom_property(FOUND, int(newest is not None))
  if newest is None:
    return
  version, directory = newest
  io_utils.copy_dir(
    directory, os.path.join(baseline.uri, names.SERVING_MODEL_DIR)
  )
  baseline.set_string_custom_property(PUSHED_VERSION, version)
  baseline.set_string_custom_property(PUSHED_DESTINATION, directory)


class _BaselineAwareExecutor(evaluator_executor.Executor):
  """TFX's Evaluator executor, leaving out a production baseline that found
  nothing (as if the baseline channel were empty: TFMA then drops the change
  thresholds and blesses on the value thresholds alone)."""

  def Do(
    self,
    input_dict: Dict[str, List[Artifact]],
    output_dict: Dict[str, List[Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    key = standard_component_specs.BASELINE_MODEL_KEY
    if input_dict.get(key) and not all(map(is_found, input_dict[key])):
      input_dict = {k: v for k, v in input_dict.items() if k != key}
    super().Do(input_dict, output_dict, exec_properties)


class BaselineAwareEvaluator(tfx.components.Evaluator):
  """TFX's Evaluator that takes production_baseline's output as its
  baseline_model, found or not."""

  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(_BaselineAwareExecutor)
