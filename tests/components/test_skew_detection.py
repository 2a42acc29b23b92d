"""The detection functions on small protos."""

import json

from tensorflow_data_validation.skew.protos import feature_skew_results_pb2
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

import schema
from components import feature_skew, skew_detection
from core import artifacts
from models import features


def _curated_schema():
  return artifacts.read_schema(schema.SCHEMA_DIR)


def test_serving_schema_expects_what_the_server_takes():
  schema = skew_detection.serving_schema(
    _curated_schema(), features.TRIP_ID, features.SERVING_FEATURES
  )
  assert list(schema.default_environment) == ['SERVING']
  by_name = {f.name: f for f in schema.feature}
  for name in (features.TRIP_ID, 'trip_start_timestamp'):
    assert by_name[name].presence.min_count == 0
    assert by_name[name].value_count.min == 0
  assert by_name['fare'].presence.min_fraction == 1.0


def test_features_not_served_are_not_compared_by_id():
  ignored = feature_skew.features_to_ignore(
    _curated_schema(), features.SERVING_FEATURES, features.TRIP_ID
  )
  assert set(ignored) == {
    'tips',
    'trip_start_timestamp',
    'pickup_census_tract',
    'dropoff_census_tract',
  }


def test_comparable_statistics_use_the_quantiles_histogram():
  stats = statistics_pb2.DatasetFeatureStatisticsList()
  feature = stats.datasets.add().features.add(name='fare')
  histogram = statistics_pb2.Histogram
  feature.num_stats.histograms.add(type=histogram.STANDARD, num_nan=1)
  feature.num_stats.histograms.add(type=histogram.QUANTILES, num_nan=2)
  result = skew_detection.comparable_statistics(stats)
  (kept,) = result.datasets[0].features[0].num_stats.histograms
  assert (kept.type, kept.num_nan) == (histogram.STANDARD, 2)
  assert len(stats.datasets[0].features[0].num_stats.histograms) == 2


def test_feature_skew_threshold_is_a_share_of_joined_pairs():
  results = [
    feature_skew_results_pb2.FeatureSkew(
      feature_name='fare',
      match_count=90,
      mismatch_count=8,
      base_only=2,
      diff_count=10,
    ),
    feature_skew_results_pb2.FeatureSkew(
      feature_name='company', match_count=99, mismatch_count=1, diff_count=1
    ),
    feature_skew_results_pb2.FeatureSkew(feature_name='empty'),
  ]
  (finding,) = skew_detection.feature_skew_findings(results, threshold=0.05)
  assert (finding.feature, finding.kind, finding.value) == (
    'fare',
    skew_detection.FEATURE_SKEW,
    0.1,
  )
  assert skew_detection.joined_examples(results) == 100


def test_report_round_trips_and_prints(tmp_path):
  findings = [
    skew_detection.Finding(
      'fare',
      skew_detection.DISTRIBUTION_SKEW,
      'jensen_shannon_divergence',
      0.9,
      0.15,
      'far',
    ),
    skew_detection.Finding(
      'company',
      skew_detection.SCHEMA_SKEW,
      'SCHEMA_MISSING_COLUMN',
      None,
      None,
      'Column dropped',
    ),
  ]
  path = tmp_path / 'out' / 'report.json'
  skew_detection.write_report(
    skew_detection.make_report(findings, model_version='3'), str(path)
  )
  report = json.loads(path.read_text())
  assert report['counts'] == {
    'schema_skew': 1,
    'feature_skew': 0,
    'distribution_skew': 1,
    'drift': 0,
    'model_quality': 0,
    'concept_drift': 0,
  }
  assert skew_detection.read_findings(report) == findings
  table = skew_detection.format_table(findings)
  assert 'distribution_skew  fare' in table and 'Column dropped' in table
  assert skew_detection.format_table([]) == 'No skew or drift found.'


def test_schema_anomalies_become_schema_skew():
  anomalies = anomalies_pb2.Anomalies()
  info = anomalies.anomaly_info['payment_type']
  info.reason.add(
    type=anomalies_pb2.AnomalyInfo.ENUM_TYPE_UNEXPECTED_STRING_VALUES,
    description='Examples contain values missing from the schema: Crypto.',
  )
  (finding,) = skew_detection.schema_skew_findings(anomalies)
  assert finding == skew_detection.Finding(
    'payment_type',
    skew_detection.SCHEMA_SKEW,
    'ENUM_TYPE_UNEXPECTED_STRING_VALUES',
    None,
    None,
    'Examples contain values missing from the schema: Crypto.',
  )
