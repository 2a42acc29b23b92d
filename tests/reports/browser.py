"""Opens a page in headless Chromium (Debian's `chromium`) and reports what a
person would see go wrong, over the DevTools protocol: console errors,
uncaught exceptions, requests that leave the machine; plus the page's
section ids and a screenshot.

The protocol rather than `--enable-logging` output: its events are
structured (an exception is one event, not log lines to parse), it sees
network requests, and the same session reads the DOM and takes the
screenshot after the page has loaded."""

import base64
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from typing import List

import websocket

CHROMIUM_FLAGS = (
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-quic',
  '--remote-debugging-port=0',
  '--remote-allow-origins=*',
  '--window-size=1280,900',
)
LOCAL_SCHEMES = ('file:', 'data:', 'about:', 'blob:', 'chrome')


def chromium() -> str:
  return shutil.which('chromium')


@dataclasses.dataclass
class PageCheck:
  errors: List[str]
  external_requests: List[str]
  section_ids: List[str]
  plots: int
  rendered_plots: int
  seconds: float


def _port(user_data_dir: str, process, timeout: float) -> int:
  path = os.path.join(user_data_dir, 'DevToolsActivePort')
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if process.poll() is not None:
      raise RuntimeError(f'chromium exited with {process.returncode}')
    if os.path.isfile(path):
      with open(path) as f:
        first = f.readline().strip()
      if first:
        return int(first)
    time.sleep(0.1)
  raise TimeoutError('chromium did not open its DevTools port')


class _Session:
  def __init__(self, url: str):
    self._socket = websocket.create_connection(
      url, timeout=60, suppress_origin=True
    )
    self._id = 0
    self.events = []

  def call(self, method: str, **params):
    self._id += 1
    self._socket.send(
      json.dumps({'id': self._id, 'method': method, 'params': params})
    )
    while True:
      message = json.loads(self._socket.recv())
      if message.get('id') == self._id:
        if 'error' in message:
          raise RuntimeError(f'{method}: {message["error"]}')
        return message.get('result', {})
      self.events.append(message)

  def wait_for(self, method: str, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      if any(e.get('method') == method for e in self.events):
        return
      self._socket.settimeout(max(deadline - time.monotonic(), 0.1))
      self.events.append(json.loads(self._socket.recv()))
    raise TimeoutError(f'no {method} within {timeout} s')

  def close(self):
    self._socket.close()


def _problems(events):
  errors, external = [], []
  for event in events:
    method, params = event.get('method'), event.get('params', {})
    if method == 'Runtime.exceptionThrown':
      details = params['exceptionDetails']
      errors.append(
        'exception: '
        + details.get('exception', {}).get('description', details['text'])
      )
    elif method == 'Runtime.consoleAPICalled' and params['type'] in (
      'error',
      'assert',
    ):
      errors.append(
        'console.error: '
        + ' '.join(
          str(a.get('value', a.get('description'))) for a in params['args']
        )
      )
    elif method == 'Log.entryAdded' and params['entry']['level'] == 'error':
      errors.append(
        f'log: {params["entry"]["text"]} {params["entry"].get("url", "")}'
      )
    elif method == 'Network.requestWillBeSent':
      url = params['request']['url']
      if not url.startswith(LOCAL_SCHEMES):
        external.append(url)
  return errors, external


def _wait_for_group_exit(group: int, timeout: float) -> None:
  """Until no process of the group is left (SIGKILL after `timeout`)."""
  deadline = time.monotonic() + timeout
  while True:
    try:
      os.killpg(group, 0)
    except ProcessLookupError:
      return
    if time.monotonic() > deadline:
      os.killpg(group, signal.SIGKILL)
      deadline = time.monotonic() + timeout
    time.sleep(0.05)


def check_page(
  path: str, screenshot: str, section: str = '', timeout: float = 90
) -> PageCheck:
  """Loads `path`, waits for the load event (plotly draws before it), then
  saves a PNG of the window, scrolled to `section` if given, to
  `screenshot`."""
  started = time.monotonic()
  # Chromium's helper processes may still be writing the profile for a
  # moment after the browser exits: the whole process group is stopped, and
  # a file they leave behind does not fail the check.
  with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as user_data_dir:
    process = subprocess.Popen(
      [
        chromium(),
        *CHROMIUM_FLAGS,
        f'--user-data-dir={user_data_dir}',
        'about:blank',
      ],
      stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL,
      start_new_session=True,
    )
    try:
      port = _port(user_data_dir, process, timeout)
      with urllib.request.urlopen(f'http://127.0.0.1:{port}/json/list') as r:
        targets = json.load(r)
      page_url = next(
        t['webSocketDebuggerUrl'] for t in targets if t['type'] == 'page'
      )
      session = _Session(page_url)
      for domain in ('Runtime', 'Log', 'Network', 'Page'):
        session.call(f'{domain}.enable')
      session.call('Page.navigate', url='file://' + os.path.abspath(path))
      session.wait_for('Page.loadEventFired', timeout)
      found = session.call(
        'Runtime.evaluate',
        returnByValue=True,
        expression='({sections: [...document.querySelectorAll("section[id]")]'
        '.map(s => s.id), plots: document.querySelectorAll('
        '".plotly-graph-div").length, rendered: [...document.querySelectorAll('
        '".plotly-graph-div")].filter(d => d.querySelector(".main-svg"))'
        '.length})',
      )['result']['value']
      if section:
        session.call(
          'Runtime.evaluate',
          expression=f'document.getElementById("{section}").scrollIntoView()',
        )
      shot = session.call('Page.captureScreenshot', format='png')
      with open(screenshot, 'wb') as f:
        f.write(base64.b64decode(shot['data']))
      errors, external = _problems(session.events)
      session.close()
    finally:
      os.killpg(process.pid, signal.SIGTERM)
      process.wait(timeout=30)
      _wait_for_group_exit(process.pid, timeout=10)
  return PageCheck(
    errors=errors,
    external_requests=external,
    section_ids=found['sections'],
    plots=found['plots'],
    rendered_plots=found['rendered'],
    seconds=time.monotonic() - started,
  )
