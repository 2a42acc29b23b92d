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
from typing import Dict, Iterable, List, Optional, Sequence

import tensorflow_data_validation as tfdv
from tensorflow_data_validation.skew.protos import feature_skew_results_pb2
from tensorflow_metadata.proto.v0 import (
  anomalies_pb2,
  schema_pb2,
  statistics_pb2,
)

from components import data_gate, drift_thresholds
from core import names

SERVING_ENVIRONMENT = 'SERVING'
SCHEMA_SKEW = 'schema_skew'
FEATURE_SKEW = 'feature_skew'
DISTRIBUTION_SKEW = 'distribution_skew'
DRIFT = 'drift'
# With feedback labels (components/live_quality.py).
MODEL_QUALITY = 'model_quality'
CONCEPT_DRIFT = 'concept_drift'
KINDS = (
  SCHEMA_SKEW,
  FEATURE_SKEW,
  DISTRIBUTION_SKEW,
  DRIFT,
  MODEL_QUALITY,
  CONCEPT_DRIFT,
)
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


# Numeric features are compared by TFDV (Jensen-Shannon divergence of the
# quantile histograms, the schema's threshold). Below this many rows on a
# side the quantile histogram is too coarse for that threshold: samples of
# 100 held-out trips differ from a 1,600-trip training split by up to 0.2,
# of 200 trips by up to 0.13 (docs/monitoring.md).
NUMERIC_MIN_ROWS = 200


def _is_categorical(feature: schema_pb2.Feature) -> bool:
  return feature.type == schema_pb2.BYTES or (
    feature.HasField('int_domain') and feature.int_domain.is_categorical
  )


def _comparator(feature: schema_pb2.Feature, kind: str):
  return (
    feature.skew_comparator
    if kind == DISTRIBUTION_SKEW
    else feature.drift_comparator
  )


def _ceiling(comparator) -> Optional[float]:
  """The schema comparator's threshold; None when it compares nothing."""
  for field in ('jensen_shannon_divergence', 'infinity_norm'):
    if comparator.HasField(field):
      return getattr(comparator, field).threshold
  return None


def _features_by_name(statistics: statistics_pb2.DatasetFeatureStatisticsList):
  return {
    '.'.join(f.path.step) if f.path.step else f.name: f
    for f in statistics.datasets[0].features
  }


def _rows(feature: statistics_pb2.FeatureNameStatistics) -> int:
  common = (
    feature.num_stats.common_stats
    if feature.HasField('num_stats')
    else feature.string_stats.common_stats
  )
  return int(common.num_non_missing)


def _numeric_comparisons(
  reference: statistics_pb2.DatasetFeatureStatisticsList,
  observed: statistics_pb2.DatasetFeatureStatisticsList,
  schema: schema_pb2.Schema,
  kind: str,
  numeric: set,
) -> List[drift_thresholds.Comparison]:
  """TFDV's comparisons of the numeric features (schema thresholds)."""
  numeric_schema = schema_pb2.Schema()
  numeric_schema.CopyFrom(schema)
  for feature in numeric_schema.feature:
    if feature.name not in numeric:
      _comparator(feature, kind).Clear()
  reference_side = comparable_statistics(reference)
  observed_side = comparable_statistics(observed)
  if kind == DISTRIBUTION_SKEW:
    anomalies = tfdv.validate_statistics(
      reference_side,
      numeric_schema,
      environment=SERVING_ENVIRONMENT,
      serving_statistics=observed_side,
    )
  else:
    anomalies = tfdv.validate_statistics(
      observed_side,
      numeric_schema,
      environment=SERVING_ENVIRONMENT,
      previous_statistics=reference_side,
    )
  result = []
  for info in anomalies.drift_skew_info:
    feature = '.'.join(info.path.step)
    measurements = (
      info.skew_measurements
      if kind == DISTRIBUTION_SKEW
      else info.drift_measurements
    )
    for m in measurements:
      result.append(
        drift_thresholds.Comparison(
          feature,
          _MEASUREMENT_NAMES.get(m.type, str(m.type)),
          round(m.value, 6),
          m.threshold,
          0,
          method='schema',
        )
      )
  return result


