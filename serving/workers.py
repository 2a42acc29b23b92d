"""--workers N: N server processes answering on the same ports, so one process's GIL is not the limit.

The parent process loads no model: it reserves the ports, starts N copies of `python -m serving` with the
same flags (each a complete server: models, batching, request log, metrics), forwards SIGTERM/SIGINT to them
and waits. Each worker binds the ports itself with SO_REUSEPORT, and the kernel spreads incoming connections
over the workers' listening sockets (grpcio sets SO_REUSEPORT on its ports by default). A worker that exits
stops the others and the parent exits with its code, so the supervisor (systemd, Kubernetes) restarts the
whole server rather than it running degraded unnoticed.

Request log: each worker writes its own files (`requests-<time>-<pid>-<seq>.jsonl`) into the same directory,
which is what every reader globs (serving.request_log.read_records, monitoring_runner, lineage), so no line is
ever shared between writers. Metrics: see serving.metrics_merge.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

WORKER_ENV = (
  'SERVING_WORKER'  # "<index>/<count>:<metrics dir>" in a worker's environment.
)
POLL_SECONDS = 0.2


def reserve_port(host: str, port: int) -> socket.socket:
  """A bound, non-listening SO_REUSEPORT socket: holds the port (0: a free one) for the workers without
  receiving any connection itself (the kernel only hands connections to listening sockets)."""
  family = socket.getaddrinfo(
    host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
  )[0][0]
  sock = socket.socket(family, socket.SOCK_STREAM)
  sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
  sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
  sock.bind((host, port))
  return sock


def parse_worker_env(value: str) -> tuple[int, int, str] | None:
  """(index, count, metrics dir) from SERVING_WORKER, or None outside a worker group."""
  if not value:
    return None
  position, _, metrics_dir = value.partition(':')
  index, _, count = position.partition('/')
  return int(index), int(count), metrics_dir


def run_workers(argv: list[str], config) -> int:
  """Runs `config` as config.workers processes until SIGTERM/SIGINT; returns the exit code."""
  reserved = [reserve_port(config.host, config.rest_api_port)]
  rest_port = reserved[0].getsockname()[1]
  overrides = [f'--rest_api_port={rest_port}', '--workers=1']
  grpc_port = config.grpc_port
  if grpc_port:
    reserved.append(reserve_port(config.host, max(grpc_port, 0)))
    overrides.append(f'--port={reserved[-1].getsockname()[1]}')
  metrics_dir = tempfile.mkdtemp(prefix='serving-metrics-')
  stop = []
  for signum in (signal.SIGTERM, signal.SIGINT):
    signal.signal(signum, lambda signum, _frame: stop.append(signum))
  # argparse keeps the last occurrence of a flag, so the overrides win over the user's values.
  command = [sys.executable, '-m', 'serving', *argv, *overrides]
  processes = []
  for index in range(config.workers):
    env = {
      **os.environ,
      WORKER_ENV: f'{index}/{config.workers}:{metrics_dir}',
    }
    processes.append(subprocess.Popen(command, env=env))
  print(
    f'serving: {config.workers} workers on REST port {rest_port}'
    + (f', gRPC port {reserved[-1].getsockname()[1]}' if grpc_port else '')
    + f' (pids {", ".join(str(p.pid) for p in processes)})',
    file=sys.stderr,
    flush=True,
  )
  code = 0
  try:
    while not stop:
      exited = [p for p in processes if p.poll() is not None]
      if exited:
        code = exited[0].returncode or 1
        print(
          f'serving: worker {exited[0].pid} exited with code '
          f'{exited[0].returncode}; stopping the others',
          file=sys.stderr,
          flush=True,
        )
        break
      time.sleep(POLL_SECONDS)
  finally:
    for process in processes:
      if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for process in processes:
      try:
        process.wait(timeout=max(0.1, deadline - time.monotonic()))
      except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for sock in reserved:
      sock.close()
    for name in os.listdir(metrics_dir):
      os.unlink(os.path.join(metrics_dir, name))
    os.rmdir(metrics_dir)
  return code
