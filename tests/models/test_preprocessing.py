"""preprocessing_fn with real TFT analyzers (Beam, in memory) on a few rows."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from models import features
from models.preprocessing import preprocessing_fn

FLOAT = tf.float32
INT = tf.int64


def _raw_spec():
  spec = {
    key: tf.io.VarLenFeature(FLOAT)
    for key in (
      features.LOG_ZSCORE_FEATURES + features.MINMAX_FEATURES + ('tips',)
    )
  }
  spec.update(
    {
      key: tf.io.VarLenFeature(INT)
      for key in (
        features.HOUR_FEATURE,
        'trip_start_day',
        'trip_start_month',
        'pickup_community_area',
        'dropoff_community_area',
      )
    }
  )
  spec.update(
    {key: tf.io.VarLenFeature(tf.string) for key in features.STRING_FEATURES}
  )
  return spec


def _row(fare, tips, payment, hour, lat, miles=1.0, seconds=300):
  return {
    'fare': [fare] if fare is not None else [],
    'tips': [tips],
    'trip_miles': [miles],
    'trip_seconds': [seconds],
    'pickup_latitude': [lat] if lat is not None else [],
    'pickup_longitude': [-87.6],
    'dropoff_latitude': [41.9],
    'dropoff_longitude': [-87.6],
    'trip_start_hour': [hour],
    'trip_start_day': [3],
    'trip_start_month': [5],
    'pickup_community_area': [8],
    'dropoff_community_area': [],
    'payment_type': [payment.encode()] if payment else [],
    'company': [b'Flash Cab'],
  }


ROWS = [
  _row(5.0, 2.0, 'Credit Card', 0, 41.80),
  _row(10.0, 0.0, 'Cash', 6, 41.85),
  _row(20.0, 5.0, 'Credit Card', 12, 41.90),
  _row(40.0, 0.0, 'Cash', 18, 41.95),
  _row(None, 1.0, 'Cash', 23, None),
  _row(8.0, 2.0, None, 9, 42.00),
]


# The pipeline's Transform builds its graph in compat.v1 mode
# (pipeline/pipeline.py); TF2 mode is TFT's default elsewhere.
@pytest.fixture(scope='module', params=[True, False], ids=['tf1-graph', 'tf2'])
def transformed(request, tmp_path_factory):
  metadata = dataset_metadata.DatasetMetadata(
    schema_utils.schema_from_feature_spec(_raw_spec())
  )
  with tft_beam.Context(
    temp_dir=str(tmp_path_factory.mktemp('tft')),
    force_tf_compat_v1=request.param,
  ):
    (rows, _), _ = (ROWS, metadata) | tft_beam.AnalyzeAndTransformDataset(
      preprocessing_fn
    )
  return {key: np.array([row[key] for row in rows]) for key in rows[0]}


def test_fare_is_log_z_scored_and_missing_fare_is_the_mean(transformed):
  logged = np.log1p([5.0, 10.0, 20.0, 40.0, 8.0])
  expected = (logged - logged.mean()) / logged.std()
  got = transformed['fare_xf']
  np.testing.assert_allclose(np.delete(got, 4), expected, rtol=1e-4)
  assert got[4] == 0.0
  np.testing.assert_array_equal(
    transformed['fare_missing_xf'], [0, 0, 0, 0, 1, 0]
  )


def test_latitude_is_min_max_scaled(transformed):
  np.testing.assert_allclose(
    transformed['pickup_latitude_xf'],
    [0.0, 0.25, 0.5, 0.75, 0.5, 1.0],
    atol=1e-4,
  )
  assert transformed['pickup_latitude_missing_xf'][4] == 1.0


def test_hour_is_bucketized_by_quantiles_with_a_bucket_for_missing(transformed):
  buckets = transformed[features.bucket_name('trip_start_hour')]
  order = np.argsort([0, 6, 12, 18, 23, 9])
  assert list(buckets[order]) == sorted(buckets)  # monotonic in the hour
  assert buckets.min() == 0 and buckets.max() == 5
  assert transformed[features.bucket_name('pickup_latitude')][4] == 10


def test_vocabulary_ranks_by_frequency_and_maps_missing_to_its_token(
  transformed,
):
  ids = transformed['payment_type_xf']
  assert ids[1] == ids[3] == ids[4] == 0  # Cash: most frequent
  assert ids[0] == ids[2] == 1
  assert ids[5] not in (0, 1)  # the missing token


def test_label_is_a_tip_over_a_fifth_of_the_fare(transformed):
  np.testing.assert_array_equal(transformed[features.LABEL], [1, 0, 1, 0, 0, 1])


def test_cross_combines_payment_type_and_fare_bucket(transformed):
  fare_buckets = features.BUCKET_COUNTS['fare'] + 1
  np.testing.assert_array_equal(
    transformed[features.CROSS_NAME],
    transformed['payment_type_xf'] * fare_buckets
    + transformed[features.bucket_name('fare')],
  )
  assert transformed[features.CROSS_NAME].max() < features.CROSS_IDS
