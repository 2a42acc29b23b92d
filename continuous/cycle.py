"""One cycle of continuous training: first push, or monitor each new span
against the served version, decide, retrain on the window, gated push, and
record it all in ML Metadata. The runner (continuous_runner.py) only builds
the CycleConfig; the pipelines are create_pipeline and
create_monitoring_pipeline as they are."""

import dataclasses
import json
import os
import time
from typing import Callable, List, Optional, Tuple

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components import serving_rows, skew_detection
from components.skew_report import MonitoringReport
from continuous import alerts, decision, process_labeling, spans
from core import lineage, metadata_uri, model_versions, names
from monitoring.config import MonitoringPipelineConfig, ServingData
from monitoring.pipeline import create_monitoring_pipeline
from pipeline.config import PipelineConfig, QualityGate
from pipeline.pipeline import create_pipeline

# ML Metadata records of the cycle (beside the pipelines' own).
CONTEXT_TYPE = 'continuous_training'
SPAN_CHECK_TYPE = 'SpanCheck'
DECISION_TYPE = 'ContinuousDecision'
FIRST_PUSH = 'first_push'
EXIT_DONE, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class CycleConfig:
  data_root: str
  work_dir: str
  serving_model_dir: str
  metadata_uri: str
  model_name: str = names.TRAINING_PIPELINE
  window: Optional[int] = None
  train_steps: int = 3000
  quality_gate: QualityGate = QualityGate()
  alert_webhook: Optional[str] = None
  metrics_textfile: Optional[str] = None
  beam_pipeline_args: Tuple[str, ...] = ()
  # Process labeling: the server's request log and the feedback labels,
  # joined into the next span before the cycle looks at the spans.
  request_log: Optional[str] = None
  labels: Optional[str] = None


@dataclasses.dataclass
class Outcome:
  """What a cycle did, for the summary, the alerts and the exit status."""

  action: str
  reason: str
  version_before: Optional[int]
  version_after: Optional[int]
  exit_status: int = EXIT_DONE
  # (span name, monitoring report) of each span checked.
  reports: List[Tuple[str, dict]] = dataclasses.field(default_factory=list)
  alert_status: Optional[str] = None
  harvest: Optional[process_labeling.Harvest] = None

  def summary(self) -> str:
    lines = [f'Decision: {self.action}', f'  {self.reason}']
    if self.harvest:
      lines.append(f'  {self.harvest.summary()}')
    for span, report in self.reports:
      counts = {k: v for k, v in report['counts'].items() if v}
      lines.append(
        f'  {span}: {report["serving_examples"]} rows, findings '
        + (', '.join(f'{k} {v}' for k, v in counts.items()) or 'none')
      )
      for f in report['findings']:
        lines.append(
          f'    {f["kind"]} {f["feature"]}: {f["metric"]} {f["value"]} '
          f'(threshold {f["threshold"]})'
          if f['value'] is not None
          else f'    {f["kind"]} {f["feature"]}: {f["metric"]}'
        )
      for note in report.get('not_compared', []):
        lines.append(f'    {note["description"]}')
      if report.get('labels'):
        lines.append(
          '    labels: '
          + ', '.join(
            f'{k.replace("_", " ")} {v}' for k, v in report['labels'].items()
          )
        )
    lines.append(
      f'  served version before {self.version_before}, after '
      f'{self.version_after}'
      + (
        ' (new version pushed; a polling server picks it up)'
        if self.version_after != self.version_before
        else ' (unchanged)'
      )
    )
    if self.alert_status:
      lines.append(f'  alerts: {self.alert_status}')
    return '\n'.join(lines)


def served_version(serving_model_dir: str) -> Optional[int]:
  versions = model_versions.versions(serving_model_dir)
  return versions[-1] if versions else None


def _store(uri: str) -> metadata_store.MetadataStore:
  return metadata_store.MetadataStore(metadata_uri.connection_config(uri))


def _type_id(store, name: str, execution: bool = True) -> int:
  properties = {
    'span': metadata_store_pb2.STRING,
    'action': metadata_store_pb2.STRING,
    'reason': metadata_store_pb2.STRING,
    'model_version': metadata_store_pb2.STRING,
    'report': metadata_store_pb2.STRING,
  }
  if execution:
    kind = metadata_store_pb2.ExecutionType(name=name, properties=properties)
    return store.put_execution_type(kind, can_add_fields=True)
  return store.put_context_type(metadata_store_pb2.ContextType(name=name))


def _context(store, model_name: str) -> metadata_store_pb2.Context:
  type_id = _type_id(store, CONTEXT_TYPE, execution=False)
  name = f'{model_name}.continuous'
  found = store.get_context_by_type_and_name(CONTEXT_TYPE, name)
  if found is not None:
    return found
  context = metadata_store_pb2.Context(type_id=type_id, name=name)
  [context.id] = store.put_contexts([context])
  return context


