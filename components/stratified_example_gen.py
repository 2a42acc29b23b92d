"""CsvExampleGen with stratified splits (see stratified_split.py).

The component is TFX's file-based ExampleGen with CsvExampleGen's reader and a
Beam executor that replaces the hash partitioning; the output config's
`hash_buckets` act as split weights.
"""

import hashlib
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import apache_beam as beam
import tensorflow as tf
from tfx import v1 as tfx
from tfx.components import FileBasedExampleGen
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.dsl.components.base import executor_spec
from tfx.utils import import_utils, proto_utils

from components import (
  csv_check,
  custom_config,
  stratified_boundaries,
  stratified_split,
)
from core import names

# Keys of the component's custom config.
ID_FEATURE = 'id_feature'
STRATUM_FN = 'stratum_fn'


def first_values(example: tf.train.Example) -> Dict[str, Any]:
  """Feature name -> its first value, or None when the feature is empty."""
  values = {}
  for name, feature in example.features.feature.items():
    kind = feature.WhichOneof('kind')
    listed = getattr(feature, kind).value if kind else []
    values[name] = listed[0] if listed else None
  return values


def _stratum_and_hash(
  example: tf.train.Example, id_feature: str, stratum_fn
) -> Tuple[Any, int]:
  values = first_values(example)
  row_id = values.get(id_feature)
  key = (
    row_id
    if isinstance(row_id, bytes)
    else str(row_id).encode()
    if row_id is not None
    else example.SerializeToString(deterministic=True)
  )
  return stratum_fn(values), stratified_split.row_hash(key)


def content_fingerprints(paths: Sequence[str]) -> List[Dict[str, Any]]:
  """Path, size and SHA-256 of each file: TFX's own input fingerprint sums
  modification times, which says nothing about what the files held."""
  fingerprints = []
  for path in sorted(paths):
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, 'rb') as f:
      for block in iter(lambda: f.read(1 << 20), b''):
        digest.update(block)
    fingerprints.append(
      {
        'path': path,
        'bytes': tf.io.gfile.stat(path).length,
        'sha256': digest.hexdigest(),
      }
    )
  return fingerprints


def _input_files(exec_properties: Dict[str, Any]) -> List[str]:
  input_config = tfx.proto.Input()
  proto_utils.json_to_proto(exec_properties['input_config'], input_config)
  return [
    path
    for split in input_config.splits
    for path in tf.io.gfile.glob(
      os.path.join(exec_properties['input_base'], split.pattern)
    )
  ]


class Executor(csv_executor.Executor):
  """Reads CSV like CsvExampleGen, then splits by label stratum; records
  the content fingerprint of its input files on the Examples artifact."""

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    super().Do(input_dict, output_dict, exec_properties)
    fingerprints = content_fingerprints(_input_files(exec_properties))
    for examples in output_dict[names.EXAMPLES]:
      examples.set_string_custom_property(
        names.INPUT_FILES, json.dumps(fingerprints)
      )

  def GenerateExamplesByBeam(
    self, pipeline: beam.Pipeline, exec_properties: Dict[str, Any]
  ) -> Dict[str, beam.pvalue.PCollection]:
    input_config = tfx.proto.Input()
    proto_utils.json_to_proto(exec_properties['input_config'], input_config)
    output_config = tfx.proto.Output()
    proto_utils.json_to_proto(exec_properties['output_config'], output_config)
    splits = output_config.split_config.splits
    if len(input_config.splits) != 1 or not splits:
      raise ValueError(
        'Stratified splitting needs one input split and an output split_config.'
      )
    csv_check.check_csv_files(
      tf.io.gfile.glob(
        os.path.join(
          exec_properties['input_base'], input_config.splits[0].pattern
        )
      )
    )
    config = custom_config.unpack(exec_properties)
    stratum_fn = import_utils.import_func_from_module(
      *config[STRATUM_FN].rsplit('.', 1)
    )
    weights = [split.hash_buckets for split in splits]

    examples = (
      pipeline
      | 'InputToRecord'
      >> self.GetInputSourceToExamplePTransform()(
        exec_properties, input_config.splits[0].pattern
      )
    )
    keyed = examples | 'StratumAndHash' >> beam.Map(
      lambda ex: (_stratum_and_hash(ex, config[ID_FEATURE], stratum_fn), ex)
    )
    boundaries = (
      keyed
      | 'Keys' >> beam.Keys()
      # Counts and a few hash buckets in one place, not every row's hash.
      | 'Boundaries' >> stratified_boundaries.SplitBoundaries(weights)
    )
    partitions = keyed | 'SplitData' >> beam.Partition(
      lambda keyed_example, _, cuts: stratified_split.split_index(
        cuts, *keyed_example[0]
      ),
      len(splits),
      beam.pvalue.AsSingleton(boundaries),
    )
    return {
      split.name: partition | f'Drop keys[{split.name}]' >> beam.Values()
      for split, partition in zip(splits, partitions)
    }


def stratified_csv_example_gen(
  input_base: str,
  split_weights: Sequence[Tuple[str, int]],
  id_feature: str,
  stratum_fn: str,
  input_config: Optional[tfx.proto.Input] = None,
) -> FileBasedExampleGen:
  """A CsvExampleGen whose splits each keep the overall label rate.

  Args:
    input_base: directory of CSV files (one header each, the same columns).
    split_weights: (split name, relative size) pairs, e.g. train 8, eval 1.
    id_feature: column identifying a row; its hash decides the assignment.
    stratum_fn: 'module.function' taking a dict of a row's first values and
      returning its stratum, a (label, group) pair: the label (None where it
      cannot be computed) and a covariate to balance within each label (e.g.
      the payment type); see stratified_split.allocate.
    input_config: which files under input_base to read (default: all).
  """
  return FileBasedExampleGen(
    input_base=input_base,
    input_config=input_config,
    output_config=tfx.proto.Output(
      split_config=tfx.proto.SplitConfig(
        splits=[
          tfx.proto.SplitConfig.Split(name=name, hash_buckets=weight)
          for name, weight in split_weights
        ]
      )
    ),
    custom_config=custom_config.pack(
      {ID_FEATURE: id_feature, STRATUM_FN: stratum_fn}
    ),
    custom_executor_spec=executor_spec.BeamExecutorSpec(Executor),
  )
