"""The stratified split's Beam code: the same boundaries as the in-memory
function without gathering the rows, and the same split on a portable runner
(separate SDK worker processes) as computed in memory."""

import random

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from tfx.utils import proto_utils

from components import stratified_boundaries, stratified_split
from components import stratified_example_gen as gen
from pipeline.pipeline import STRATUM_FN
from tests.conftest import sample_rows, write_rows

WEIGHTS = [8, 1, 1]


def _random_strata(n, seed):
  rng = random.Random(seed)
  strata = [(True, b'Cash'), (False, b'Cash'), (True, None), (None, b'x')]
  pairs = [
    (rng.choices(strata, weights=[40, 50, 9, 1])[0], rng.getrandbits(63))
    for _ in range(n)
  ]
  pairs.append(((False, b'solo'), rng.getrandbits(63)))  # Cuts past its end.
  # Rows in one bucket, so cuts fall inside a crowded bucket.
  base = rng.getrandbits(stratified_boundaries.BUCKET_BITS) << (
    63 - stratified_boundaries.BUCKET_BITS
  )
  pairs += [((True, b'Cash'), base + i) for i in range(300)]
  return pairs


def _in_memory(pairs):
  by_stratum = {}
  for stratum, h in pairs:
    by_stratum.setdefault(stratum, []).append(h)
  return stratified_split.split_boundaries(by_stratum, WEIGHTS)


@pytest.mark.parametrize('seed', [1, 2])
def test_beam_boundaries_equal_the_in_memory_ones(seed):
  pairs = _random_strata(3000, seed)
  with beam.Pipeline() as pipeline:
    boundaries = (
      pipeline | 'Counted' >> beam.Create(pairs),
      pipeline | 'Searched' >> beam.Create(pairs),
    ) | stratified_boundaries.SplitBoundaries(WEIGHTS)
    assert_that(boundaries, equal_to([_in_memory(pairs)]))


def _exec_properties(input_base):
  component = gen.stratified_csv_example_gen(
    input_base=str(input_base),
    split_weights=list(zip(['train', 'eval', 'test'], WEIGHTS)),
    id_feature='trip_id',
    stratum_fn=STRATUM_FN,
  )
  props = dict(component.exec_properties)
  for key in ('input_config', 'output_config', 'custom_config'):
    if not isinstance(props[key], str):
      props[key] = proto_utils.proto_to_json(props[key])
  props['input_base'] = str(input_base)
  return props


def _trip_id(example):
  return example.features.feature['trip_id'].bytes_list.value[0].decode()


def _run_example_gen(props, options, out_dir):
  with beam.Pipeline(options=PipelineOptions(options)) as pipeline:
    splits = gen.Executor().GenerateExamplesByBeam(pipeline, props)
    for name, examples in splits.items():
      _ = (
        examples
        | f'Id[{name}]' >> beam.Map(_trip_id)
        | f'Write[{name}]' >> beam.io.WriteToText(str(out_dir / name))
      )
  return {
    name: sorted(
      line.strip()
      for path in tf.io.gfile.glob(str(out_dir / f'{name}*'))
      for line in open(path)
    )
    for name in ('train', 'eval', 'test')
  }


@beam.ptransform_fn
def _gathered_boundaries(stratum_hashes, weights):
  """The former way: every hash in one dict, split_boundaries on it."""
  counted, _ = stratum_hashes
  return (
    counted
    | beam.GroupByKey()
    | beam.combiners.ToDict()
    | beam.Map(stratified_split.split_boundaries, weights)
  )


def test_example_gen_splits_on_a_portable_runner_as_before(
  portable_args, tmp_path, monkeypatch
):
  rows = sample_rows(600, seed=3)
  write_rows(tmp_path / 'data' / 'data.csv', rows)
  props = _exec_properties(tmp_path / 'data')
  got = _run_example_gen(props, portable_args, tmp_path / 'portable')
  assert sum(map(len, got.values())) == len(rows)
  assert 50 <= len(got['test']) <= 70
  monkeypatch.setattr(
    gen.stratified_boundaries, 'SplitBoundaries', _gathered_boundaries
  )
  assert got == _run_example_gen(props, [], tmp_path / 'direct')
