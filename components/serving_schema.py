"""The schema serving data must follow (skew_detection.serving_schema)."""

from tfx.v1.dsl.components import (
  InputArtifact,
  OutputArtifact,
  Parameter,
  component,
)
from tfx.v1.types.standard_artifacts import Schema

from components import skew_detection
from core import artifacts


@component
def ServingSchema(  # A TFX component.
  schema: InputArtifact[Schema],
  serving_schema: OutputArtifact[Schema],
  id_feature: Parameter[str],
  served_features: Parameter[str],
):
  """The schema in the SERVING environment; `served_features` is
  comma-separated."""
  result = skew_detection.serving_schema(
    artifacts.read_schema(schema.uri), id_feature, served_features.split(',')
  )
  artifacts.write_schema(serving_schema.uri, result)
