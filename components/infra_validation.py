"""Infra validation: the candidate SavedModel served the way production
serves it, asked real questions, before the Pusher may push it.

TFX's InfraValidator needs Docker or Kubernetes; this runs the model server
as a child process instead (`tensorflow_model_server` when it is on PATH,
else this project's `python -m serving`), so it runs wherever the
component runs, Kubeflow's launcher included. The candidate, with TF
Serving's warm-up file written into it, is served as version 1 of a
temporary base path; requests built from test-split rows go to REST predict
(serving_default), classify and regress, and each answer must have the
right shape, finite probabilities in [0, 1], agree with the SavedModel
called directly (tf.saved_model.load) to MAX_DIFFERENCE, and the p99
latency must be within the budget. Every failure is one line.

The outcome is what TFX's InfraValidator writes: INFRA_BLESSED or
INFRA_NOT_BLESSED in the InfraBlessing artifact and its `blessed` custom
property; on success also the warmed-up model in `stamped_model/` with
`has_model` = 1, which TFX's Pusher pushes when it has no `model` input.
`infra_validation.json` beside them holds the verdict, the reason and the
measured figures.
"""

import contextlib
import dataclasses
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
  classification_pb2,
  predict_pb2,
  prediction_log_pb2,
  regression_pb2,
)
from tfx.utils import io_utils, path_utils

from core import artifacts
from models import features
from models.signatures import PROBABILITY

# TFX's InfraValidator's file names and custom properties
# (tfx/components/infra_validator/executor.py), which TFX's Pusher reads.
BLESSED_FILE = 'INFRA_BLESSED'
NOT_BLESSED_FILE = 'INFRA_NOT_BLESSED'
BLESSED_KEY = 'blessed'
HAS_MODEL_KEY = 'has_model'
RESULT_FILE = 'infra_validation.json'
# TF Serving's warm-up file inside a SavedModel.
WARMUP_FILE = os.path.join('assets.extra', 'tf_serving_warmup_requests')

SERVING_DEFAULT = 'serving_default'
CLASSIFICATION = 'classification'
REGRESSION = 'regression'
MAX_DIFFERENCE = 1e-5
REAL_BINARY = 'tensorflow_model_server'
PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Requests go to the child server on loopback, never through an HTTP proxy
# the environment may name.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclasses.dataclass(frozen=True)
class Settings:
  """rows: test rows asked (in one batch request and one by one, per API);
  warmup_rows: rows in the warm-up request; p99_budget_ms: the latency
  budget of a request; startup_timeout_s: how long the server may take to
  make the version AVAILABLE."""

  rows: int = 20
  warmup_rows: int = 5
  p99_budget_ms: float = 2000.0
  startup_timeout_s: float = 180.0
  model_name: str = 'taxi'


@dataclasses.dataclass
class Result:
  passed: bool
  reason: str = ''  # One line; empty when passed.
  server: str = ''
  measurements: Dict[str, float] = dataclasses.field(default_factory=dict)

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


class ValidationError(Exception):
  """A failed check; its message is the one-line reason."""


# --- requests from test rows -------------------------------------------------


def read_examples(examples_artifact, split: str, count: int):
  """The first `count` raw tf.Examples of `split` (files in name order)."""
  pattern = os.path.join(artifacts.split_uri(examples_artifact, split), '*')
  files = sorted(tf.io.gfile.glob(pattern))
  if not files:
    raise ValueError(f'no examples in split {split!r} of {pattern}')
  dataset = tf.data.TFRecordDataset(files, compression_type='GZIP')
  return [
    tf.train.Example.FromString(record.numpy())
    for record in dataset.take(count)
  ]


def _values(example: tf.train.Example) -> dict:
  """Feature name -> its first value (int, float or str) of the serving
  features present in the example."""
  values = {}
  for name in features.SERVING_FEATURES:
    feature = example.features.feature.get(name)
    kind = feature.WhichOneof('kind') if feature is not None else None
    listed = getattr(feature, kind).value if kind else ()
    if listed:
      value = listed[0]
      values[name] = value.decode('utf-8') if kind == 'bytes_list' else value
  return values


