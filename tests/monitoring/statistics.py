"""Statistics of tf.Example files as the pipeline's StatisticsGen computes
them: read without a schema (a value of the wrong type is counted, not
rejected), summarised with it (categorical integers get value counts)."""

import os
import tempfile

import apache_beam as beam
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx_bsl.public import tfxio


def generate(
  file_pattern: str, schema: schema_pb2.Schema
) -> statistics_pb2.DatasetFeatureStatisticsList:
  with tempfile.TemporaryDirectory() as tmp:
    output = os.path.join(tmp, 'stats.pb')
    with beam.Pipeline() as pipeline:
      _ = (
        pipeline
        | 'Read'
        >> tfxio.TFExampleRecord(
          file_pattern, telemetry_descriptors=['monitoring']
        ).BeamSource()
        | 'Statistics'
        >> tfdv.GenerateStatistics(tfdv.StatsOptions(schema=schema))
        | 'Write' >> tfdv.WriteStatisticsToBinaryFile(output)
      )
    return tfdv.load_stats_binary(output)
