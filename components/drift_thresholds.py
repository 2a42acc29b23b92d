"""Distances between categorical distributions whose thresholds account for
the feature's number of values and the sample sizes.

A fixed L-infinity threshold is blind to features with many values: shifting
every trip's start hour by 8 hours moves no single hour's share by 10 points,
and on one request every feature looks skewed. Here a categorical feature is
compared by Jensen-Shannon divergence (base 2: 0 same, 1 disjoint), and its
threshold is calibrated: the distance between random samples drawn from the
training distribution at the sizes being compared (both sides), at a high
percentile. A comparison whose noise at those sizes is above the smallest
change worth seeing (the schema's threshold) is not made; it says how many
rows it needs instead.
"""

import dataclasses
import zlib
from typing import Dict, Optional

import numpy as np
from tensorflow_metadata.proto.v0 import statistics_pb2

# Random pairs of samples per calibration, and the percentile of their
# distances above which a comparison is a finding. With about ten compared
# features, 99.9 keeps the chance that clean data gives a finding near 1 %.
CALIBRATION_SAMPLES = 2000
CALIBRATION_PERCENTILE = 99.9
JENSEN_SHANNON = 'jensen_shannon_divergence'


@dataclasses.dataclass(frozen=True)
class Comparison:
  """One feature's distance and the threshold it was held to."""

  feature: str
  metric: str
  value: Optional[float]
  threshold: float
  # Rows of the smaller side; None when the comparison was made.
  rows: int
  rows_needed: Optional[int] = None
  method: str = 'calibrated'

  @property
  def compared(self) -> bool:
    return self.rows_needed is None

  @property
  def exceeded(self) -> bool:
    return self.compared and self.value > self.threshold

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


def value_counts(
  feature: statistics_pb2.FeatureNameStatistics,
) -> Dict[str, float]:
  """Value -> count of a categorical feature's statistics (all its values:
  the rank histogram; the top values when there is none)."""
  string_stats = feature.string_stats
  buckets = string_stats.rank_histogram.buckets
  if buckets:
    return {b.label: b.sample_count for b in buckets}
  return {v.value: v.frequency for v in string_stats.top_values}


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> np.ndarray:
  """Base-2 Jensen-Shannon divergence of distributions along the last axis
  (counts are normalised)."""
  p = p / p.sum(axis=-1, keepdims=True)
  q = q / q.sum(axis=-1, keepdims=True)
  m = (p + q) / 2

  def kl(a):
    with np.errstate(divide='ignore', invalid='ignore'):
      terms = np.where(a > 0, a * np.log2(a / m), 0.0)
    return terms.sum(axis=-1)

  return np.clip((kl(p) + kl(q)) / 2, 0.0, 1.0)


def noise_threshold(
  training_frequencies: np.ndarray, rows_a: int, rows_b: int, seed: int
) -> float:
  """The CALIBRATION_PERCENTILE of the distance between two random samples
  of rows_a and rows_b values drawn from the training distribution."""
  rng = np.random.default_rng(seed)
  p = training_frequencies / training_frequencies.sum()
  a = rng.multinomial(rows_a, p, size=CALIBRATION_SAMPLES)
  b = rng.multinomial(rows_b, p, size=CALIBRATION_SAMPLES)
  return float(np.percentile(jensen_shannon(a, b), CALIBRATION_PERCENTILE))


def rows_needed(
  training_frequencies: np.ndarray,
  other_rows: int,
  ceiling: float,
  seed: int,
  limit: int = 1 << 20,
) -> int:
  """The fewest rows whose noise threshold against `other_rows` rows is at
  most `ceiling` (within a factor of 2^(1/8): a search over sizes)."""
  rows = 2
  while rows < limit:
    if noise_threshold(training_frequencies, other_rows, rows, seed) <= ceiling:
      break
    rows *= 2
  # Refine between rows / 2 and rows.
  low, high = rows // 2, rows
  for _ in range(8):
    middle = (low + high) // 2
    if middle in (low, high):
      break
    if (
      noise_threshold(training_frequencies, other_rows, middle, seed) <= ceiling
    ):
      high = middle
    else:
      low = middle
  return high


def compare_categorical(
  feature: str,
  training: Dict[str, float],
  reference: Dict[str, float],
  observed: Dict[str, float],
  ceiling: float,
) -> Comparison:
  """Jensen-Shannon divergence between `reference` and `observed` value
  counts, calibrated on samples of the `training` distribution at their
  sizes. `reference` is the training counts for skew, the previous span's
  for drift. `ceiling`: the smallest distance worth seeing (the schema's
  threshold); a comparison whose noise is above it is not made."""
  values = sorted(set(training) | set(reference) | set(observed))
  # Half a count for every value seen anywhere: values the training sample
  # missed (rare companies) can turn up in random samples too.
  frequencies = np.array([training.get(v, 0.0) + 0.5 for v in values])
  reference_counts = np.array([reference.get(v, 0.0) for v in values])
  observed_counts = np.array([observed.get(v, 0.0) for v in values])
  reference_rows = int(round(reference_counts.sum()))
  observed_rows = int(round(observed_counts.sum()))
  seed = zlib.crc32(feature.encode())  # Same sizes, same threshold.
  smaller, larger = sorted((reference_rows, observed_rows))
  threshold = (
    noise_threshold(frequencies, reference_rows, observed_rows, seed)
    if smaller
    else 1.0
  )
  if threshold > ceiling:
    return Comparison(
      feature,
      JENSEN_SHANNON,
      None,
      round(threshold, 6),
      smaller,
      rows_needed(frequencies, larger, ceiling, seed),
    )
  value = float(jensen_shannon(reference_counts, observed_counts))
  return Comparison(
    feature, JENSEN_SHANNON, round(value, 6), round(threshold, 6), smaller
  )