def serving_inputs(examples) -> Dict[str, np.ndarray]:
  """serving_default's inputs: float32 with NaN when missing, strings with
  "" when missing."""
  rows = [_values(example) for example in examples]
  inputs = {
    name: np.array(
      [float(row.get(name, math.nan)) for row in rows], dtype=np.float32
    )
    for name in features.NUMERIC_FEATURES
  }
  for name in features.STRING_FEATURES:
    inputs[name] = np.array([row.get(name, '') for row in rows], dtype=object)
  return inputs


def predict_instances(inputs: Dict[str, np.ndarray]) -> List[dict]:
  """The same rows in REST's row format (NaN as JSON's NaN literal, which
  TF Serving's parser accepts)."""
  count = len(next(iter(inputs.values())))
  return [
    {
      name: (
        float(values[index]) if values.dtype != object else str(values[index])
      )
      for name, values in inputs.items()
    }
    for index in range(count)
  ]


def serving_examples(examples) -> List[tf.train.Example]:
  """The rows as classify/regress examples: the serving features only, of
  their original kinds."""
  result = []
  for example in examples:
    served = tf.train.Example()
    for name in features.SERVING_FEATURES:
      if name in example.features.feature:
        served.features.feature[name].CopyFrom(example.features.feature[name])
    result.append(served)
  return result


def json_examples(examples) -> List[dict]:
  """REST's classify/regress examples: JSON integers stay int64 features,
  numbers with a decimal point float features."""
  return [_values(example) for example in examples]


def warmup_logs(
  inputs: Dict[str, np.ndarray],
  examples: List[tf.train.Example],
  model_name: str,
) -> List[prediction_log_pb2.PredictionLog]:
  """A serving_default PredictRequest of the rows, then a classification
  ClassifyRequest and a regression RegressRequest of the same rows: TF
  Serving readies a signature on its first request, so each signature the
  REST API offers gets one before the version is AVAILABLE."""
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = SERVING_DEFAULT
  for name, values in inputs.items():
    if values.dtype == object:
      values = np.array([v.encode('utf-8') for v in values], dtype=object)
    request.inputs[name].CopyFrom(tf.make_tensor_proto(values))
  classify = classification_pb2.ClassificationRequest()
  classify.model_spec.name = model_name
  classify.model_spec.signature_name = CLASSIFICATION
  classify.input.example_list.examples.extend(examples)
  regress = regression_pb2.RegressionRequest()
  regress.model_spec.name = model_name
  regress.model_spec.signature_name = REGRESSION
  regress.input.example_list.examples.extend(examples)
  return [
    prediction_log_pb2.PredictionLog(
      predict_log=prediction_log_pb2.PredictLog(request=request)
    ),
    prediction_log_pb2.PredictionLog(
      classify_log=prediction_log_pb2.ClassifyLog(request=classify)
    ),
    prediction_log_pb2.PredictionLog(
      regress_log=prediction_log_pb2.RegressLog(request=regress)
    ),
  ]


def write_warmup(model_dir: str, logs) -> str:
  path = os.path.join(model_dir, WARMUP_FILE)
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.TFRecordWriter(path) as writer:
    for log in logs:
      writer.write(log.SerializeToString())
  return path


# --- the model's own answers -------------------------------------------------


def direct_outputs(model_dir: str, inputs, examples) -> Dict[str, np.ndarray]:
  """What the SavedModel itself answers, called through its signatures:
  predict probabilities [n], classify scores [n, 2], regress values [n]."""
  model = tf.saved_model.load(model_dir)
  signatures = model.signatures
  missing = [
    name
    for name in (SERVING_DEFAULT, CLASSIFICATION, REGRESSION)
    if name not in signatures
  ]
  if missing:
    raise ValidationError(f'the model has no signature {missing[0]!r}')
  serialized = tf.constant([e.SerializeToString() for e in examples])
  return {
    'predict': signatures[SERVING_DEFAULT](
      **{name: tf.constant(values) for name, values in inputs.items()}
    )[PROBABILITY].numpy(),
    'classify': signatures[CLASSIFICATION](inputs=serialized)['scores'].numpy(),
    'regress': signatures[REGRESSION](inputs=serialized)['outputs'].numpy(),
  }


