"""Serving benchmark: REST latency and throughput of `python -m serving` next to the in-process model call.

    TF_USE_LEGACY_KERAS=1 .venv/bin/python benchmarks/serving_benchmark.py [--model_base_path serving_model/taxi]

Measures, in one run on loopback:
  * the floor: median/p99 latency and rate of calling the SavedModel's serving_default concrete function in-process
    with one row (what any server must pay);
  * single-row predict over REST, sequential keep-alive requests: median/p99, with the request log on and off;
  * throughput and latency (p50, p99, p99.9) with 1, 8 and 64 concurrent keep-alive clients (client processes,
    bounded by --seconds each), with server-side batching on and off, and with batching on and --workers=N
    (default 2), and the server's CPU per request (all its processes) and requests/s per server core.
Targets: REST p50 <= in-process p50 + 1 ms; 64-client throughput >= 2x the single-thread in-process rate;
with batching on, p99 <= 3x p50 at 64 clients.
Every loop is bounded by a request count or a duration.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROW = {
  'fare': 12.5,
  'trip_miles': 3.0,
  'trip_seconds': 600.0,
  'trip_start_hour': 10.0,
  'trip_start_day': 3.0,
  'trip_start_month': 5.0,
  'pickup_latitude': 41.9,
  'pickup_longitude': -87.6,
  'dropoff_latitude': 41.8,
  'dropoff_longitude': -87.6,
  'pickup_community_area': 8.0,
  'dropoff_community_area': 32.0,
  'payment_type': 'Credit Card',
  'company': 'Flash Cab',
}
BODY = json.dumps({'instances': [ROW]})


def percentile(values, q):
  ordered = sorted(values)
  return ordered[
    min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))
  ]


def _latency_figures(call, count: int) -> dict:
  for _ in range(50):
    call()
  latencies = []
  for _ in range(count):
    start = time.perf_counter()
    call()
    latencies.append(time.perf_counter() - start)
  return {
    'p50_ms': statistics.median(latencies) * 1e3,
    'p99_ms': percentile(latencies, 99) * 1e3,
    'rate': count / sum(latencies),
  }


def in_process_floor(model_dir: str, count: int) -> dict:
  """The public call of serving_default (the floor the targets refer to) and the server's own call path."""
  import numpy as np
  import tensorflow as tf

  from serving.servable import Servable

  function = tf.saved_model.load(model_dir).signatures['serving_default']
  arrays = {
    k: np.array([v], dtype=object if isinstance(v, str) else np.float32)
    for k, v in ROW.items()
  }

  def public_call():
    tensors = {
      k: tf.constant(v, dtype=tf.string if v.dtype == object else None)
      for k, v in arrays.items()
    }
    return {k: t.numpy() for k, t in function(**tensors).items()}

  servable = Servable('taxi', 0, model_dir)
  signature = servable.signature('serving_default')
  floor = _latency_figures(public_call, count)
  floor['server_path'] = _latency_figures(
    lambda: servable.run(signature, arrays), count
  )
  return floor


def latest_version_dir(base: str) -> str | None:
  versions = (
    [int(d) for d in os.listdir(base) if d.isdigit()]
    if os.path.isdir(base)
    else []
  )
  return os.path.join(base, str(max(versions))) if versions else None


def free_port() -> int:
  with socket.socket() as sock:
    sock.bind(('127.0.0.1', 0))
    return sock.getsockname()[1]


def start_server(
  base: str, workdir: str, *extra: str
) -> tuple[subprocess.Popen, int]:
  port = free_port()
  log = open(os.path.join(workdir, f'server-{port}.log'), 'wb')
  process = subprocess.Popen(
    [
      sys.executable,
      '-m',
      'serving',
      '--model_name=taxi',
      f'--model_base_path={base}',
      f'--rest_api_port={port}',
      f'--request_log_dir={os.path.join(workdir, "request_logs")}',
      *extra,
    ],
    cwd=REPO_ROOT,
    stdout=log,
    stderr=subprocess.STDOUT,
    env={**os.environ, 'TF_USE_LEGACY_KERAS': '1'},
  )
  deadline = time.monotonic() + 120
  while time.monotonic() < deadline:
    if process.poll() is not None:
      raise RuntimeError(f'server exited; see {log.name}')
    try:
      connection = http.client.HTTPConnection('127.0.0.1', port, timeout=1)
      connection.request('GET', '/v1/models/taxi')
      if connection.getresponse().status == 200:
        return process, port
    except OSError:
      time.sleep(0.2)
  process.kill()
  raise RuntimeError('server did not become ready')


