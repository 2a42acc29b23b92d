"""The pipeline's configuration: one frozen value built by each runner."""

import dataclasses
import os
from typing import Optional, Tuple, Union

from tfx.orchestration import data_types

import models

PIPELINE_NAME = 'taxi'
MODELS_DIR = os.path.dirname(os.path.abspath(models.__file__))
PROJECT_DIR = os.path.dirname(MODELS_DIR)


@dataclasses.dataclass(frozen=True)
class QualityGate:
  """What the Evaluator demands of a candidate model on the test split."""

  min_auc: float = 0.94
  min_f1: float = 0.80
  # How much AUC a candidate may lose against the last blessed model.
  max_auc_drop: float = 0.01


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  """Everything create_pipeline needs; paths may be local or gs:// / s3://."""

  # A RuntimeParameter lets a Kubeflow run form set it.
  data_root: Union[str, data_types.RuntimeParameter]
  pipeline_root: str
  serving_model_dir: str
  pipeline_name: str = PIPELINE_NAME
  # ML Metadata: an SQLite path or mysql://… (see metadata_uri.py); None
  # where the orchestrator provides it (Kubeflow).
  metadata_uri: Optional[str] = None
  schema_dir: str = os.path.join(PROJECT_DIR, 'schema')
  transform_module: str = os.path.join(MODELS_DIR, 'preprocessing.py')
  trainer_module: str = os.path.join(MODELS_DIR, 'trainer.py')
  # Or a RuntimeParameter (ptype str) holding TrainArgs JSON such as
  # '{"num_steps": 3000}': one can only stand for a whole exec property.
  train_steps: Union[int, data_types.RuntimeParameter] = 3000
  split_weights: Tuple[Tuple[str, int], ...] = (
    ('train', 8),
    ('eval', 1),
    ('test', 1),
  )
  quality_gate: QualityGate = QualityGate()
  # Gate on the last blessed model too; False where the orchestrator cannot
  # resolve artifacts of earlier runs (Kubeflow Pipelines' own backend).
  compare_with_blessed_model: bool = True
  beam_pipeline_args: Tuple[str, ...] = ()
  enable_cache: bool = True


def direct_runner_args(workers: int) -> Tuple[str, ...]:
  """Beam DirectRunner options for the data components: in this process for
  one worker (cheapest on small data), else `workers` processes (0: one per
  CPU)."""
  if workers == 1:
    return ('--direct_running_mode=in_memory', '--direct_num_workers=1')
  return (
    '--direct_running_mode=multi_processing',
    f'--direct_num_workers={workers}',
  )