# --- the server --------------------------------------------------------------


def free_port() -> int:
  with socket.socket() as sock:
    sock.bind(('127.0.0.1', 0))
    return sock.getsockname()[1]


def server_command(
  model_name: str, base_path: str, rest_port: int, work_dir: str
) -> List[str]:
  """The real TF Serving when it is on PATH, else this project's server."""
  common = [
    f'--model_name={model_name}',
    f'--model_base_path={base_path}',
    f'--rest_api_port={rest_port}',
    '--file_system_poll_wait_seconds=0',
  ]
  binary = shutil.which(REAL_BINARY)
  if binary:
    return [binary, f'--port={free_port()}', *common]
  return [
    sys.executable,
    '-m',
    'serving',
    *common,
    f'--request_log_dir={os.path.join(work_dir, "request_logs")}',
  ]


def _get_json(url: str, timeout: float = 5.0):
  with _OPENER.open(url, timeout=timeout) as response:
    return json.loads(response.read())


def _last_line(log_path: str) -> str:
  try:
    with open(log_path, errors='replace') as f:
      lines = [line.strip() for line in f if line.strip()]
  except OSError:
    return ''
  return lines[-1][-300:] if lines else ''


def _wait_available(process, url: str, log_path: str, timeout: float) -> None:
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if process.poll() is not None:
      raise ValidationError(
        f'the model server exited with code {process.returncode}: '
        f'{_last_line(log_path)}'
      )
    try:
      status = _get_json(url, timeout=1.0)['model_version_status']
    except (OSError, ValueError, KeyError):
      time.sleep(0.2)
      continue
    states = {s['state']: s for s in status}
    if 'AVAILABLE' in states:
      return
    if 'END' in states:
      error = states['END'].get('status', {}).get('error_message', '')
      raise ValidationError(
        f'the model server could not load the model: {error}'
      )
    time.sleep(0.2)
  raise ValidationError(
    f'the model was not AVAILABLE within {timeout:.0f} s: '
    f'{_last_line(log_path)}'
  )


@contextlib.contextmanager
def serve(
  version_dir_parent: str,
  settings: Settings,
  work_dir: str,
  meanwhile: Callable[[], Any],
):
  """Starts the server on `version_dir_parent` (holding version 1) and
  calls `meanwhile()` while it starts (its model load takes seconds of one
  core; the machine has two); yields (base URL of the model, command name,
  seconds until AVAILABLE, what `meanwhile` returned)."""
  port = free_port()
  command = server_command(
    settings.model_name, version_dir_parent, port, work_dir
  )
  log_path = os.path.join(work_dir, 'server.log')
  env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2'}
  env['PYTHONPATH'] = os.pathsep.join(
    [PROJECT_DIR, *filter(None, [env.get('PYTHONPATH')])]
  )
  started = time.monotonic()
  with open(log_path, 'wb') as log:
    process = subprocess.Popen(
      command, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
    )
  url = f'http://127.0.0.1:{port}/v1/models/{settings.model_name}'
  try:
    done_meanwhile = meanwhile()
    _wait_available(process, url, log_path, settings.startup_timeout_s)
    name = os.path.basename(command[0])
    if command[0] == sys.executable:
      name = 'python -m serving'
    yield url, name, time.monotonic() - started, done_meanwhile
  finally:
    if process.poll() is None:
      process.terminate()
      try:
        process.wait(timeout=30)
      except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _post(url: str, body: dict, latencies: List[float]) -> dict:
  data = json.dumps(body).encode('utf-8')
  request = urllib.request.Request(
    url, data=data, headers={'Content-Type': 'application/json'}
  )
  started = time.perf_counter()
  try:
    with _OPENER.open(request, timeout=60) as response:
      payload = response.read()
  except urllib.error.HTTPError as exc:
    detail = exc.read().decode('utf-8', 'replace').strip().replace('\n', ' ')
    raise ValidationError(
      f'{url.rsplit(":", 1)[-1]} returned HTTP {exc.code}: {detail[:300]}'
    ) from None
  latencies.append((time.perf_counter() - started) * 1000.0)
  return json.loads(payload)


