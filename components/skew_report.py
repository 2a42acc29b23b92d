"""Every finding of one monitoring run in one JSON report, as a TFX
component (the checks are in skew_detection.py)."""

import json
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

from components import skew_detection, verdict
from components.feature_skew_detector import FeatureSkewResults, read_results
from components.live_model_quality import LiveQuality
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
  live_quality: InputArtifact[LiveQuality] = None,  # With labels only.
):
  """The report is kept as an artifact and written to `report_path`. With
  `live_quality` (feedback labels) it holds model quality and concept drift
  too, and says in words which kind of change it saw."""
  splits = artifacts.split_names(serving_statistics)
  serving = artifacts.read_statistics(serving_statistics, names.SERVING_SPLIT)
  has_previous = names.PREVIOUS_SPLIT in splits
  skew = read_results(skew_results)
  checks = skew_detection.all_checks(
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
  findings = checks.findings
  not_compared = checks.not_compared()
  quality = {}
  if live_quality is not None:
    with open(os.path.join(live_quality.uri, names.LIVE_QUALITY_FILE)) as f:
      quality = json.load(f)
    findings += [skew_detection.Finding(**f) for f in quality['findings']]
    not_compared += quality['not_compared']
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
    # Every distance and the threshold it was held to; comparisons that too
    # few rows kept from being made say how many they need.
    comparisons=checks.comparisons_json(),
    not_compared=not_compared,
    labels=quality.get('labels'),
    live_quality=quality.get('metrics'),
    change=verdict.change_kind(findings),
    verdict=verdict.describe(findings),
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
