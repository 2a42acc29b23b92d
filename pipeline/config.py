"""The pipeline's configuration: one frozen value built by each runner."""

import dataclasses
import os
from typing import Optional, Tuple, Union

from tfx import v1 as tfx

import schema
from components import quality_analysis
from core import names

# The user code TFX loads from module files (Transform, Trainer).
MODELS_DIR = os.path.join(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'models'
)


@dataclasses.dataclass(frozen=True)
class QualityGate:
  """What the Evaluator demands of a candidate model on the test split."""

  min_auc: float = 0.94
  min_f1: float = 0.80
  # How much AUC a candidate may lose against the last blessed model.
  max_auc_drop: float = 0.01
  # (metric, baseline) pairs on which no baseline may beat the candidate
  # (model_analysis): AUC and log loss against the simple trained baseline,
  # F1 at the exported threshold against the rule.
  beat_baselines: Tuple[Tuple[str, str], ...] = quality_analysis.DEFAULT_GATE
  # How much worse than a baseline a candidate may be on those metrics.
  baseline_tolerance: float = 0.0


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  """Everything create_pipeline needs; paths may be local or gs:// / s3://."""

  # A RuntimeParameter lets a Kubeflow run form set it.
  data_root: Union[str, tfx.dsl.experimental.RuntimeParameter]
  pipeline_root: str
  serving_model_dir: str
  pipeline_name: str = names.TRAINING_PIPELINE
  # ML Metadata: an SQLite path or mysql://… (see core/metadata_uri.py);
  # None where the orchestrator provides it (Kubeflow).
  metadata_uri: Optional[str] = None
  schema_dir: str = schema.SCHEMA_DIR
  transform_module: str = os.path.join(MODELS_DIR, 'preprocessing.py')
  trainer_module: str = os.path.join(MODELS_DIR, 'trainer.py')
  # Or a RuntimeParameter (ptype str) holding TrainArgs JSON such as
  # '{"num_steps": 3000}': one can only stand for a whole exec property.
  train_steps: Union[int, tfx.dsl.experimental.RuntimeParameter] = 3000
  split_weights: Tuple[Tuple[str, int], ...] = (
    (names.TRAIN_SPLIT, 8),
    (names.EVAL_SPLIT, 1),
    (names.TEST_SPLIT, 1),
  )
  quality_gate: QualityGate = QualityGate()
  # The rule baseline: "a big tip exactly when FEATURE == VALUE".
  rule_baseline: Tuple[str, str] = ('payment_type', 'Credit Card')
  # model_analysis's feature report (it retrains the trees once per feature).
  feature_report: bool = True
  # infra_validator: the p99 latency budget of a request to the served
  # candidate (ms).
  infra_p99_budget_ms: float = 2000.0
  # Gate on the last blessed model too; False where the orchestrator cannot
  # resolve artifacts of earlier runs (Kubeflow Pipelines' own backend).
  compare_with_blessed_model: bool = True
  beam_pipeline_args: Tuple[str, ...] = ()
  enable_cache: bool = True