# --- checks ------------------------------------------------------------------


def _check_values(what: str, got, expected: np.ndarray) -> None:
  """Shape, finite, in [0, 1], and agreement with the model's own answer."""
  try:
    values = np.asarray(got, dtype=np.float64)
  except (TypeError, ValueError):
    raise ValidationError(f'{what}: answers are not numbers') from None
  if values.shape != expected.shape:
    raise ValidationError(
      f'{what}: shape {list(values.shape)}, expected {list(expected.shape)}'
    )
  bad = ~np.isfinite(values)
  if bad.any():
    raise ValidationError(
      f'{what}: {int(bad.sum())} of {values.size} probabilities are not '
      'finite (NaN or infinite)'
    )
  outside = (values < 0) | (values > 1)
  if outside.any():
    raise ValidationError(
      f'{what}: {int(outside.sum())} of {values.size} probabilities are '
      'outside [0, 1]'
    )
  difference = float(np.max(np.abs(values - expected))) if values.size else 0
  if not difference <= MAX_DIFFERENCE:
    raise ValidationError(
      f'{what}: differs from the SavedModel called directly by '
      f'{difference:.3g} (at most {MAX_DIFFERENCE:g})'
    )


def _predict(url, instances, latencies):
  body = {'signature_name': SERVING_DEFAULT, 'instances': instances}
  answer = _post(f'{url}:predict', body, latencies)
  predictions = answer.get('predictions')
  if not isinstance(predictions, list):
    raise ValidationError('predict: the answer has no predictions list')
  return [p[PROBABILITY] if isinstance(p, dict) else p for p in predictions]


def _classify(url, examples, latencies):
  body = {'signature_name': CLASSIFICATION, 'examples': examples}
  answer = _post(f'{url}:classify', body, latencies)
  scores = []
  for result in answer.get('results') or []:
    labels = [label for label, _ in result]
    if labels != ['0', '1']:
      raise ValidationError(f'classify: classes {labels}, expected ["0", "1"]')
    scores.append([score for _, score in result])
  return scores


def _regress(url, examples, latencies):
  body = {'signature_name': REGRESSION, 'examples': examples}
  return _post(f'{url}:regress', body, latencies).get('results')


def check_requests(url: str, inputs, examples, expected) -> List[float]:
  """Every row in one batch request, then one request per row, to each API;
  returns the latencies (ms)."""
  instances = predict_instances(inputs)
  as_json = json_examples(examples)
  latencies: List[float] = []
  calls = (
    ('predict (serving_default)', _predict, instances, expected['predict']),
    ('classify (classification)', _classify, as_json, expected['classify']),
    ('regress (regression)', _regress, as_json, expected['regress']),
  )
  for what, call, rows, wanted in calls:
    _check_values(what, call(url, rows, latencies), wanted)
    for index, row in enumerate(rows):
      _check_values(
        f'{what}, row {index}',
        call(url, [row], latencies),
        wanted[index : index + 1],
      )
  return latencies


def _percentile(values: List[float], q: float) -> float:
  return float(np.percentile(values, q)) if values else 0.0


def warmed_up_model(work_dir: str) -> str:
  """Where `validate` leaves the candidate's copy with its warm-up file."""
  return os.path.join(work_dir, 'model', '1')


