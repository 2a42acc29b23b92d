"""CsvExampleGen with stratified splits (see stratified_split.py) that never
holds its input.

The component is TFX's file-based ExampleGen with CsvExampleGen's reader and a
Beam executor that replaces the hash partitioning; the output config's
`hash_buckets` act as split weights.

CsvExampleGen infers the column types from every row before it converts one,
the split needs every row's stratum before it assigns one, and TFX
reshuffles each split before writing it. A runner keeps a PCollection whole
across such a step, and the DirectRunner keeps it in memory: with the three,
ExampleGen grew by 3.1 GB on 1M rows. Here the files are read four times
instead, for the column types, the stratum counts, the rows at the split
boundaries and the split itself, whose rows then go from the reader to the
output files in one fused step. Each split keeps the files' row order (the
Trainer shuffles its input).
"""

import hashlib
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np
import tensorflow as tf
from tfx import v1 as tfx
from tfx.components import FileBasedExampleGen
from tfx.components.example_gen import write_split
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import import_utils, io_utils, proto_utils
from tfx_bsl.coders import csv_decoder

from components import (
  csv_check,
  custom_config,
  stratified_boundaries,
  stratified_split,
  tfx_internal,
)
from core import names

# Keys of the component's custom config.
ID_FEATURE = 'id_feature'
STRATUM_FN = 'stratum_fn'


# First value of a non-empty cell by column type, as CsvExampleGen's
# tf.Example holds it (a FloatList keeps float32).
_FIRST_VALUE = {
  csv_decoder.ColumnType.INT: int,
  csv_decoder.ColumnType.FLOAT: lambda cell: float(np.float32(float(cell))),
  csv_decoder.ColumnType.STRING: bytes,
}


def first_values(cells, column_infos) -> Dict[str, Any]:
  """Column name -> the first value of the feature CsvExampleGen makes of
  the cell, or None when that feature is empty; without making the
  tf.Example, which costs more than the split needs."""
  return {
    info.name: _FIRST_VALUE[info.type](cell)
    if cell and info.type in _FIRST_VALUE
    else None
    for cell, info in zip(cells, column_infos)
  }


def _stratum_and_hash(
  cells, column_infos, id_feature: str, stratum_fn
) -> Tuple[Any, int]:
  values = first_values(cells, column_infos)
  row_id = values.get(id_feature)
  key = (
    row_id
    if isinstance(row_id, bytes)
    else str(row_id).encode()
    if row_id is not None
    else b'\0'.join(cells)  # No id: the row itself (NUL is not CSV text).
  )
  return stratum_fn(values), stratified_split.row_hash(key)


def _keyed(cells, column_infos, id_feature: str, stratum_fn):
  """(stratum, hash) and the cells of a CSV line; nothing of a blank line,
  which CsvExampleGen skips."""
  if cells:
    yield _stratum_and_hash(cells, column_infos, id_feature, stratum_fn), cells


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


def _configs(
  exec_properties: Dict[str, Any],
) -> Tuple[tfx.proto.Input, tfx.proto.Output]:
  input_config = tfx.proto.Input()
  proto_utils.json_to_proto(exec_properties['input_config'], input_config)
  output_config = tfx.proto.Output()
  proto_utils.json_to_proto(exec_properties['output_config'], output_config)
  return input_config, output_config


def _input_files(exec_properties: Dict[str, Any]) -> List[str]:
  input_config, _ = _configs(exec_properties)
  return sorted(
    path
    for split in input_config.splits
    for path in tf.io.gfile.glob(
      os.path.join(exec_properties['input_base'], split.pattern)
    )
  )


