"""--workers N over real sockets: both workers answer on one port, the request log and metrics stay whole."""

import json
import os

import requests

from serving import request_log
from serving.metrics_merge import merge
from tests.serving.conftest import (
  assert_refused,
  raw_instance,
  server_args,
  subprocess_server,
  wait_until,
)
from tests.serving.test_rest_contract import metric_value

# Request ids the server makes up start with a random per-process prefix of this length.
ID_PREFIX_CHARS = 16


def test_two_workers_both_answer_and_log_every_request_once(
  tmp_path, model_base_path, monitoring_config
):
  log_dir = tmp_path / 'logs'
  args = server_args(
    model_base_path,
    str(log_dir),
    '--workers=2',
    f'--monitoring_config_file={monitoring_config}',
    '--file_system_poll_wait_seconds=0',
    '--request_log_flush_seconds=0.1',
  )
  body = json.dumps({'instances': [raw_instance()]})
  answered = {}  # request id -> prediction
  with subprocess_server(args) as (process, url):

    def both_workers_answered():
      # A new connection per request, so the kernel may pick either worker.
      response = requests.post(
        url + '/v1/models/taxi:predict', data=body, timeout=30
      )
      assert response.status_code == 200, response.text
      answered[response.headers['X-Request-Id']] = response.json()
      prefixes = {rid[:ID_PREFIX_CHARS] for rid in answered}
      return len(prefixes) == 2

    wait_until(both_workers_answered, timeout=120, interval=0)
    predictions = {json.dumps(p) for p in answered.values()}
    assert len(predictions) == 1  # The same model behind both.

    def scraped_count():
      text = requests.get(
        url + '/monitoring/prometheus/metrics', timeout=10
      ).text
      return (
        text
        if (
          metric_value(
            text,
            ':tensorflow:serving:request_count',
            model_name='taxi',
            status='OK',
          )
          == len(answered)
        )
        else None
      )

    # Other workers' share is published every second: the scrape converges to the group's total.
    metrics = wait_until(scraped_count, timeout=30, interval=0.2)
    assert (
      metric_value(metrics, 'serving_model_version', model_name='taxi') == 1
    )
  assert process.returncode == 0
  files = request_log.log_files(str(log_dir))
  pids = {os.path.basename(path).split('-')[2] for path in files}
  assert len(pids) == 2, files  # One set of files per worker, never shared.
  records = list(request_log.read_records(str(log_dir)))  # Every line parses.
  ids = [record['request_id'] for record in records]
  assert sorted(ids) == sorted(answered)


def test_worker_metrics_are_summed_and_versions_take_the_highest():
  first = (
    '# HELP c Requests.\n# TYPE c counter\nc{s="OK"} 2\n'
    '# HELP serving_model_version V.\n# TYPE serving_model_version gauge\n'
    'serving_model_version{model_name="taxi"} 3\n'
    '# HELP h H.\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 0.5\nh_count 1\n'
  )
  second = (
    '# HELP c Requests.\n# TYPE c counter\nc{s="OK"} 5\nc{s="NOT_FOUND"} 1\n'
    '# HELP serving_model_version V.\n# TYPE serving_model_version gauge\n'
    'serving_model_version{model_name="taxi"} 2\n'
    '# HELP h H.\n# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1.25\nh_count 2\n'
  )
  assert merge([first, second]) == (
    '# HELP c Requests.\n# TYPE c counter\nc{s="OK"} 7\nc{s="NOT_FOUND"} 1\n'
    '# HELP serving_model_version V.\n# TYPE serving_model_version gauge\n'
    'serving_model_version{model_name="taxi"} 3\n'
    '# HELP h H.\n# TYPE h histogram\nh_bucket{le="+Inf"} 3\nh_sum 1.75\nh_count 3\n'
  )


def test_zero_workers_is_one_clear_line(tmp_path):
  assert_refused(
    [f'--model_base_path={tmp_path}', '--workers=0'],
    'error: --workers must be >= 1',
  )
