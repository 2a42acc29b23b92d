"""The model_analysis component (id core.names.MODEL_ANALYSIS): writes
model_analysis.json (components/model_quality.py, layout in
docs/model_quality.md) and the blessing the Pusher obeys: the Evaluator's
verdict and, on top of it, the gate against the baselines."""

import json
import os

import tensorflow as tf
from tfx.v1.dsl.components import (
  InputArtifact,
  OutputArtifact,
  Parameter,
  component,
)
from tfx.v1.types.standard_artifacts import (
  Examples,
  Model,
  ModelBlessing,
  ModelEvaluation,
)

from components import (
  model_quality,
  production_baseline,
  raw_examples,
  simple_baseline,
)
from core import names

# What TFX's Evaluator writes on its blessing (Pusher reads `blessed`; the
# blessed-model resolver reads `current_model_id`).
BLESSED_FILE, NOT_BLESSED_FILE = 'BLESSED', 'NOT_BLESSED'
CURRENT_MODEL_ID = 'current_model_id'


def write_blessing(blessing, model, evaluator_blessing, blessed: bool) -> None:
  """Writes the blessing as the Evaluator writes its own, naming the model
  the way the Evaluator's blessing names it: its MLMD id under TFX's
  orchestrators, its artifact name under Kubeflow (whose entrypoint rewrites
  the id for the Evaluator only; a hashed id would match no artifact)."""
  tf.io.gfile.makedirs(blessing.uri)
  marker = BLESSED_FILE if blessed else NOT_BLESSED_FILE
  # GFile creates a file at its first write only: an empty `with` leaves none.
  with tf.io.gfile.GFile(os.path.join(blessing.uri, marker), 'w') as f:
    f.write('')
  blessing.set_int_custom_property(names.BLESSED, int(blessed))
  blessing.set_string_custom_property('current_model', model.uri)
  model_id = evaluator_blessing.get_custom_property(CURRENT_MODEL_ID)
  if isinstance(model_id, int):
    blessing.set_int_custom_property(CURRENT_MODEL_ID, model_id)
  else:
    blessing.set_string_custom_property(CURRENT_MODEL_ID, str(model_id))


@component
def ModelAnalysis(  # A TFX component.
  examples: InputArtifact[Examples],
  model: InputArtifact[Model],
  baseline_model: InputArtifact[Model],
  evaluator_blessing: InputArtifact[ModelBlessing],
  analysis: OutputArtifact[ModelEvaluation],
  blessing: OutputArtifact[ModelBlessing],
  settings: Parameter[str],
  production_model: InputArtifact[Model] = None,
):
  """Baselines side by side, the gate against them, error analysis and the
  feature report on the test split; blesses only what the Evaluator blessed
  and no baseline beats."""
  options = model_quality.AnalysisSettings.from_json(settings)
  candidate = model_quality.SavedModelScorer(model.uri)
  document = model_quality.analyse(
    lambda split: raw_examples.read_split(examples, split),
    candidate,
    candidate.decision_threshold,
    simple_baseline.load(baseline_model.uri),
    options,
    production=(
      model_quality.SavedModelScorer(production_model.uri)
      if production_model is not None
      and production_baseline.is_found(production_model)
      else None
    ),
  )
  evaluator_blessed = (
    evaluator_blessing.get_int_custom_property(names.BLESSED) == 1
  )
  document['evaluator_blessed'] = evaluator_blessed
  document['blessed'] = evaluator_blessed and all(
    row['passed'] for row in document['gate']
  )
  # Kubeflow's launcher does not create output directories; gfile also
  # writes to gs:// and s3://.
  tf.io.gfile.makedirs(analysis.uri)
  path = os.path.join(analysis.uri, names.MODEL_ANALYSIS_FILE)
  with tf.io.gfile.GFile(path, 'w') as f:
    json.dump(document, f, indent=2)
  write_blessing(blessing, model, evaluator_blessing, document['blessed'])
