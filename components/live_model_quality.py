"""Live model quality and concept drift as a TFX component: the served
version scores the serving examples that feedback labels join on the trip id
(the logic is in feedback_labels.py and live_quality.py)."""

import glob
import json
import os

import tensorflow as tf
from tfx.v1.dsl import Artifact
from tfx.v1.dsl.components import (
  InputArtifact,
  OutputArtifact,
  Parameter,
  component,
)
from tfx.v1.types.standard_artifacts import Examples, PushedModel

from components import feedback_labels, live_quality
from core import artifacts, names
from models import features


class LiveQuality(Artifact):
  """The live quality JSON of one monitoring run."""

  TYPE_NAME = 'LiveQuality'


def _examples(artifact: Artifact, split: str):
  files = sorted(
    glob.glob(os.path.join(artifacts.split_uri(artifact, split), '*'))
  )
  return [
    tf.train.Example.FromString(record.numpy())
    for record in tf.data.TFRecordDataset(files, compression_type='GZIP')
  ]


def _row(example: tf.train.Example) -> dict:
  return {
    name: live_quality.first_value(example, name)
    for name in (features.TRIP_ID, live_quality.SLICE_FEATURE)
  }


def _reference(model_dir: str, baseline_examples: Artifact):
  """The version's held-out rows (eval and test splits: never trained on),
  labelled as in training, scored by it."""
  examples = _examples(baseline_examples, names.EVAL_SPLIT) + _examples(
    baseline_examples, names.TEST_SPLIT
  )
  labelled = []
  for example in examples:
    tips = live_quality.first_value(example, features.TIPS)
    fare = live_quality.first_value(example, features.FARE)
    if tips is not None and fare is not None:
      labelled.append((example, int(features.is_big_tipper(tips, fare))))
  scores = live_quality.score_examples(
    model_dir, [e.SerializeToString() for e, _ in labelled]
  )
  return live_quality.scored(
    [_row(e) for e, _ in labelled], [label for _, label in labelled], scores
  )


def measure(
  model_dir: str,
  serving: list,
  reference: live_quality.Scored,
  labels_path: str,
  min_auc: float,
  min_f1: float,
) -> dict:
  """The live quality record of serving tf.Examples against labels."""
  rows = [dict(_row(e), example=e) for e in serving]
  joined = feedback_labels.join(rows, feedback_labels.read_labels(labels_path))
  metadata = live_quality.model_metadata(model_dir)
  threshold = float(metadata['decision_threshold'])
  result = {'labels': joined.counts(), 'findings': [], 'not_compared': []}
  note = live_quality.label_rows_needed(len(joined.labelled))
  if note:
    result['not_compared'].append(note)
    return result
  scores = live_quality.score_examples(
    model_dir,
    [row['example'].SerializeToString() for row, _ in joined.labelled],
  )
  live = live_quality.scored(
    [row for row, _ in joined.labelled],
    [label for _, label in joined.labelled],
    scores,
  )
  own = live_quality.own_evaluation(metadata)
  result['metrics'] = live_quality.quality_report(live, threshold, own)
  result['reference_rows'] = int(len(reference.labels))
  findings = live_quality.quality_findings(
    result['metrics']['overall'], own, min_auc, min_f1
  )
  findings += live_quality.concept_drift_findings(live, reference)
  result['findings'] = [f.to_json() for f in findings]
  return result


@component
def LiveModelQuality(  # A TFX component.
  pushed_model: InputArtifact[PushedModel],
  serving_examples: InputArtifact[Examples],
  baseline_examples: InputArtifact[Examples],
  quality: OutputArtifact[LiveQuality],
  labels_path: Parameter[str],
  min_auc: Parameter[float],
  min_f1: Parameter[float],
):
  """Writes live_quality.json (labels joined, metrics, findings)."""
  model_dir = (
    pushed_model.get_string_custom_property(names.PUSHED_DESTINATION)
    or pushed_model.uri
  )
  result = measure(
    model_dir,
    _examples(serving_examples, names.SERVING_SPLIT),
    _reference(model_dir, baseline_examples),
    labels_path,
    min_auc,
    min_f1,
  )
  with open(os.path.join(quality.uri, names.LIVE_QUALITY_FILE), 'w') as f:
    json.dump(result, f, indent=2)
  quality.set_int_custom_property('joined', result['labels']['joined'])
  quality.set_int_custom_property('findings', len(result['findings']))
