"""What the Evaluator measures, on which slices, and what blesses a model."""

import tensorflow_model_analysis as tfma

from models import features, signatures
from pipeline.config import QualityGate

SLICE_FEATURES = ('payment_type', 'trip_start_hour')
# The model's 0/1 decision at the threshold it exports (see signatures.py).
DECISION = features.LABEL


def _lower_bound(value: float) -> tfma.MetricThreshold:
  return tfma.MetricThreshold(
    value_threshold=tfma.GenericValueThreshold(lower_bound={'value': value})
  )


def _on_overall_slice(threshold: tfma.MetricThreshold) -> dict:
  """Gates on the whole test split; per-slice figures are for reading (a
  slice of a few dozen trips is too noisy to gate on)."""
  return {
    'per_slice_thresholds': [
      tfma.PerSliceMetricThreshold(
        slicing_specs=[tfma.SlicingSpec()], threshold=threshold
      )
    ]
  }


def make_eval_config(gate: QualityGate) -> tfma.EvalConfig:
  """Ranking metrics on the probability, decision metrics on the decision."""
  auc_threshold = _lower_bound(gate.min_auc)
  # Ignored on the first run, when there is no blessed baseline yet.
  auc_threshold.change_threshold.CopyFrom(
    tfma.GenericChangeThreshold(
      direction=tfma.MetricDirection.HIGHER_IS_BETTER,
      absolute={'value': -gate.max_auc_drop},
    )
  )
  return tfma.EvalConfig(
    model_specs=[
      tfma.ModelSpec(
        signature_name='serving_tf_example',
        label_keys={
          signatures.PROBABILITY: features.LABEL,
          DECISION: features.LABEL,
        },
        preprocessing_function_names=['transform_features'],
      )
    ],
    slicing_specs=[tfma.SlicingSpec()]
    + [tfma.SlicingSpec(feature_keys=[key]) for key in SLICE_FEATURES],
    metrics_specs=[
      tfma.MetricsSpec(
        output_names=[signatures.PROBABILITY],
        metrics=[
          tfma.MetricConfig(class_name='ExampleCount'),
          tfma.MetricConfig(
            class_name='AUC', **_on_overall_slice(auc_threshold)
          ),
          tfma.MetricConfig(class_name='MeanLabel'),
        ],
      ),
      tfma.MetricsSpec(
        output_names=[DECISION],
        metrics=[
          tfma.MetricConfig(
            class_name='F1Score', **_on_overall_slice(_lower_bound(gate.min_f1))
          ),
          tfma.MetricConfig(class_name='Precision'),
          tfma.MetricConfig(class_name='Recall'),
          tfma.MetricConfig(class_name='BinaryAccuracy'),
          tfma.MetricConfig(class_name='TruePositives'),
          tfma.MetricConfig(class_name='FalsePositives'),
          tfma.MetricConfig(class_name='TrueNegatives'),
          tfma.MetricConfig(class_name='FalseNegatives'),
        ],
      ),
    ],
  )
