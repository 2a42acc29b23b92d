"""Alertmanager webhook JSON to a loopback HTTP server; Prometheus text."""

import http.server
import json
import threading

from components.skew_detection import Finding
from continuous import alerts


def test_decision_and_findings_are_posted_as_alertmanager_json():
  received = []

  class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # pylint: disable=invalid-name
      body = self.rfile.read(int(self.headers['Content-Length']))
      received.append((self.headers['Content-Type'], json.loads(body)))
      self.send_response(200)
      self.end_headers()

    def log_message(self, *args):
      del args

  server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
  thread = threading.Thread(target=server.handle_request)
  thread.start()
  finding = Finding(
    'trip_start_hour', 'drift', 'jensen_shannon_divergence', 0.09, 0.006, 'x'
  )
  payload = alerts.webhook_payload(
    alerts.alerts('taxi', [('span-2', [finding])], 'retrain', 'why', '7')
  )
  status = alerts.post(f'http://127.0.0.1:{server.server_port}/', payload)
  thread.join(10)
  server.server_close()
  assert status == 200
  ((content_type, body),) = received
  assert content_type == 'application/json'
  assert body['version'] == '4' and body['status'] == 'firing'
  decision, drift = body['alerts']
  assert decision['labels']['decision'] == 'retrain'
  assert decision['annotations']['description'] == 'why'
  assert drift['labels'] == {
    'alertname': alerts.ALERT_NAME,
    'model': 'taxi',
    'kind': 'drift',
    'feature': 'trip_start_hour',
    'span': 'span-2',
    'severity': 'warning',
    'model_version': '7',
  }
  assert body['commonLabels'] == {
    'alertname': alerts.ALERT_NAME,
    'model': 'taxi',
    'severity': 'warning',
    'model_version': '7',
  }
  assert drift['endsAt'] == alerts.ZERO_TIME


def test_prometheus_text_has_a_gauge_per_compared_feature(tmp_path):
  report = {
    'counts': {'drift': 1},
    'comparisons': {
      'drift': [
        {
          'feature': 'trip_start_hour',
          'metric': 'jensen_shannon_divergence',
          'value': 0.09,
          'threshold': 0.006,
        },
        {
          'feature': 'fare',
          'metric': 'jensen_shannon_divergence',
          'value': None,
          'threshold': 0.15,
        },
      ]
    },
  }
  path = tmp_path / 'm' / 'taxi.prom'
  alerts.write_textfile(str(path), alerts.prometheus_text('taxi', 's2', report))
  text = path.read_text()
  labels = (
    'model="taxi",span="s2",kind="drift",feature="trip_start_hour",'
    'metric="jensen_shannon_divergence"'
  )
  assert f'taxi_monitoring_score{{{labels}}} 0.09\n' in text
  assert f'taxi_monitoring_threshold{{{labels}}} 0.006\n' in text
  assert 'feature="fare"' not in text  # Not compared: no score.
  assert (
    'taxi_monitoring_findings{model="taxi",span="s2",kind="drift"} 1' in text
  )
  assert '# TYPE taxi_monitoring_score gauge' in text
