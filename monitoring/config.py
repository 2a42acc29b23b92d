"""The monitoring pipeline's configuration: one frozen value per run."""

import dataclasses
from typing import Optional, Tuple

import schema
from core import names
from core.lineage import TrainingLineage
from models import features


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
class MonitoringPipelineConfig:
  """Everything create_monitoring_pipeline needs."""

  serving_data: ServingData
  # What trained the served version (found through ML Metadata lineage).
  baseline: TrainingLineage
  pipeline_root: str
  report_path: str
  metadata_uri: Optional[str] = None
  pipeline_name: str = names.MONITORING_PIPELINE
  # The curated schema (schema.pbtxt): types, domains and the comparators'
  # thresholds, as they are now (the training-time copy is in the baseline).
  schema_dir: str = schema.SCHEMA_DIR
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
  # Feedback labels (file or directory) joined on the id: live model
  # quality and concept drift. The gate is the training pipeline's
  # QualityGate (the runners pass it).
  labels_path: Optional[str] = None
  min_auc: float = 0.0
  min_f1: float = 0.0
  beam_pipeline_args: Tuple[str, ...] = ()
  # Every run checks new data: nothing worth caching.
  enable_cache: bool = False
