"""The checks, as plain functions over TFDV protos; the components and the
tests call them.

Finding kinds: schema_skew (serving data breaks the schema in the SERVING
environment), distribution_skew (a feature's distribution differs between
training and serving), feature_skew (the same example, joined by id, has
different values in training and serving), drift (a feature's distribution
differs between the previous and the newest span of serving data).
"""

import dataclasses
import json
import os
from typing import Iterable, List, Optional, Sequence

import tensorflow_data_validation as tfdv
from tensorflow_data_validation.skew.protos import feature_skew_results_pb2
from tensorflow_metadata.proto.v0 import (
  anomalies_pb2,
  schema_pb2,
  statistics_pb2,
)

from components import data_gate
from core import names

SERVING_ENVIRONMENT = 'SERVING'
SCHEMA_SKEW = 'schema_skew'
FEATURE_SKEW = 'feature_skew'
DISTRIBUTION_SKEW = 'distribution_skew'
DRIFT = 'drift'
KINDS = (SCHEMA_SKEW, FEATURE_SKEW, DISTRIBUTION_SKEW, DRIFT)
FEATURE_SKEW_METRIC = 'mismatch_fraction'
_MEASUREMENT_NAMES = {
  anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: 'l_infinity',
  anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: 'jensen_shannon_divergence',
  anomalies_pb2.DriftSkewInfo.Measurement.NORMALIZED_ABSOLUTE_DIFFERENCE: 'normalized_absolute_difference',
}


@dataclasses.dataclass(frozen=True)
class Finding:
  feature: str
  kind: str
  metric: str
  value: Optional[float]
  threshold: Optional[float]
  description: str

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


# --- Schema -----------------------------------------------------------------------------------------


def serving_schema(
  schema: schema_pb2.Schema, id_feature: str, served_features: Sequence[str]
) -> schema_pb2.Schema:
  """The schema as serving data must follow it: the SERVING environment only
  (so ExampleValidator and validate_statistics apply it without being told),
  with the id and the features the server does not take (e.g.
  trip_start_timestamp) optional: a request carries neither."""
  result = schema_pb2.Schema()
  result.CopyFrom(schema)
  del result.default_environment[:]
  result.default_environment.append(SERVING_ENVIRONMENT)
  served = set(served_features)
  for feature in result.feature:
    if feature.name == id_feature or feature.name not in served:
      feature.presence.min_fraction = 0.0
      feature.presence.min_count = 0
      if feature.HasField('value_count'):
        feature.value_count.min = 0
  return result


# --- Schema skew ------------------------------------------------------------------------------------


def schema_skew_findings(anomalies: anomalies_pb2.Anomalies) -> List[Finding]:
  """One finding per (feature, reason) of ExampleValidator's anomalies."""
  return [
    Finding(f.feature, SCHEMA_SKEW, f.kind, None, None, f.description)
    for f in data_gate.describe(names.SERVING_SPLIT, anomalies)
  ]


# --- Distribution skew and drift --------------------------------------------------------------------


def comparable_statistics(
  statistics: statistics_pb2.DatasetFeatureStatisticsList,
) -> statistics_pb2.DatasetFeatureStatisticsList:
  """A copy whose numeric features' histogram for TFDV's comparators is the
  equal-mass (quantiles) histogram.

  TFDV's Jensen-Shannon divergence rebuckets the STANDARD histograms (equal
  width between min and max) assuming values spread evenly inside each
  bucket. One outlier stretches that range, and point masses (the taxi
  coordinates are area centroids, many trips are 0 miles) break the
  assumption: two samples of the same data then differ by 0.3-0.5. Quantile
  buckets follow the data, which brings that noise under 0.1.
  """
  result = statistics_pb2.DatasetFeatureStatisticsList()
  result.CopyFrom(statistics)
  histogram = statistics_pb2.Histogram
  for dataset in result.datasets:
    for feature in dataset.features:
      if not feature.HasField('num_stats'):
        continue
      histograms = feature.num_stats.histograms
      quantiles = [h for h in histograms if h.type == histogram.QUANTILES]
      if not quantiles:
        continue
      kept = statistics_pb2.Histogram()
      kept.CopyFrom(quantiles[0])
      kept.type = histogram.STANDARD
      del histograms[:]
      histograms.append(kept)
  return result


def _feature_names(statistics: statistics_pb2.DatasetFeatureStatisticsList):
  names = set()
  for dataset in statistics.datasets:
    for feature in dataset.features:
      names.add(
        '.'.join(feature.path.step) if feature.path.step else feature.name
      )
  return names


def _comparisons(
  anomalies: anomalies_pb2.Anomalies, kind: str, present: set, describe
) -> List[Finding]:
  findings = []
  for info in anomalies.drift_skew_info:
    feature = '.'.join(info.path.step)
    if feature not in present:  # Absent: a schema finding says so.
      continue
    measurements = (
      info.skew_measurements
      if kind == DISTRIBUTION_SKEW
      else info.drift_measurements
    )
    for m in measurements:
      if m.value > m.threshold:
        metric = _MEASUREMENT_NAMES.get(m.type, str(m.type))
        findings.append(
          Finding(
            feature,
            kind,
            metric,
            round(m.value, 6),
            m.threshold,
            describe(metric, m),
          )
        )
  return sorted(findings, key=lambda f: f.feature)


