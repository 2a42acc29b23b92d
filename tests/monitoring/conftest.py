"""Monitoring fixtures: the baseline of the session's trained model (found in
its ML Metadata) and an in-process version of the monitoring pipeline's
checks over rows of the real taxi data."""

import glob
import os
import random

import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv

import schema
from components import feature_skew, serving_rows, skew_detection
from core import artifacts
from models import features
from monitoring.config import MonitoringPipelineConfig
from tests.conftest import E2E_ROWS, read_rows, sample_rows
from tests.monitoring import statistics


def without_label(rows):
  """Copies without the label source, which serving data lacks."""
  return [{k: v for k, v in row.items() if k != features.TIPS} for row in rows]


@pytest.fixture(scope='session')
def training_rows():
  """The rows the session's model was trained (and evaluated) on."""
  return without_label(sample_rows(E2E_ROWS))


@pytest.fixture(scope='session')
def held_out_rows(training_rows):
  """Taxi rows the model never saw, shuffled."""
  seen = {row[features.TRIP_ID] for row in training_rows}
  rest = [row for row in read_rows() if row[features.TRIP_ID] not in seen]
  random.Random(11).shuffle(rest)
  return without_label(rest)


class Checker:
  """The monitoring pipeline's checks, run in this process on rows."""

  def __init__(self, baseline, tmp_dir):
    self.schema = artifacts.read_schema(schema.SCHEMA_DIR)
    self.serving_schema = skew_detection.serving_schema(
      self.schema, features.TRIP_ID, features.SERVING_FEATURES
    )
    self.training_statistics = tfdv.load_stats_binary(
      artifacts.statistics_path(baseline.statistics_uri, baseline.split)
    )
    self.training_examples = [
      tf.train.Example.FromString(record.numpy())
      for record in tf.data.TFRecordDataset(
        sorted(glob.glob(os.path.join(baseline.examples_uri, 'Split-*', '*'))),
        compression_type='GZIP',
      )
    ]
    self._tmp_dir = tmp_dir
    self._count = 0

  def examples(self, rows):
    return list(
      serving_rows.rows_to_examples(rows, self.schema, from_text=True)
    )

  def statistics(self, examples):
    """As StatisticsGen computes them (typed by the schema)."""
    self._count += 1
    path = os.path.join(self._tmp_dir, f'examples-{self._count}.tfrecord')
    with tf.io.TFRecordWriter(path) as writer:
      for example in examples:
        writer.write(example.SerializeToString())
    return statistics.generate(path, self.schema)

  def findings(self, rows, previous_rows=None, with_feature_skew=True):
    return self.checks(rows, previous_rows, with_feature_skew).findings

  def checks(self, rows, previous_rows=None, with_feature_skew=True):
    examples = self.examples(rows)
    serving = self.statistics(examples)
    anomalies = tfdv.validate_statistics(serving, self.serving_schema)
    skew = (
      feature_skew.detect(
        self.training_examples,
        examples,
        features.TRIP_ID,
        feature_skew.features_to_ignore(
          self.schema, features.SERVING_FEATURES, features.TRIP_ID
        ),
      )
      if with_feature_skew
      else []
    )
    previous = (
      self.statistics(self.examples(previous_rows))
      if previous_rows is not None
      else None
    )
    return skew_detection.all_checks(
      self.serving_schema,
      serving,
      anomalies,
      self.training_statistics,
      skew,
      MonitoringPipelineConfig.feature_skew_threshold,
      previous,
    )


@pytest.fixture(scope='session')
def checker(baseline, tmp_path_factory):
  return Checker(baseline, str(tmp_path_factory.mktemp('checks')))


def flagged(findings, kind=None):
  """{(feature, kind)} of the findings (of one kind)."""
  return {
    (f.feature, f.kind) for f in findings if kind is None or f.kind == kind
  }