def checked_spans(store, model_name: str) -> set:
  """Names of the spans a cycle checked or trained on (ML Metadata)."""
  context = store.get_context_by_type_and_name(
    CONTEXT_TYPE, f'{model_name}.continuous'
  )
  if context is None:
    return set()
  return {
    e.properties['span'].string_value
    for e in store.get_executions_by_context(context.id)
    if e.type == SPAN_CHECK_TYPE
  }


def _record(
  store,
  model_name: str,
  type_name: str,
  properties: dict,
  inputs=(),
  outputs=(),
) -> int:
  type_id = _type_id(store, type_name)
  execution = metadata_store_pb2.Execution(
    type_id=type_id,
    last_known_state=metadata_store_pb2.Execution.COMPLETE,
  )
  for key, value in properties.items():
    execution.properties[key].string_value = str(value)
  events = []
  for artifact, kind in [(a, 'INPUT') for a in inputs] + [
    (a, 'OUTPUT') for a in outputs
  ]:
    event = metadata_store_pb2.Event(
      type=getattr(metadata_store_pb2.Event, kind)
    )
    events.append((artifact, event))
  execution_id, _, _ = store.put_execution(
    execution, events, [_context(store, model_name)]
  )
  return execution_id


def _latest_artifact(store, type_name: str):
  found = store.get_artifacts_by_type(type_name)
  return max(found, key=lambda a: a.id) if found else None


def _pushed_artifact(store, model_name: str, version: int):
  for pushed_version, artifact, _ in lineage.pushed_models(store, model_name):
    if pushed_version == str(version):
      return artifact
  return None


Runner = Callable[[object], None]  # Runs a TFX pipeline (LocalDagRunner).


def _train(config: CycleConfig, window_spans, run: Runner) -> None:
  data_root = spans.training_data(
    window_spans, os.path.join(config.work_dir, 'continuous', 'training-data')
  )
  run(
    create_pipeline(
      PipelineConfig(
        pipeline_name=config.model_name,
        data_root=data_root,
        pipeline_root=os.path.join(
          config.work_dir, 'pipelines', config.model_name
        ),
        metadata_uri=config.metadata_uri,
        serving_model_dir=config.serving_model_dir,
        served_version=model_versions.newest_version_name(
          config.serving_model_dir
        ),
        train_steps=config.train_steps,
        quality_gate=config.quality_gate,
        beam_pipeline_args=config.beam_pipeline_args,
      )
    )
  )


def _monitor(
  config: CycleConfig, store, span: str, previous: Optional[str], run: Runner
) -> Tuple[dict, Optional[metadata_store_pb2.Artifact]]:
  version = served_version(config.serving_model_dir)
  staging = os.path.join(config.work_dir, 'continuous', 'spans')
  newest_dir, labels = spans.split_labels(
    span, os.path.join(staging, os.path.basename(span))
  )
  previous_pattern = None
  if previous:
    previous_dir, _ = spans.split_labels(
      previous, os.path.join(staging, os.path.basename(previous))
    )
    previous_pattern = os.path.relpath(os.path.join(previous_dir, '*'), staging)
  report_path = os.path.join(
    config.work_dir,
    'continuous',
    'reports',
    f'{os.path.basename(span)}-{time.strftime("%Y%m%d-%H%M%S")}.json',
  )
  run(
    create_monitoring_pipeline(
      MonitoringPipelineConfig(
        serving_data=ServingData(
          input_base=staging,
          newest_pattern=os.path.relpath(
            os.path.join(newest_dir, '*'), staging
          ),
          previous_pattern=previous_pattern,
          model_version=version,
        ),
        baseline=lineage.training_lineage(
          store, config.model_name, str(version)
        ),
        pipeline_name=f'{config.model_name}_monitoring',
        pipeline_root=os.path.join(
          config.work_dir, 'pipelines', f'{config.model_name}_monitoring'
        ),
        metadata_uri=config.metadata_uri,
        report_path=report_path,
        labels_path=labels,
        min_auc=config.quality_gate.min_auc,
        min_f1=config.quality_gate.min_f1,
        beam_pipeline_args=config.beam_pipeline_args,
      )
    )
  )
  with open(report_path) as f:
    report = json.load(f)
  report['report_path'] = report_path
  return report, _latest_artifact(store, MonitoringReport.TYPE_NAME)


def run_cycle(config: CycleConfig, run: Runner) -> Outcome:
  """One cycle; raises spans.SpanError for unreadable spans, request logs
  or labels (usage)."""
  harvest = None
  if config.request_log:
    try:
      harvest = process_labeling.harvest(
        config.request_log, config.labels, config.data_root
      )
    except serving_rows.UnreadableInput as e:
      raise spans.SpanError(str(e)) from None
  outcome = _cycle(config, run)
  outcome.harvest = harvest
  return outcome


