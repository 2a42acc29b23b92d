"""The HTML report of a monitoring check: its findings with the compared
distributions, the history of checks and the request log's serving figures,
clean in headless Chromium."""

import re

import pytest

from tests.reports import browser
from tests.reports.test_run_report import SIZE_BUDGET


def _reported_path(output: str) -> str:
  [path] = re.findall(r'^  HTML report: (\S+\.html)$', output, re.MULTILINE)
  return path


def test_check_writes_a_report_per_check(monitoring_run):
  assert monitoring_run.returncode in (0, 1), monitoring_run.output[-3000:]
  path = _reported_path(monitoring_run.output)
  assert path.startswith(str(monitoring_run.work_dir / 'reports' / 'monitor-'))
  with open(path, encoding='utf-8') as f:
    text = f.read()
  assert len(text.encode()) < SIZE_BUDGET
  requests = len(monitoring_run.request_ids)
  # The request log's figures: every request, its latency and throughput.
  assert re.search(rf'<td class="n">{requests:,}</td>', text)
  assert 'Request latency' in text and 'Output probability' in text
  assert f'v{monitoring_run.model_version}' in text  # The history column.


@pytest.mark.skipif(
  browser.chromium() is None,
  reason='no chromium: run scripts/install_chromium.sh',
)
def test_report_opens_cleanly_in_chromium(monitoring_run, tmp_path):
  path = _reported_path(monitoring_run.output)
  check = browser.check_page(path, str(tmp_path / 'monitoring.png'))
  assert check.errors == []
  assert check.external_requests == []
  assert check.section_ids == ['findings', 'history', 'serving']
  assert check.plots >= 3
  assert check.rendered_plots == check.plots
