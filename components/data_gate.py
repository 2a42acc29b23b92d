"""Stops the pipeline when ExampleValidator found anomalies.

ExampleValidator records anomalies but lets the pipeline go on; this gate
fails its execution instead, so Transform, Trainer and Pusher never run on
data that breaks the schema.
"""

from typing import List, NamedTuple

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.v1.dsl import Artifact
from tfx.v1.dsl.components import InputArtifact, component
from tfx.v1.types.standard_artifacts import ExampleAnomalies

from core import artifacts


class Anomaly(NamedTuple):
  """One reason one feature (or the dataset) of one split breaks the schema."""

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
  """The data breaks the schema; carries every anomaly."""

  def __init__(self, anomalies: List[Anomaly]):
    self.anomalies = anomalies
    lines = '\n'.join(f'  - {anomaly}' for anomaly in anomalies)
    super().__init__(
      f'Data validation found {len(anomalies)} anomal'
      f'{"y" if len(anomalies) == 1 else "ies"}; stopping before Transform '
      f'and Trainer:\n{lines}'
    )


def describe(split: str, proto: anomalies_pb2.Anomalies) -> List[Anomaly]:
  """One anomaly per (feature, reason) of an Anomalies proto."""
  found = []
  for feature, info in sorted(proto.anomaly_info.items()):
    for reason in info.reason:
      found.append(
        Anomaly(
          split,
          feature,
          anomalies_pb2.AnomalyInfo.Type.Name(reason.type),
          reason.description or reason.short_description,
        )
      )
  for reason in proto.dataset_anomaly_info.reason:
    found.append(
      Anomaly(
        split,
        '(dataset)',
        anomalies_pb2.AnomalyInfo.Type.Name(reason.type),
        reason.description or reason.short_description,
      )
    )
  return found


def read_anomalies(artifact: Artifact) -> List[Anomaly]:
  """All anomalies of an ExampleAnomalies artifact, split by split."""
  found = []
  for split in artifacts.split_names(artifact):
    found += describe(split, artifacts.read_anomalies(artifact, split))
  return found


@component
def DataGate(anomalies: InputArtifact[ExampleAnomalies]):  # A TFX component.
  """Raises DataValidationError when `anomalies` is not empty."""
  found = read_anomalies(anomalies)
  if found:
    raise DataValidationError(found)