def _cycle(config: CycleConfig, run: Runner) -> Outcome:
  all_spans = spans.spans(config.data_root)
  names_of = [os.path.basename(s) for s in all_spans]
  store = _store(config.metadata_uri)
  before = served_version(config.serving_model_dir)
  if before is None:
    outcome = _retrain(
      config,
      store,
      run,
      FIRST_PUSH,
      'No model pushed yet: trained on '
      + ', '.join(spans.window(names_of, config.window))
      + '.',
      before,
      [],
    )
    if outcome.exit_status == EXIT_DONE:
      for span in spans.window(names_of, config.window):
        _record(
          store,
          config.model_name,
          SPAN_CHECK_TYPE,
          {
            'span': span,
            'action': 'trained',
            'model_version': outcome.version_after,
          },
        )
    return outcome
  checked = checked_spans(store, config.model_name)
  new = [s for s in all_spans if os.path.basename(s) not in checked]
  if not new:
    outcome = Outcome(
      decision.NOTHING,
      'No new span since the last cycle: nothing to check.',
      before,
      before,
    )
    _record_decision(store, config, outcome, [])
    return outcome
  reports, report_artifacts = [], []
  for span in new:
    index = all_spans.index(span)
    previous = all_spans[index - 1] if index else None
    report, artifact = _monitor(config, store, span, previous, run)
    name = os.path.basename(span)
    reports.append((name, report))
    report_artifacts.append(artifact)
    _record(
      store,
      config.model_name,
      SPAN_CHECK_TYPE,
      {
        'span': name,
        'action': 'monitored',
        'model_version': before,
        'report': report['report_path'],
      },
      inputs=[artifact] if artifact is not None else [],
    )
  span_findings = [skew_detection.read_findings(r) for _, r in reports]
  chosen = decision.decide(span_findings, [n for n, _ in reports])
  if chosen.action == decision.RETRAIN:
    return _retrain(
      config,
      store,
      run,
      decision.RETRAIN,
      chosen.reason,
      before,
      reports,
      report_artifacts,
    )
  outcome = Outcome(
    chosen.action,
    chosen.reason,
    before,
    before,
    EXIT_FAILED if chosen.action == decision.REFUSE else EXIT_DONE,
    reports,
  )
  _record_decision(store, config, outcome, report_artifacts)
  return outcome


def _retrain(
  config, store, run, action, reason, before, reports, report_artifacts=()
) -> Outcome:
  window_spans = spans.window(spans.spans(config.data_root), config.window)
  trained = ', '.join(os.path.basename(s) for s in window_spans)
  try:
    _train(config, window_spans, run)
  except Exception as e:  # pylint: disable=broad-except
    outcome = Outcome(
      action,
      f'{reason} The training run on {trained} failed: {e}',
      before,
      served_version(config.serving_model_dir),
      EXIT_FAILED,
      reports,
    )
    _record_decision(store, config, outcome, report_artifacts)
    return outcome
  after = served_version(config.serving_model_dir)
  if after != before:
    result = f' Trained on {trained}; the candidate passed every gate and '
    result += f'was pushed as version {after}.'
  else:
    result = (
      f' Trained on {trained}; the candidate did not pass the gates '
      '(see the run summary): nothing pushed, the served version stays.'
    )
  outcome = Outcome(action, reason + result, before, after, EXIT_DONE, reports)
  _record_decision(store, config, outcome, report_artifacts)
  return outcome


def _record_decision(store, config, outcome: Outcome, report_artifacts):
  """The decision and its reason, linked to the monitoring reports it read
  (inputs) and the version it pushed (output)."""
  pushed = (
    _pushed_artifact(store, config.model_name, outcome.version_after)
    if outcome.version_after not in (None, outcome.version_before)
    else None
  )
  _record(
    store,
    config.model_name,
    DECISION_TYPE,
    {
      'span': ','.join(name for name, _ in outcome.reports),
      'action': outcome.action,
      'reason': outcome.reason,
      'model_version': outcome.version_after,
    },
    inputs=[a for a in report_artifacts if a is not None],
    outputs=[pushed] if pushed is not None else [],
  )


def notify(config: CycleConfig, outcome: Outcome) -> None:
  """Posts the decision and findings; writes the newest span's gauges."""
  span_findings = alerts.findings_of(outcome.reports)
  if config.alert_webhook:
    payload = alerts.webhook_payload(
      alerts.alerts(
        config.model_name,
        span_findings,
        outcome.action,
        outcome.reason,
        str(outcome.version_after),
      )
    )
    try:
      status = alerts.post(config.alert_webhook, payload)
      outcome.alert_status = (
        f'{len(payload["alerts"])} posted to {config.alert_webhook} '
        f'(HTTP {status})'
      )
    except OSError as e:
      outcome.alert_status = f'posting to {config.alert_webhook} failed: {e}'
  if config.metrics_textfile and outcome.reports:
    span, report = outcome.reports[-1]
    alerts.write_textfile(
      config.metrics_textfile,
      alerts.prometheus_text(config.model_name, span, report),
    )
