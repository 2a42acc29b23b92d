"""The pipeline's configuration: one frozen value built by each runner."""

# Annotations stay strings: the runners build a config, and decide whether a
# rerun is unchanged (pipeline/unchanged.py), without importing TFX (~10 s).
from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import TYPE_CHECKING, Iterator, Optional, Tuple, Union

import schema
from components import quality_analysis
from core import names

if TYPE_CHECKING:
  from tfx import v1 as tfx

# The user code Transform and the Trainer call.
MODELS_DIR = os.path.join(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'models'
)
# By module path, importable wherever the project is installed (this
# checkout's .venv, the pipeline image): TFX then builds, stores and pip
# installs no wheel of models/ (a module file cost three installs in
# Transform and one in the Trainer, about 14 s a run), and compiling for
# Kubeflow is offline.
PREPROCESSING_FN = 'models.preprocessing.preprocessing_fn'
RUN_FN = 'models.trainer.run_fn'


def tree_files(root: str, keep=lambda name: True) -> Iterator[str]:
  """Paths of the files under `root` (bytecode caches aside) in a stable
  order: what the fingerprints of code and inputs walk."""
  for directory, dirs, files in os.walk(root):
    dirs[:] = sorted(d for d in dirs if d != '__pycache__')
    for name in sorted(f for f in files if keep(f)):
      yield os.path.join(directory, name)


def user_code_fingerprint(models_dir: str = MODELS_DIR) -> str:
  """SHA-256 of the user code's sources (every .py under models/, by
  relative path): what must change a cache key when the code changes."""
  digest = hashlib.sha256()
  for path in tree_files(models_dir, keep=lambda name: name.endswith('.py')):
    digest.update(os.path.relpath(path, models_dir).encode() + b'\0')
    with open(path, 'rb') as f:
      digest.update(f.read() + b'\0')
  return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class QualityGate:
  """What the Evaluator demands of a candidate model on the test split."""

  min_auc: float = 0.94
  min_f1: float = 0.80
  # How much AUC a candidate may lose against the model in production.
  max_auc_drop: float = 0.01
  # (metric, baseline) pairs on which no baseline may beat the candidate
  # (model_analysis): AUC and log loss against the simple trained baseline,
  # F1 at the exported threshold against the rule.
  beat_baselines: Tuple[Tuple[str, str], ...] = quality_analysis.DEFAULT_GATE
  # How much worse than a baseline a candidate may be on those metrics.
  baseline_tolerance: float = 0.0


def add_quality_gate_flags(parser) -> None:
  """The runners' flags for QualityGate (read back by quality_gate_of)."""
  gate = QualityGate()
  parser.add_argument(
    '--min-auc',
    type=float,
    default=gate.min_auc,
    help='AUC a model needs on the test split to be pushed '
    f'(default: {gate.min_auc})',
  )
  parser.add_argument(
    '--min-f1',
    type=float,
    default=gate.min_f1,
    help='F1 at the exported threshold a model needs to be '
    f'pushed (default: {gate.min_f1})',
  )
  parser.add_argument(
    '--baseline-tolerance',
    type=float,
    default=gate.baseline_tolerance,
    help='how much worse than the simple or rule baseline a model may be on '
    'a gated metric (AUC, log loss, F1) and still be pushed '
    f'(default: {gate.baseline_tolerance})',
  )


def quality_gate_of(args) -> QualityGate:
  return QualityGate(
    min_auc=args.min_auc,
    min_f1=args.min_f1,
    baseline_tolerance=args.baseline_tolerance,
  )


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
  # Transform and the Trainer import PREPROCESSING_FN and RUN_FN; this
  # fingerprint of the code enters both components' cache keys through
  # their custom_config, so changed code never reuses a cached result.
  user_code_fingerprint: str = dataclasses.field(
    default_factory=user_code_fingerprint
  )
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
  # The version the runner saw served (core.model_versions; '' for none):
  # keys production_baseline's cache on LocalDagRunner, so a new push is
  # never compared against a cached copy of the old one. The component
  # itself reads the destination; Kubeflow turns caching off for it.
  served_version: str = ''
  # infra_validator: the p99 latency budget of a request to the served
  # candidate (ms).
  infra_p99_budget_ms: float = 2000.0
  beam_pipeline_args: Tuple[str, ...] = ()
  enable_cache: bool = True