def comparisons(
  reference: statistics_pb2.DatasetFeatureStatisticsList,
  observed: statistics_pb2.DatasetFeatureStatisticsList,
  schema: schema_pb2.Schema,
  kind: str,
  training: Optional[statistics_pb2.DatasetFeatureStatisticsList] = None,
) -> List[drift_thresholds.Comparison]:
  """Every comparator of `kind` (DISTRIBUTION_SKEW: reference = training,
  observed = serving; DRIFT: reference = previous span, observed = newest)
  over the features present on both sides. Categorical features: calibrated
  Jensen-Shannon divergence on samples of `training` (default: reference);
  numeric ones: TFDV's with the schema threshold. A side with too few rows
  gives a comparison that was not made (rows_needed)."""
  training = training if training is not None else reference
  reference_features = _features_by_name(reference)
  observed_features = _features_by_name(observed)
  training_features = _features_by_name(training)
  result, numeric = [], set()
  for feature in schema.feature:
    ceiling = _ceiling(_comparator(feature, kind))
    name = feature.name
    if (
      ceiling is None
      or name not in reference_features
      or name not in observed_features
    ):
      continue  # Absent: a schema finding says so.
    rows = min(_rows(reference_features[name]), _rows(observed_features[name]))
    if _is_categorical(feature):
      result.append(
        drift_thresholds.compare_categorical(
          name,
          drift_thresholds.value_counts(
            training_features.get(name, reference_features[name])
          ),
          drift_thresholds.value_counts(reference_features[name]),
          drift_thresholds.value_counts(observed_features[name]),
          ceiling,
        )
      )
    elif rows < NUMERIC_MIN_ROWS:
      result.append(
        drift_thresholds.Comparison(
          name,
          'jensen_shannon_divergence',
          None,
          ceiling,
          rows,
          NUMERIC_MIN_ROWS,
          method='schema',
        )
      )
    else:
      numeric.add(name)
  if numeric:
    measured = _numeric_comparisons(reference, observed, schema, kind, numeric)
    rows_of = {
      name: min(_rows(reference_features[name]), _rows(observed_features[name]))
      for name in numeric
    }
    result += [
      dataclasses.replace(c, rows=rows_of[c.feature]) for c in measured
    ]
  return sorted(result, key=lambda c: c.feature)


def _findings(
  compared: Sequence[drift_thresholds.Comparison], kind: str, between: str
) -> List[Finding]:
  return [
    Finding(
      c.feature,
      kind,
      c.metric,
      c.value,
      c.threshold,
      f'{c.metric} between {between} is {c.value:.3f} > {c.threshold:.3g}'
      + (
        ' (calibrated: random samples of the training data of these sizes '
        f'differ by up to {c.threshold:.3g} in '
        f'{drift_thresholds.CALIBRATION_PERCENTILE:g} % of draws)'
        if c.method == 'calibrated'
        else ''
      ),
    )
    for c in compared
    if c.exceeded
  ]


def distribution_skew_findings(
  training: statistics_pb2.DatasetFeatureStatisticsList,
  serving: statistics_pb2.DatasetFeatureStatisticsList,
  schema: schema_pb2.Schema,
) -> List[Finding]:
  """Features whose skew_comparator distance between training and serving
  statistics is above its threshold."""
  return _findings(
    comparisons(training, serving, schema, DISTRIBUTION_SKEW),
    DISTRIBUTION_SKEW,
    'training and serving distributions',
  )


def not_compared(
  compared: Sequence[drift_thresholds.Comparison], kind: str
) -> List[dict]:
  """The comparisons too few rows kept from being made, for the report."""
  return [
    {
      'feature': c.feature,
      'kind': kind,
      'rows': c.rows,
      'rows_needed': c.rows_needed,
      'description': (
        f'{kind} of {c.feature} not compared: {c.rows} rows, the comparison '
        f'needs at least {c.rows_needed}'
      ),
    }
    for c in compared
    if not c.compared
  ]


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


@dataclasses.dataclass(frozen=True)
class Checks:
  """Every finding of one check, and every distance behind them."""

  findings: List[Finding]
  # Per kind (distribution_skew, drift): every comparison made or not made.
  comparisons: Dict[str, List[drift_thresholds.Comparison]]

  def comparisons_json(self) -> dict:
    return {
      kind: [c.to_json() for c in compared]
      for kind, compared in self.comparisons.items()
    }

  def not_compared(self) -> List[dict]:
    return [
      note
      for kind, compared in self.comparisons.items()
      for note in not_compared(compared, kind)
    ]


def all_checks(
  schema: schema_pb2.Schema,
  serving: statistics_pb2.DatasetFeatureStatisticsList,
  schema_anomalies: anomalies_pb2.Anomalies,
  training: statistics_pb2.DatasetFeatureStatisticsList,
  skew_results: Iterable[feature_skew_results_pb2.FeatureSkew],
  feature_skew_threshold: float,
  previous: Optional[statistics_pb2.DatasetFeatureStatisticsList] = None,
) -> Checks:
  """Every check of one monitoring run; `schema` is the serving schema."""
  skew = comparisons(training, serving, schema, DISTRIBUTION_SKEW)
  findings = schema_skew_findings(schema_anomalies)
  findings += _findings(
    skew, DISTRIBUTION_SKEW, 'training and serving distributions'
  )
  findings += feature_skew_findings(skew_results, feature_skew_threshold)
  compared = {DISTRIBUTION_SKEW: skew}
  if previous is not None:
    drift = comparisons(previous, serving, schema, DRIFT, training)
    findings += _findings(drift, DRIFT, 'the previous and the newest span')
    compared[DRIFT] = drift
  return Checks(findings, compared)


def all_findings(*args, **kwargs) -> List[Finding]:
  """The findings of all_checks (same arguments)."""
  return all_checks(*args, **kwargs).findings


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
