"""Stops the pipeline when ExampleValidator found anomalies.

ExampleValidator records anomalies but lets the pipeline go on; this gate
fails its execution instead, so Transform, Trainer and Pusher never run on
data that breaks the schema.
"""

import os
from typing import List, NamedTuple

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies

ANOMALIES_FILE = 'SchemaDiff.pb'


class Finding(NamedTuple):
  split: str
  feature: str
  kind: str
  description: str

  def __str__(self):
    return (
      f'split {self.split!r}, feature {self.feature!r}: {self.kind}: '
      f'{self.description}'
    )


class DataValidationError(RuntimeError):
  """The data breaks the schema; carries every finding."""

  def __init__(self, findings: List[Finding]):
    self.findings = findings
    lines = '\n'.join(f'  - {finding}' for finding in findings)
    super().__init__(
      f'Data validation found {len(findings)} anomal'
      f'{"y" if len(findings) == 1 else "ies"}; stopping before Transform '
      f'and Trainer:\n{lines}'
    )


def describe(split: str, anomalies: anomalies_pb2.Anomalies) -> List[Finding]:
  """One finding per (feature, reason) of an Anomalies proto."""
  findings = []
  for feature, info in sorted(anomalies.anomaly_info.items()):
    for reason in info.reason:
      findings.append(
        Finding(
          split,
          feature,
          anomalies_pb2.AnomalyInfo.Type.Name(reason.type),
          reason.description or reason.short_description,
        )
      )
  dataset = anomalies.dataset_anomaly_info
  for reason in dataset.reason:
    findings.append(
      Finding(
        split,
        '(dataset)',
        anomalies_pb2.AnomalyInfo.Type.Name(reason.type),
        reason.description or reason.short_description,
      )
    )
  return findings


def read_findings(artifact: types.Artifact) -> List[Finding]:
  """All findings of an ExampleAnomalies artifact, split by split."""
  findings = []
  for split in artifact_utils.decode_split_names(artifact.split_names):
    path = os.path.join(
      artifact_utils.get_split_uri([artifact], split), ANOMALIES_FILE
    )
    with open(path, 'rb') as f:
      findings += describe(split, anomalies_pb2.Anomalies.FromString(f.read()))
  return findings


@component
def DataGate(anomalies: InputArtifact[ExampleAnomalies]):  # A TFX component.
  """Raises DataValidationError when `anomalies` is not empty."""
  findings = read_findings(anomalies)
  if findings:
    raise DataValidationError(findings)