def stop_server(process: subprocess.Popen) -> None:
  process.send_signal(signal.SIGTERM)
  try:
    process.wait(timeout=30)
  except subprocess.TimeoutExpired:
    process.kill()


def _post_predict(connection: http.client.HTTPConnection):
  """One predict request of BODY; the response, already read."""
  connection.request(
    'POST',
    '/v1/models/taxi:predict',
    BODY,
    {'Content-Type': 'application/json'},
  )
  response = connection.getresponse()
  response.read()
  return response


def sequential_latency(port: int, count: int) -> dict:
  connection = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
  for _ in range(50):
    _post_predict(connection)
  latencies = []
  for _ in range(count):
    start = time.perf_counter()
    response = _post_predict(connection)
    latencies.append(time.perf_counter() - start)
    if response.status != 200:
      raise RuntimeError(f'HTTP {response.status}')
  connection.close()
  return {
    'p50_ms': statistics.median(latencies) * 1e3,
    'p99_ms': percentile(latencies, 99) * 1e3,
  }


def grpc_sequential_latency(port: int, count: int) -> dict:
  """Single-row Predict with the official tensorflow-serving-api stub, sequential requests on one channel."""
  import grpc
  import tensorflow as tf
  from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

  request = predict_pb2.PredictRequest()
  request.model_spec.name = 'taxi'
  for name, value in ROW.items():
    request.inputs[name].CopyFrom(
      tf.make_tensor_proto(
        [value], dtype=tf.string if isinstance(value, str) else tf.float32
      )
    )
  with grpc.insecure_channel(f'127.0.0.1:{port}') as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    for _ in range(50):
      stub.Predict(request, 30)
    latencies = []
    for _ in range(count):
      start = time.perf_counter()
      stub.Predict(request, 30)
      latencies.append(time.perf_counter() - start)
  return {
    'p50_ms': statistics.median(latencies) * 1e3,
    'p99_ms': percentile(latencies, 99) * 1e3,
  }


def _client_process(port: int, threads: int, seconds: float, results) -> None:
  import threading

  cpu_start = time.process_time()
  per_client = []
  stop_at = time.monotonic() + seconds

  def client():
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    ok = failed = 0
    latencies = []
    while time.monotonic() < stop_at:
      start = time.perf_counter()
      try:
        response = _post_predict(connection)
        if response.status == 200:
          ok += 1
          latencies.append(time.perf_counter() - start)
        else:
          failed += 1
      except (OSError, http.client.HTTPException):
        failed += 1
        connection.close()
    per_client.append((ok, failed, latencies))

  workers = [threading.Thread(target=client) for _ in range(threads)]
  for worker in workers:
    worker.start()
  for worker in workers:
    worker.join()
  results.put(
    (
      sum(c[0] for c in per_client),
      sum(c[1] for c in per_client),
      time.process_time() - cpu_start,
      [latency for c in per_client for latency in c[2]],
    )
  )


def process_cpu_seconds(pid: int) -> float:
  """utime + stime of a process (Linux /proc), to show how the 2 cores are shared between server and clients."""
  with open(f'/proc/{pid}/stat') as f:
    fields = f.read().rsplit(')', 1)[1].split()
  return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def tree_cpu_seconds(pid: int) -> float:
  """CPU of a process and its children (the workers of --workers N), from /proc."""
  total = process_cpu_seconds(pid)
  try:
    tasks = os.listdir(f'/proc/{pid}/task')
  except OSError:
    return total
  for task in tasks:
    try:
      with open(f'/proc/{pid}/task/{task}/children') as f:
        children = [int(c) for c in f.read().split()]
    except OSError:
      continue
    for child in children:
      try:
        total += tree_cpu_seconds(child)
      except OSError:
        pass  # Exited meanwhile.
  return total


