"""The infra_validator component (id core.names.INFRA_VALIDATOR): serves the
candidate with the model server it will be pushed to and asks it real
questions (components/infra_validation.py). Writes what TFX's
InfraValidator writes, which TFX's Pusher reads: an InfraBlessing with
INFRA_BLESSED or INFRA_NOT_BLESSED and `blessed`, and, when blessed, the
model with TF Serving's warm-up requests in `stamped_model/` (`has_model`
= 1), the model the Pusher pushes. Unlike TFX's, it needs neither Docker nor
Kubernetes: the server is a child process of the executor."""

from absl import logging
from tfx.utils import path_utils
from tfx.v1.dsl.components import (
  InputArtifact,
  OutputArtifact,
  Parameter,
  component,
)
from tfx.v1.types.standard_artifacts import Examples, InfraBlessing, Model

from components import infra_validation
from core import names


@component
def InfraValidator(  # A TFX component.
  model: InputArtifact[Model],
  examples: InputArtifact[Examples],
  blessing: OutputArtifact[InfraBlessing],
  model_name: Parameter[str] = names.TRAINING_PIPELINE,
  p99_budget_ms: Parameter[float] = infra_validation.Settings.p99_budget_ms,
  rows: Parameter[int] = infra_validation.Settings.rows,
):
  """Blesses the model when the served model answers test-split requests to
  predict, classify and regress correctly within the p99 latency budget."""
  settings = infra_validation.Settings(
    rows=rows, p99_budget_ms=p99_budget_ms, model_name=model_name
  )
  result = infra_validation.run(
    path_utils.serving_model_path(
      model.uri, path_utils.is_old_model_artifact(model)
    ),
    infra_validation.read_examples(examples, names.TEST_SPLIT, settings.rows),
    blessing.uri,
    settings,
    blessing.set_int_custom_property,
  )
  if result.passed:
    logging.info('Infra validation passed: %s', result.measurements)
  else:
    logging.warning('Infra validation failed: %s', result.reason)
