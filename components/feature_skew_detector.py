"""Feature skew as a TFX component: training vs serving values of the same
example id (the Beam logic is in feature_skew.py)."""

import os
from typing import Any, Dict, List, Sequence

import apache_beam as beam
import tensorflow as tf
from tfx.dsl.components.base import (
  base_beam_component,
  base_beam_executor,
  executor_spec,
)
from tfx.types import artifact_utils, component_spec
from tfx.v1.dsl import Artifact, Channel
from tfx.v1.types.standard_artifacts import Examples, Schema

from components import feature_skew
from core import artifacts, names


class FeatureSkewResults(Artifact):
  """TFDV FeatureSkew protos (TFRecord) of a training/serving join."""

  TYPE_NAME = 'FeatureSkewResults'


class FeatureSkewSpec(component_spec.ComponentSpec):
  PARAMETERS = {
    'id_feature': component_spec.ExecutionParameter(type=str),
    'serving_split': component_spec.ExecutionParameter(type=str),
    'float_round_ndigits': component_spec.ExecutionParameter(type=int),
    # Comma-separated: the features the server takes.
    'served_features': component_spec.ExecutionParameter(type=str),
  }
  INPUTS = {
    'baseline_examples': component_spec.ChannelParameter(type=Examples),
    'serving_examples': component_spec.ChannelParameter(type=Examples),
    names.SCHEMA: component_spec.ChannelParameter(type=Schema),
  }
  OUTPUTS = {
    names.FEATURE_SKEW: component_spec.ChannelParameter(
      type=FeatureSkewResults
    ),
  }


def _example_files(artifact: Artifact, splits: List[str]) -> List[str]:
  files = []
  for split in splits:
    split_uri = artifacts.split_uri(artifact, split)
    files += sorted(
      os.path.join(split_uri, name) for name in tf.io.gfile.listdir(split_uri)
    )
  return files


def _read_examples(pipeline, files: List[str], label: str):
  return (
    pipeline
    | f'Files[{label}]' >> beam.Create(files)
    | f'Read[{label}]'
    >> beam.io.ReadAllFromTFRecord(
      coder=beam.coders.ProtoCoder(tf.train.Example)
    )
  )


class FeatureSkewExecutor(base_beam_executor.BaseBeamExecutor):
  """tfdv.DetectFeatureSkew between every training example and the serving
  examples that carry its id."""

  def Do(
    self,
    input_dict: Dict[str, List[Artifact]],
    output_dict: Dict[str, List[Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    baseline = artifact_utils.get_single_instance(
      input_dict['baseline_examples']
    )
    serving = artifact_utils.get_single_instance(input_dict['serving_examples'])
    schema = artifacts.read_schema(
      artifact_utils.get_single_instance(input_dict[names.SCHEMA]).uri
    )
    output = artifact_utils.get_single_instance(output_dict[names.FEATURE_SKEW])
    id_feature = exec_properties['id_feature']
    baseline_files = _example_files(baseline, artifacts.split_names(baseline))
    serving_files = _example_files(serving, [exec_properties['serving_split']])
    with self._make_beam_pipeline() as pipeline:
      _ = (
        (
          _read_examples(pipeline, baseline_files, 'training'),
          _read_examples(pipeline, serving_files, 'serving'),
        )
        | 'DetectSkew'
        >> feature_skew.DetectSkew(
          id_feature,
          feature_skew.features_to_ignore(
            schema, exec_properties['served_features'].split(','), id_feature
          ),
          exec_properties['float_round_ndigits'],
        )
        | 'WriteSkew'
        >> feature_skew.WriteSkew(
          os.path.join(output.uri, names.SKEW_RESULTS_FILE),
          os.path.join(output.uri, names.SKEW_PAIRS_FILE),
        )
      )


class FeatureSkewDetector(base_beam_component.BaseBeamComponent):
  """Feature skew: training vs serving values of the same example id."""

  SPEC_CLASS = FeatureSkewSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(FeatureSkewExecutor)

  def __init__(
    self,
    baseline_examples,
    serving_examples,
    schema,
    id_feature: str,
    float_round_ndigits: int,
    served_features: Sequence[str],
    serving_split: str = names.SERVING_SPLIT,
  ):
    super().__init__(
      spec=FeatureSkewSpec(
        baseline_examples=baseline_examples,
        serving_examples=serving_examples,
        schema=schema,
        id_feature=id_feature,
        serving_split=serving_split,
        float_round_ndigits=float_round_ndigits,
        served_features=','.join(served_features),
        feature_skew=Channel(type=FeatureSkewResults),
      )
    )


def read_results(artifact: Artifact):
  """The FeatureSkew protos of a FeatureSkewResults artifact."""
  return feature_skew.read_feature_skew(
    os.path.join(artifact.uri, names.SKEW_RESULTS_FILE)
  )