def wait_for_workers(port: int, workers: int, timeout: float = 120) -> None:
  """Returns once `workers` distinct server processes have answered (their request ids' random prefixes
  differ), each on a new connection so the kernel may pick any of them."""
  prefixes = set()
  deadline = time.monotonic() + timeout
  while len(prefixes) < workers:
    if time.monotonic() > deadline:
      raise RuntimeError(f'only {len(prefixes)} of {workers} workers answered')
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    response = _post_predict(connection)
    prefixes.add(response.getheader('X-Request-Id', '')[:16])
    connection.close()


def throughput(
  port: int, clients: int, seconds: float, server_pid: int
) -> dict:
  # Clients run in separate processes so the client side's GIL is not what is measured.
  context = multiprocessing.get_context('spawn')
  processes_count = min(clients, 4)
  results = context.Queue()
  per_process = [
    clients // processes_count + (i < clients % processes_count)
    for i in range(processes_count)
  ]
  processes = [
    context.Process(target=_client_process, args=(port, n, seconds, results))
    for n in per_process
  ]
  server_cpu = tree_cpu_seconds(server_pid)
  start = time.perf_counter()
  for process in processes:
    process.start()
  totals = [results.get(timeout=seconds + 120) for _ in processes]
  elapsed = time.perf_counter() - start
  server_cpu = tree_cpu_seconds(server_pid) - server_cpu
  for process in processes:
    process.join(timeout=30)
  ok, failed = sum(t[0] for t in totals), sum(t[1] for t in totals)
  latencies = sorted(latency for t in totals for latency in t[3])
  # Client start-up is inside `elapsed`; each client runs exactly `seconds`, the fairer denominator.
  return {
    'clients': clients,
    'p50_ms': percentile(latencies, 50) * 1e3,
    'p99_ms': percentile(latencies, 99) * 1e3,
    'p999_ms': percentile(latencies, 99.9) * 1e3,
    'requests': ok,
    'failed': failed,
    'rps': ok / seconds,
    'wall_s': elapsed,
    'client_cpu_s': sum(t[2] for t in totals),
    'server_cpu_s': server_cpu,
  }