class CsvReads:
  """CSV files read anew at each `lines` call, and made into the tf.Examples
  CsvExampleGen makes of them: the same column types, inferred from every row
  by one more read."""

  def __init__(self, pipeline: beam.Pipeline, files: Sequence[str]):
    self._pipeline, self._files = pipeline, files
    self.column_infos = beam.pvalue.AsSingleton(
      self.lines('ColumnTypes')
      | 'InferColumnTypes'
      >> beam.CombineGlobally(
        csv_decoder.ColumnTypeInferrer(
          io_utils.load_csv_column_names(files[0]), skip_blank_lines=True
        )
      )
    )

  def lines(self, read: str) -> beam.pvalue.PCollection:
    """Each CSV line's cells, read under the name `read`."""
    return (
      self._pipeline
      | f'Files[{read}]' >> beam.Create(self._files)
      | f'Records[{read}]' >> beam.ParDo(tfx_internal.ReadCsvRecords())
      | f'Parse[{read}]' >> beam.ParDo(csv_decoder.ParseCSVLine(delimiter=','))
      | f'Cells[{read}]' >> beam.Keys()
    )

  def examples(self, lines: beam.pvalue.PCollection, name: str):
    return lines | f'ToExample[{name}]' >> beam.ParDo(
      tfx_internal.ParsedCsvToExample(), self.column_infos
    )


class Executor(csv_executor.Executor):
  """Reads CSV like CsvExampleGen, then splits by label stratum; records
  the content fingerprint of its input files on the Examples artifact."""

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    """BaseExampleGenExecutor.Do without the Reshuffle before the write,
    which would hold each split whole."""
    self._log_startup(input_dict, output_dict, exec_properties)
    _, output_config = _configs(exec_properties)
    examples_artifact = artifact_utils.get_single_instance(
      output_dict[names.EXAMPLES]
    )
    split_names = [split.name for split in output_config.split_config.splits]
    examples_artifact.split_names = artifact_utils.encode_split_names(
      split_names
    )
    with self._make_beam_pipeline() as pipeline:
      splits = self.GenerateExamplesByBeam(pipeline, exec_properties)
      for name, examples in splits.items():
        _ = (
          examples
          | f'Serialize[{name}]' >> beam.Map(lambda e: e.SerializeToString())
          | f'Write[{name}]'
          >> beam.io.WriteToTFRecord(
            os.path.join(
              artifact_utils.get_split_uri([examples_artifact], name),
              write_split.DEFAULT_TF_RECORD_FILE_NAME,
            ),
            file_name_suffix='.gz',
          )
        )
    payload_format = exec_properties.get(
      standard_component_specs.OUTPUT_DATA_FORMAT_KEY
    )
    if payload_format:
      examples_utils.set_payload_format(examples_artifact, payload_format)
    file_format = exec_properties.get(
      standard_component_specs.OUTPUT_FILE_FORMAT_KEY
    )
    if file_format:
      examples_utils.set_file_format(
        examples_artifact, write_split.to_file_format_str(file_format)
      )
    examples_artifact.set_string_custom_property(
      names.INPUT_FILES,
      json.dumps(content_fingerprints(_input_files(exec_properties))),
    )

  def GenerateExamplesByBeam(
    self, pipeline: beam.Pipeline, exec_properties: Dict[str, Any]
  ) -> Dict[str, beam.pvalue.PCollection]:
    input_config, output_config = _configs(exec_properties)
    splits = output_config.split_config.splits
    if len(input_config.splits) != 1 or not splits:
      raise ValueError(
        'Stratified splitting needs one input split and an output split_config.'
      )
    files = _input_files(exec_properties)
    csv_check.check_csv_files(files)
    config = custom_config.unpack(exec_properties)
    stratum_fn = import_utils.import_func_from_module(
      *config[STRATUM_FN].rsplit('.', 1)
    )
    reads = CsvReads(pipeline, files)

    def keyed(read: str):
      return reads.lines(read) | f'StratumAndHash[{read}]' >> beam.FlatMap(
        _keyed, reads.column_infos, config[ID_FEATURE], stratum_fn
      )

    # Counts and a few hash buckets in one place, not every row's hash.
    boundaries = (
      keyed('Count') | 'CountKeys' >> beam.Keys(),
      keyed('Search') | 'SearchKeys' >> beam.Keys(),
    ) | 'Boundaries' >> stratified_boundaries.SplitBoundaries(
      [split.hash_buckets for split in splits]
    )
    partitions = keyed('Split') | 'SplitData' >> beam.Partition(
      lambda keyed_lines, _, cuts: stratified_split.split_index(
        cuts, *keyed_lines[0]
      ),
      len(splits),
      beam.pvalue.AsSingleton(boundaries),
    )
    return {
      split.name: reads.examples(
        partition | f'Cells[{split.name}]' >> beam.Values(), split.name
      )
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
