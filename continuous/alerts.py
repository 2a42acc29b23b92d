"""Where a cycle's decision and findings go besides the console: an
Alertmanager-compatible webhook (the JSON Alertmanager's webhook receiver
posts, version 4) and Prometheus gauges in a textfile for node_exporter's
textfile collector."""

import datetime
import json
import os
import urllib.request
from typing import Iterable, List, Sequence

from components.skew_detection import Finding

ALERT_NAME = 'TaxiModelMonitoring'
ZERO_TIME = '0001-01-01T00:00:00Z'  # Alertmanager's "not resolved".


def _now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).strftime(
    '%Y-%m-%dT%H:%M:%S.%fZ'
  )


def alerts(
  model_name: str,
  span_findings: Sequence[tuple],
  action: str,
  reason: str,
  model_version: str,
) -> List[dict]:
  """One alert for the decision, one per finding of each span."""
  started = _now()

  def alert(labels: dict, summary: str, description: str) -> dict:
    return {
      'status': 'firing',
      'labels': {'alertname': ALERT_NAME, 'model': model_name, **labels},
      'annotations': {'summary': summary, 'description': description},
      'startsAt': started,
      'endsAt': ZERO_TIME,
      'generatorURL': '',
    }

  result = [
    alert(
      {
        'kind': 'decision',
        'decision': action,
        'severity': 'warning' if action != 'nothing' else 'info',
        'model_version': model_version,
      },
      f'{model_name}: {action}',
      reason,
    )
  ]
  for span, findings in span_findings:
    for finding in findings:
      result.append(
        alert(
          {
            'kind': finding.kind,
            'feature': finding.feature,
            'span': span,
            'severity': 'warning',
            'model_version': model_version,
          },
          f'{finding.kind} of {finding.feature} in {span}',
          finding.description,
        )
      )
  return result


def webhook_payload(alert_list: List[dict], receiver: str = 'webhook') -> dict:
  """The body Alertmanager's webhook_config receiver gets."""
  common = {
    key: value
    for key, value in alert_list[0]['labels'].items()
    if all(a['labels'].get(key) == value for a in alert_list)
  }
  return {
    'version': '4',
    'groupKey': '{}:{alertname="%s"}' % ALERT_NAME,
    'truncatedAlerts': 0,
    'status': 'firing',
    'receiver': receiver,
    'groupLabels': {'alertname': ALERT_NAME},
    'commonLabels': common,
    'commonAnnotations': {},
    'externalURL': '',
    'alerts': alert_list,
  }


def post(url: str, payload: dict, timeout: float = 10.0) -> int:
  """POSTs the payload as JSON; returns the HTTP status (raises OSError)."""
  request = urllib.request.Request(
    url,
    data=json.dumps(payload).encode(),
    headers={'Content-Type': 'application/json'},
    method='POST',
  )
  with urllib.request.urlopen(request, timeout=timeout) as response:
    return response.status


def _label(value: str) -> str:
  return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', ' ')


def prometheus_text(model_name: str, span: str, report: dict) -> str:
  """Gauges of the newest span's per-feature scores and thresholds."""
  lines = [
    '# HELP taxi_monitoring_score Distance of a feature between training '
    'and serving (distribution_skew) or between spans (drift).',
    '# TYPE taxi_monitoring_score gauge',
  ]
  thresholds = [
    '# HELP taxi_monitoring_threshold The threshold the score is held to.',
    '# TYPE taxi_monitoring_threshold gauge',
  ]
  for kind, compared in sorted((report.get('comparisons') or {}).items()):
    for c in compared:
      if c['value'] is None:
        continue
      labels = (
        f'model="{_label(model_name)}",span="{_label(span)}",'
        f'kind="{kind}",feature="{_label(c["feature"])}",'
        f'metric="{c["metric"]}"'
      )
      lines.append(f'taxi_monitoring_score{{{labels}}} {c["value"]}')
      thresholds.append(
        f'taxi_monitoring_threshold{{{labels}}} {c["threshold"]}'
      )
  findings = [
    '# HELP taxi_monitoring_findings Findings of the newest span per kind.',
    '# TYPE taxi_monitoring_findings gauge',
  ] + [
    f'taxi_monitoring_findings{{model="{_label(model_name)}",'
    f'span="{_label(span)}",kind="{kind}"}} {count}'
    for kind, count in sorted(report.get('counts', {}).items())
  ]
  return '\n'.join(lines + thresholds + findings) + '\n'


def write_textfile(path: str, text: str) -> None:
  """Atomically, as node_exporter's textfile collector requires."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  staging = f'{path}.{os.getpid()}.tmp'
  with open(staging, 'w') as f:
    f.write(text)
  os.replace(staging, path)


def findings_of(reports: Iterable[tuple]) -> List[tuple]:
  """(span, [Finding]) of (span, report) pairs."""
  return [
    (span, [Finding(**f) for f in report['findings']])
    for span, report in reports
  ]