def main() -> int:
  os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument('--model_base_path', default='serving_model/taxi')
  parser.add_argument(
    '--fallback_to_toy_model',
    type=lambda s: s.lower() in ('1', 'true', 'yes'),
    default=True,
    help='Build the toy test model into a temp dir when --model_base_path has no version '
    '(default true).',
  )
  parser.add_argument('--latency_requests', type=int, default=1000)
  parser.add_argument(
    '--seconds',
    type=float,
    default=5.0,
    help='Duration of each throughput run.',
  )
  parser.add_argument('--max_batch_size', type=int, default=64)
  parser.add_argument(
    '--workers',
    type=int,
    default=2,
    help='Also measure batching on with --workers=N server processes (1: skip; default 2).',
  )
  args = parser.parse_args()

  workdir = tempfile.mkdtemp(prefix='serving-benchmark-')
  try:
    base = os.path.abspath(args.model_base_path)
    model_dir = latest_version_dir(base)
    if model_dir is None:
      if not args.fallback_to_toy_model:
        print(f'No model version under {base}', file=sys.stderr)
        return 2
      sys.path.insert(
        0, REPO_ROOT
      )  # The toy model is test data (tests/serving).
      from tests.serving.toy_model import build_toy_model

      base = os.path.join(workdir, 'taxi')
      model_dir = build_toy_model(base, 1)
      print(
        f'No model under {args.model_base_path}: using the toy test model at {model_dir}'
      )
    print(f'Model: {model_dir}   CPUs: {os.cpu_count()}')

    floor = in_process_floor(model_dir, args.latency_requests)
    server_path = floor['server_path']
    print(
      f'\nIn-process serving_default, 1 row (the floor):  p50 {floor["p50_ms"]:.3f} ms   '
      f'p99 {floor["p99_ms"]:.3f} ms   rate {floor["rate"]:.0f} calls/s (single thread)'
    )
    print(
      f"The server's own call path in-process (Servable.run, session callable):  p50 {server_path['p50_ms']:.3f} ms"
      f'   p99 {server_path["p99_ms"]:.3f} ms   rate {server_path["rate"]:.0f} calls/s'
    )

    batching = os.path.join(workdir, 'batching.config')
    with open(batching, 'w') as f:
      f.write(
        f'max_batch_size {{ value: {args.max_batch_size} }}\nbatch_timeout_micros {{ value: 0 }}\n'
        f'num_batch_threads {{ value: 2 }}\nmax_enqueued_batches {{ value: 100 }}\n'
      )

    rows = []
    grpc_port = free_port()
    for label, extra in (
      ('request log on ', (f'--port={grpc_port}',)),
      ('request log off', ('--enable_request_log=false',)),
    ):
      process, port = start_server(base, workdir, *extra)
      try:
        rows.append((label, sequential_latency(port, args.latency_requests)))
        if label.startswith('request log on'):
          grpc_figures = grpc_sequential_latency(
            grpc_port, args.latency_requests
          )
      finally:
        stop_server(process)
    print(
      '\nREST single-row predict, sequential keep-alive requests (no batching):'
    )
    for label, result in rows:
      print(
        f'  {label}: p50 {result["p50_ms"]:.3f} ms   p99 {result["p99_ms"]:.3f} ms   '
        f'p50 overhead over in-process {result["p50_ms"] - floor["p50_ms"]:+.3f} ms '
        f'(target <= +1 ms: {"met" if result["p50_ms"] - floor["p50_ms"] <= 1.0 else "NOT met"})'
      )
    print(
      f'  request-log cost at p50: {rows[0][1]["p50_ms"] - rows[1][1]["p50_ms"]:+.3f} ms'
    )
    print(
      f'  gRPC Predict (official stub), same server, log on: p50 {grpc_figures["p50_ms"]:.3f} ms   '
      f'p99 {grpc_figures["p99_ms"]:.3f} ms'
    )
    print(
      f"  HTTP cost alone (REST p50, log on, minus the server's call path in-process): "
      f'{rows[0][1]["p50_ms"] - server_path["p50_ms"]:+.3f} ms'
    )

    batching_flags = (
      '--enable_batching',
      f'--batching_parameters_file={batching}',
    )
    runs = [
      (f'batching on (max_batch_size {args.max_batch_size})', batching_flags),
      ('batching off', ()),
    ]
    if args.workers > 1:
      runs.append(
        (
          f'batching on, --workers={args.workers}',
          (*batching_flags, f'--workers={args.workers}'),
        )
      )
    for label, extra in runs:
      process, port = start_server(base, workdir, *extra)
      try:
        if args.workers > 1 and f'--workers={args.workers}' in extra:
          wait_for_workers(port, args.workers)
        single = sequential_latency(port, args.latency_requests)
        print(
          f'\nREST, {label}, sequential: p50 {single["p50_ms"]:.3f} ms   p99 {single["p99_ms"]:.3f} ms'
        )
        print(
          f'Throughput and latency under load, {label}, {args.seconds:.0f} s each:'
        )
        for clients in (1, 8, 64):
          result = throughput(port, clients, args.seconds, process.pid)
          server_cores = result['server_cpu_s'] / args.seconds
          print(
            f'  {clients:3d} clients: {result["rps"]:7.0f} req/s   p50 {result["p50_ms"]:.2f} ms   '
            f'p99 {result["p99_ms"]:.2f} ms   p99.9 {result["p999_ms"]:.2f} ms   '
            f'p99/p50 {result["p99_ms"] / result["p50_ms"]:.2f}   ({result["requests"]} ok, '
            f'{result["failed"]} failed)   = {result["rps"] / floor["rate"]:.2f}x in-process rate'
          )
          # CPU seconds per second of load: the share of the cores each side used (the machine may be shared).
          print(
            f'       CPU: server {server_cores:.2f} cores '
            f'({result["rps"] / max(server_cores, 1e-9):.0f} req/s per server core, '
            f'{result["server_cpu_s"] / max(result["requests"], 1) * 1e3:.3f} ms/request), '
            f'load generator {result["client_cpu_s"] / args.seconds:.2f} cores, '
            f'of {os.cpu_count()} cores'
          )
      finally:
        stop_server(process)
  finally:
    shutil.rmtree(workdir, ignore_errors=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
