"""stratified_split.split_boundaries as a Beam transform that never brings
the data into one worker.

The split boundaries are, per stratum, the hashes at given ranks (from the
stratum counts, stratified_split.cut_positions). Gathering every hash into
one dict, as the in-memory function takes them, puts a value per row in a
single worker: 8 bytes a row on the wire and several times that in Python.
Here the ranks are found in two passes instead, each holding only counts in
one place:
1. per stratum, the row count, the largest hash and a histogram of the hashes
   over 2**16 buckets of the hash range (combined across workers);
2. from those, the bucket and in-bucket offset of each cut rank; then only the
   rows of those few buckets are grouped (about rows / 65536 each) and sorted
   to read off the hash at the offset.
The result equals split_boundaries' exactly, so the rows each split gets do
not change. Each pass reads the pairs anew (the caller gives them twice): a
PCollection used by both passes would be kept whole between them, and the
DirectRunner keeps it in memory.
"""

import bisect
from typing import Dict, Hashable, List, Sequence, Tuple

import apache_beam as beam

from components import stratified_split

BUCKET_BITS = 16
_SHIFT = 63 - BUCKET_BITS  # row_hash is below 2**63.


def bucket(hash_value: int) -> int:
  return hash_value >> _SHIFT


class _Summary(beam.CombineFn):
  """(row count, largest hash, {bucket: rows}) of one stratum's hashes."""

  def create_accumulator(self):
    return [0, -1, {}]

  def add_input(self, accumulator, hash_value):
    accumulator[0] += 1
    accumulator[1] = max(accumulator[1], hash_value)
    b = bucket(hash_value)
    accumulator[2][b] = accumulator[2].get(b, 0) + 1
    return accumulator

  def merge_accumulators(self, accumulators):
    count, largest, histogram = 0, -1, {}
    for c, m, h in accumulators:
      count += c
      largest = max(largest, m)
      for b, n in h.items():
        histogram[b] = histogram.get(b, 0) + n
    return [count, largest, histogram]

  def extract_output(self, accumulator):
    return accumulator


def locate_cuts(
  summaries: Dict[Hashable, list], weights: Sequence[float]
) -> Dict[Hashable, List[Tuple]]:
  """Per stratum, for each cut: ('past', largest + 1) when the cut rank is
  past the stratum's end, else ('at', bucket, offset in that bucket)."""
  positions = stratified_split.cut_positions(
    {k: s[0] for k, s in summaries.items()}, weights
  )
  located = {}
  for stratum, ranks in positions.items():
    count, largest, histogram = summaries[stratum]
    buckets = sorted(histogram)
    starts, total = [], 0
    for b in buckets:
      starts.append(total)
      total += histogram[b]
    cuts = []
    for rank in ranks:
      if rank >= count:
        cuts.append(('past', largest + 1))
      else:
        i = bisect.bisect_right(starts, rank) - 1
        cuts.append(('at', buckets[i], rank - starts[i]))
    located[stratum] = cuts
  return located


def _wanted(keyed_hash, located):
  stratum, hash_value = keyed_hash
  b = bucket(hash_value)
  return any(c[0] == 'at' and c[1] == b for c in located.get(stratum, ()))


def _values_at_offsets(bucket_hashes, located):
  (stratum, b), hashes = bucket_hashes
  ordered = sorted(hashes)
  for i, cut in enumerate(located[stratum]):
    if cut[0] == 'at' and cut[1] == b:
      yield stratum, (i, ordered[cut[2]])


def _assemble(found: List, located) -> Dict[Hashable, List[int]]:
  values = {(stratum, i): v for stratum, (i, v) in found}
  return {
    stratum: [
      cut[1] if cut[0] == 'past' else values[(stratum, i)]
      for i, cut in enumerate(cuts)
    ]
    for stratum, cuts in located.items()
  }


@beam.ptransform_fn
def SplitBoundaries(stratum_hashes, weights: Sequence[float]):  # pylint: disable=invalid-name
  """(counted, searched), the same (stratum, row hash) pairs read twice ->
  one dict, as split_boundaries returns."""
  counted, searched = stratum_hashes
  located = (
    counted
    | 'Summaries' >> beam.CombinePerKey(_Summary())
    | 'AllSummaries' >> beam.combiners.ToDict()
    | 'LocateCuts' >> beam.Map(locate_cuts, weights)
  )
  located_view = beam.pvalue.AsSingleton(located)
  found = (
    searched
    | 'CutBuckets' >> beam.Filter(_wanted, located_view)
    | 'ByBucket' >> beam.Map(lambda kv: ((kv[0], bucket(kv[1])), kv[1]))
    | 'GroupBuckets' >> beam.GroupByKey()
    | 'ValuesAtCuts' >> beam.FlatMap(_values_at_offsets, located_view)
    | 'AllCuts' >> beam.combiners.ToList()
  )
  return found | 'Boundaries' >> beam.Map(_assemble, located_view)