def distribution_skew_findings(
  training: statistics_pb2.DatasetFeatureStatisticsList,
  serving: statistics_pb2.DatasetFeatureStatisticsList,
  schema: schema_pb2.Schema,
) -> List[Finding]:
  """Features whose skew_comparator distance between training and serving
  statistics is above its threshold."""
  anomalies = tfdv.validate_statistics(
    comparable_statistics(training),
    schema,
    environment=SERVING_ENVIRONMENT,
    serving_statistics=comparable_statistics(serving),
  )
  return _comparisons(
    anomalies,
    DISTRIBUTION_SKEW,
    _feature_names(serving),
    lambda metric, m: (
      f'{metric} between training and serving '
      f'distributions is {m.value:.3f} > {m.threshold}'
    ),
  )


def drift_findings(
  previous: statistics_pb2.DatasetFeatureStatisticsList,
  newest: statistics_pb2.DatasetFeatureStatisticsList,
  schema: schema_pb2.Schema,
) -> List[Finding]:
  """Features whose drift_comparator distance between the previous and the
  newest span is above its threshold."""
  anomalies = tfdv.validate_statistics(
    comparable_statistics(newest),
    schema,
    environment=SERVING_ENVIRONMENT,
    previous_statistics=comparable_statistics(previous),
  )
  return _comparisons(
    anomalies,
    DRIFT,
    _feature_names(newest) & _feature_names(previous),
    lambda metric, m: (
      f'{metric} between the previous and the newest span '
      f'is {m.value:.3f} > {m.threshold}'
    ),
  )


# --- Feature skew -----------------------------------------------------------------------------------


def feature_skew_findings(
  results: Iterable[feature_skew_results_pb2.FeatureSkew], threshold: float
) -> List[Finding]:
  """Features whose value differs, for the same example id, in more than
  `threshold` of the joined training/serving pairs."""
  findings = []
  for result in results:
    pairs = result.match_count + result.diff_count
    if not pairs:
      continue
    fraction = result.diff_count / pairs
    if fraction > threshold:
      findings.append(
        Finding(
          result.feature_name,
          FEATURE_SKEW,
          FEATURE_SKEW_METRIC,
          round(fraction, 6),
          threshold,
          f'{result.diff_count} of {pairs} serving examples joined by id to '
          f'their training example differ ({result.mismatch_count} other '
          f'value, {result.base_only} missing in serving, '
          f'{result.test_only} missing in training)',
        )
      )
  return sorted(findings, key=lambda f: f.feature)


def all_findings(
  schema: schema_pb2.Schema,
  serving: statistics_pb2.DatasetFeatureStatisticsList,
  schema_anomalies: anomalies_pb2.Anomalies,
  training: statistics_pb2.DatasetFeatureStatisticsList,
  skew_results: Iterable[feature_skew_results_pb2.FeatureSkew],
  feature_skew_threshold: float,
  previous: Optional[statistics_pb2.DatasetFeatureStatisticsList] = None,
) -> List[Finding]:
  """Every finding of one check; `schema` is the serving schema."""
  findings = schema_skew_findings(schema_anomalies)
  findings += distribution_skew_findings(training, serving, schema)
  findings += feature_skew_findings(skew_results, feature_skew_threshold)
  if previous is not None:
    findings += drift_findings(previous, serving, schema)
  return findings


def joined_examples(
  results: Iterable[feature_skew_results_pb2.FeatureSkew],
) -> int:
  """How many (training, serving) pairs the feature-skew join compared."""
  return max((r.match_count + r.diff_count for r in results), default=0)


# --- Report -----------------------------------------------------------------------------------------


def make_report(findings: Sequence[Finding], **context) -> dict:
  counts = {kind: sum(f.kind == kind for f in findings) for kind in KINDS}
  return {
    **context,
    'counts': counts,
    'findings': [f.to_json() for f in findings],
  }


def write_report(report: dict, path: str) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  staging = f'{path}.tmp'
  with open(staging, 'w') as f:
    json.dump(report, f, indent=2, sort_keys=False)
    f.write('\n')
  os.replace(staging, path)


def read_findings(report: dict) -> List[Finding]:
  return [Finding(**f) for f in report['findings']]


def format_table(findings: Sequence[Finding], width: int = 70) -> str:
  if not findings:
    return 'No skew or drift found.'
  rows = [('kind', 'feature', 'metric', 'value', 'threshold')]
  for f in findings:
    rows.append(
      (
        f.kind,
        f.feature,
        f.metric,
        '' if f.value is None else f'{f.value:.4g}',
        '' if f.threshold is None else f'{f.threshold:g}',
      )
    )
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  lines = [
    '  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows
  ]
  lines.insert(1, '  '.join('-' * w for w in widths))
  for f in findings:
    if f.kind == SCHEMA_SKEW:
      lines.append(f'  {f.feature}: {f.description[:width]}')
  return '\n'.join(lines)