def validate(
  model_dir: str, examples, settings: Settings, work_dir: str
) -> Result:
  """The candidate's copy, with TF Serving's warm-up file written into it
  (at warmed_up_model(work_dir)), served and asked. Never raises: a failed
  check is the result's reason."""
  result = Result(passed=False)
  started = time.monotonic()
  try:
    rows = examples[: settings.rows]
    if not rows:
      raise ValidationError('no test rows to build requests from')
    inputs = serving_inputs(rows)
    served_examples = serving_examples(rows)
    version_dir = warmed_up_model(work_dir)
    io_utils.copy_dir(model_dir, version_dir)
    write_warmup(
      version_dir,
      warmup_logs(
        serving_inputs(rows[: settings.warmup_rows]),
        served_examples[: settings.warmup_rows],
        settings.model_name,
      ),
    )

    def expected_outputs():
      try:
        return direct_outputs(model_dir, inputs, served_examples)
      except ValidationError:
        raise
      except Exception as exc:  # noqa: BLE001 - reported as the reason.
        raise ValidationError(
          f'the SavedModel does not load or run: {_first_line(exc)}'
        ) from None

    with serve(
      os.path.dirname(version_dir), settings, work_dir, expected_outputs
    ) as (url, server, startup, expected):
      result.server = server
      result.measurements['startup_s'] = round(startup, 2)
      latencies = check_requests(url, inputs, served_examples, expected)
    p99 = _percentile(latencies, 99)
    result.measurements.update(
      requests=len(latencies),
      rows=len(rows),
      p50_ms=round(_percentile(latencies, 50), 2),
      p99_ms=round(p99, 2),
      max_ms=round(max(latencies), 2),
      p99_budget_ms=settings.p99_budget_ms,
    )
    if p99 > settings.p99_budget_ms:
      raise ValidationError(
        f'p99 latency {p99:.0f} ms over the budget of '
        f'{settings.p99_budget_ms:.0f} ms ({len(latencies)} requests)'
      )
    result.passed = True
  except ValidationError as exc:
    result.reason = str(exc)
  except Exception as exc:  # noqa: BLE001 - any failure blocks the push.
    result.reason = f'{type(exc).__name__}: {_first_line(exc)}'
  result.measurements['seconds'] = round(time.monotonic() - started, 2)
  return result


def _first_line(exc: Exception) -> str:
  return (str(exc).strip().split('\n') or [''])[0][:300]


# --- the InfraBlessing -------------------------------------------------------


def write_blessing(blessing_uri: str, result: Result, set_property) -> None:
  """The marker file, `infra_validation.json` and the `blessed` property
  (set_property(name, int))."""
  tf.io.gfile.makedirs(blessing_uri)
  marker = BLESSED_FILE if result.passed else NOT_BLESSED_FILE
  # GFile creates a file at its first write only.
  with tf.io.gfile.GFile(os.path.join(blessing_uri, marker), 'w') as f:
    f.write('')
  with tf.io.gfile.GFile(os.path.join(blessing_uri, RESULT_FILE), 'w') as f:
    json.dump(result.to_json(), f, indent=2)
  set_property(BLESSED_KEY, int(result.passed))


def read_result(blessing_uri: str) -> Optional[dict]:
  path = os.path.join(blessing_uri, RESULT_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def run(
  model_dir: str, examples, blessing_uri: str, settings: Settings, set_property
) -> Result:
  """Validates; writes the blessing and, when it passed, the warmed-up model
  at stamped_model/ (has_model = 1), as TFX's InfraValidator does."""
  work_dir = tempfile.mkdtemp(prefix='infra-validation-')
  try:
    result = validate(model_dir, examples, settings, work_dir)
    if result.passed:
      io_utils.copy_dir(
        warmed_up_model(work_dir), path_utils.stamped_model_path(blessing_uri)
      )
      set_property(HAS_MODEL_KEY, 1)
    write_blessing(blessing_uri, result, set_property)
  finally:
    shutil.rmtree(work_dir, ignore_errors=True)
  return result
