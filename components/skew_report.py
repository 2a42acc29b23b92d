"""Every finding of one monitoring run in one JSON report, as a TFX
component (the checks are in skew_detection.py)."""

import os

from tfx.v1.dsl import Artifact
from tfx.v1.dsl.components import (
  InputArtifact,
  OutputArtifact,
  Parameter,
  component,
)
from tfx.v1.types.standard_artifacts import (
  ExampleAnomalies,
  ExampleStatistics,
  PushedModel,
  Schema,
)

from components import skew_detection
from components.feature_skew_detector import FeatureSkewResults, read_results
from core import artifacts, names


class MonitoringReport(Artifact):
  """The JSON report of one monitoring run."""

  TYPE_NAME = 'MonitoringReport'


@component
def SkewReport(  # A TFX component.
  pushed_model: InputArtifact[PushedModel],
  schema: InputArtifact[Schema],
  baseline_statistics: InputArtifact[ExampleStatistics],
  serving_statistics: InputArtifact[ExampleStatistics],
  anomalies: InputArtifact[ExampleAnomalies],
  skew_results: InputArtifact[FeatureSkewResults],
  report: OutputArtifact[MonitoringReport],
  baseline_split: Parameter[str],
  feature_skew_threshold: Parameter[float],
  report_path: Parameter[str],
):
  """The report is kept as an artifact and written to `report_path`."""
  splits = artifacts.split_names(serving_statistics)
  serving = artifacts.read_statistics(serving_statistics, names.SERVING_SPLIT)
  has_previous = names.PREVIOUS_SPLIT in splits
  skew = read_results(skew_results)
  findings = skew_detection.all_findings(
    artifacts.read_schema(schema.uri),
    serving,
    artifacts.read_anomalies(anomalies, names.SERVING_SPLIT),
    artifacts.read_statistics(baseline_statistics, baseline_split),
    skew,
    feature_skew_threshold,
    previous=(
      artifacts.read_statistics(serving_statistics, names.PREVIOUS_SPLIT)
      if has_previous
      else None
    ),
  )
  version = pushed_model.get_string_custom_property(names.PUSHED_VERSION)
  result = skew_detection.make_report(
    findings,
    model_version=version,
    pushed_model=pushed_model.get_string_custom_property(
      names.PUSHED_DESTINATION
    )
    or pushed_model.uri,
    serving_examples=int(serving.datasets[0].num_examples),
    # Serving examples joined by id to a training example (feature skew).
    joined_examples=skew_detection.joined_examples(skew),
    baseline_statistics=baseline_statistics.uri,
    previous_span=has_previous,
  )
  skew_detection.write_report(
    result, os.path.join(report.uri, names.REPORT_FILE)
  )
  if report_path:
    skew_detection.write_report(result, report_path)
  report.set_string_custom_property('model_version', version)
  report.set_int_custom_property('findings', len(findings))
  for kind, count in result['counts'].items():
    report.set_int_custom_property(kind, count)
