"""Feature skew: TFDV's DetectFeatureSkew between training examples and the
serving examples that carry the same id."""

import os
import tempfile
from typing import Iterable, List, Sequence

import apache_beam as beam
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.skew.protos import feature_skew_results_pb2
from tensorflow_data_validation.skew.protos.feature_skew_results_pb2 import (
  SkewPair,
)
from tensorflow_metadata.proto.v0 import schema_pb2

SAMPLE_PAIRS = 10


def has_id(example: tf.train.Example, id_feature: str) -> bool:
  feature = example.features.feature.get(id_feature)
  kind = feature.WhichOneof('kind') if feature is not None else None
  return bool(kind and getattr(feature, kind).value)


def features_to_ignore(
  schema: schema_pb2.Schema, served_features: Sequence[str], id_feature: str
) -> List[str]:
  """Schema features the server does not take (the label source, the
  timestamp, ...): absent from request logs by design, so not compared."""
  served = set(served_features) | {id_feature}
  return [f.name for f in schema.feature if f.name not in served]


def WriteProtos(path: str, message_type) -> beam.PTransform:
  """One uncompressed TFRecord file of `message_type` protos (what TFDV's
  own skew writers write, through Beam's public API)."""
  return beam.io.WriteToTFRecord(
    path, shard_name_template='', coder=beam.coders.ProtoCoder(message_type)
  )


def read_feature_skew(path: str) -> List[feature_skew_results_pb2.FeatureSkew]:
  """The FeatureSkew protos of a results file; [] when it is missing."""
  if not tf.io.gfile.exists(path):
    return []
  return [
    feature_skew_results_pb2.FeatureSkew.FromString(record)
    for record in tf.compat.v1.io.tf_record_iterator(path)
  ]


@beam.ptransform_fn
def WriteSkew(detected, results_path: str, pairs_path: str):
  """Writes DetectSkew's (results, pairs) to two TFRecord files."""
  results, pairs = detected
  _ = results | 'WriteResults' >> WriteProtos(
    results_path, feature_skew_results_pb2.FeatureSkew
  )
  return pairs | 'WritePairs' >> WriteProtos(pairs_path, SkewPair)


@beam.ptransform_fn
def DetectSkew(
  datasets,
  id_feature: str,
  features_to_ignore: Sequence[str],
  float_round_ndigits: int,
):
  """(training, serving) tf.Example PCollections -> (FeatureSkew results,
  sample SkewPairs). Serving examples without an id are left out."""
  training, serving = datasets
  with_id = serving | 'WithId' >> beam.Filter(has_id, id_feature)
  return (training, with_id) | 'DetectFeatureSkew' >> tfdv.DetectFeatureSkew(
    identifier_features=[id_feature],
    features_to_ignore=list(features_to_ignore),
    sample_size=SAMPLE_PAIRS,
    float_round_ndigits=float_round_ndigits,
    # A trip may be requested more than once.
    allow_duplicate_identifiers=True,
  )


def detect(
  training: Iterable[tf.train.Example],
  serving: Iterable[tf.train.Example],
  id_feature: str,
  features_to_ignore: Sequence[str] = (),
  float_round_ndigits: int = 4,
) -> List[feature_skew_results_pb2.FeatureSkew]:
  """DetectSkew on in-memory examples (tests, small inputs)."""
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, 'skew.tfrecord')
    with beam.Pipeline() as pipeline:
      results, _ = (
        pipeline | 'Training' >> beam.Create(list(training)),
        pipeline | 'Serving' >> beam.Create(list(serving)),
      ) | DetectSkew(id_feature, features_to_ignore, float_round_ndigits)
      _ = results | WriteProtos(path, feature_skew_results_pb2.FeatureSkew)
    return read_feature_skew(path)
