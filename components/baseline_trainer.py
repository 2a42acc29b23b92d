"""The simple trained baseline as a TFX component (id
core.names.BASELINE_TRAINER): gradient-boosted trees fitted on the raw train
split (components/simple_baseline.py), written as a Model artifact the
model_analysis component scores on the test split."""

from tfx.v1.dsl.components import InputArtifact, OutputArtifact, component
from tfx.v1.types.standard_artifacts import Examples, Model

from components import raw_examples, simple_baseline
from core import names


@component
def BaselineTrainer(  # A TFX component.
  examples: InputArtifact[Examples],
  baseline_model: OutputArtifact[Model],
):
  """Fits the baseline on the train split; threshold on a tenth of it."""
  train = raw_examples.read_split(examples, names.TRAIN_SPLIT)
  fitted = simple_baseline.train(train, raw_examples.labels(train))
  simple_baseline.save(fitted, baseline_model.uri, rows=len(train))
