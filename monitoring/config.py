"""The monitoring pipeline's configuration: one frozen value per run."""

import dataclasses
import os
from typing import Optional, Tuple

from models import features
from pipeline.config import PROJECT_DIR

PIPELINE_NAME = 'taxi_monitoring'
# Split names of the serving examples the monitoring pipeline writes.
SERVING_SPLIT = 'serving'
PREVIOUS_SPLIT = 'previous'


@dataclasses.dataclass(frozen=True)
class Baseline:
  """What trained the model version that served the requests, found through
  ML Metadata lineage (see baseline.py). URIs are of existing artifacts."""

  model_version: str
  pushed_model_uri: str
  model_uri: str
  examples_uri: str
  statistics_uri: str
  schema_uri: str
  # The split of the training data the serving data is compared with.
  split: str = 'train'


@dataclasses.dataclass(frozen=True)
class ServingData:
  """Where the serving rows are: files (CSV, JSON lines, request logs)
  matched by `patterns` relative to `input_base`, one pattern per span."""

  input_base: str
  newest_pattern: str
  previous_pattern: Optional[str] = None
  # Request-log records served by another model version are skipped.
  model_version: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class MonitoringConfig:
  """Everything create_monitoring_pipeline needs."""

  serving_data: ServingData
  baseline: Baseline
  pipeline_root: str
  report_path: str
  metadata_uri: Optional[str] = None
  pipeline_name: str = PIPELINE_NAME
  # The curated schema (schema.pbtxt): types, domains and the comparators'
  # thresholds, as they are now (the training-time copy is in the baseline).
  schema_dir: str = os.path.join(PROJECT_DIR, 'schema')
  # Identifies an example in training and serving data (feature-skew join).
  id_feature: str = features.TRIP_ID
  # Features the server takes; the others (besides the id) may be absent from
  # serving data without a schema finding.
  served_features: Tuple[str, ...] = features.SERVING_FEATURES
  # A feature is skewed when its value differs in more than this fraction of
  # the serving examples joined to a training example by id.
  feature_skew_threshold: float = 0.01
  # Floats are compared at this many decimals (float32 round trips).
  float_round_ndigits: int = 4
  beam_pipeline_args: Tuple[str, ...] = ()
  # Every run checks new data: nothing worth caching.
  enable_cache: bool = False
