"""Command-line flags (named after tensorflow_model_server's) and the config files they point to."""

import argparse
import dataclasses
import logging
import os

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.protos import tf_serving_config_pb2

TF_SERVING_FLAGS = (
  'port',
  'rest_api_port',
  'rest_api_num_threads',
  'rest_api_timeout_in_ms',
  'model_name',
  'model_base_path',
  'model_config_file',
  'model_config_file_poll_wait_seconds',
  'enable_signature_method_name_check',
  'monitoring_config_file',
  'enable_batching',
  'batching_parameters_file',
  'file_system_poll_wait_seconds',
)
LOG = logging.getLogger(__name__)
USE_REAL_BINARY_ENV = 'SERVING_USE_REAL_BINARY'
DEFAULT_METRICS_PATH = '/monitoring/prometheus/metrics'


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """One model to serve: an entry of TF Serving's model_config_list."""

  name: str
  base_path: str
  policy: str = (
    'latest'  # TF Serving's ServableVersionPolicy: latest, all or specific.
  )
  num_versions: int = 1  # latest
  versions: tuple[int, ...] = ()  # specific
  version_labels: tuple[tuple[str, int], ...] = ()

  def aspired_versions(self, available: list[int]) -> list[int]:
    if self.policy == 'all':
      return list(available)
    if self.policy == 'specific':
      return [v for v in available if v in self.versions]
    return available[-self.num_versions :] if available else []


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
  # TF Serving's BasicBatchScheduler defaults.
  max_batch_size: int = 1000
  batch_timeout_micros: int = 0
  max_enqueued_batches: int = 10
  num_batch_threads: int = max(1, os.cpu_count() or 1)


@dataclasses.dataclass(frozen=True)
class MonitoringConfig:
  enable: bool = False
  path: str = DEFAULT_METRICS_PATH


@dataclasses.dataclass(frozen=True)
class RequestLogConfig:
  enabled: bool
  directory: str
  sampling_rate: float
  flush_seconds: float
  max_file_bytes: int
  rotate_seconds: float


@dataclasses.dataclass(frozen=True)
class ServerConfig:
  models: list[ModelSpec]
  model_config_file: (
    str  # Re-read every model_config_poll_wait_seconds when set.
  )
  model_config_poll_wait_seconds: float
  enable_signature_method_name_check: bool
  host: str
  rest_api_port: int
  grpc_port: int
  inference_threads: int
  request_timeout_seconds: float
  poll_wait_seconds: float
  batching: BatchingParameters | None
  monitoring: MonitoringConfig
  request_log: RequestLogConfig
  max_body_bytes: int
  max_header_bytes: int
  max_connections: int
  idle_connection_timeout_seconds: float
  use_real_binary: bool
  workers: int = 1
  proxy_to: str = ''  # HOST:PORT of a tensorflow_model_server REST API to front (serving.proxy).
  # Set in the workers of a --workers group (serving.workers): bind with SO_REUSEPORT, merge metrics.
  worker_index: int = 0
  worker_metrics_dir: str = ''


def _bool(text: str) -> bool:
  lowered = str(text).strip().lower()
  if lowered in ('1', 'true', 't', 'yes', 'y', 'on'):
    return True
  if lowered in ('0', 'false', 'f', 'no', 'n', 'off', ''):
    return False
  raise argparse.ArgumentTypeError(f'expected true or false, got {text!r}')


def _labels(text: str) -> dict:
  labels = {}
  for item in filter(None, (part.strip() for part in text.split(','))):
    label, sep, version = item.partition('=')
    if not sep or not label or not version.isdigit():
      raise argparse.ArgumentTypeError(
        f'expected label=version[,label=version...], got {item!r}'
      )
    labels[label] = int(version)
  return labels


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
    prog='python -m serving',
    description="Serve a SavedModel over TensorFlow Serving's REST API, with request logging. Flags named like "
    "tensorflow_model_server's mean the same thing. Booleans take --flag, --flag=true or --flag=false.",
  )
  tf = parser.add_argument_group('tensorflow_model_server flags')
  tf.add_argument(
    '--model_name',
    default='default',
    help='Name the model is served under (default: default).',
  )
  tf.add_argument(
    '--model_base_path',
    default='',
    help='Directory holding numeric version subdirectories of SavedModels; the highest is served. '
    'Required unless --model_config_file is given.',
  )
  tf.add_argument(
    '--model_config_file',
    default='',
    help='Text proto tensorflow.serving.ModelServerConfig: several models, each with base_path, '
    'model_version_policy (latest, all, specific) and version_labels; replaces --model_name and '
    '--model_base_path.',
  )
  tf.add_argument(
    '--model_config_file_poll_wait_seconds',
    type=float,
    default=0.0,
    help='Seconds between re-reads of --model_config_file (default 0: read once at startup).',
  )
  tf.add_argument(
    '--enable_signature_method_name_check',
    type=_bool,
    nargs='?',
    const=True,
    default=False,
    help="Refuse predict/classify/regress on signatures of another method_name (TF Serving's default: "
    'false).',
  )
  tf.add_argument(
    '--rest_api_port',
    type=int,
    default=8501,
    help='REST port (default 8501; 0 picks a free port).',
  )
  tf.add_argument(
    '--port',
    type=int,
    default=0,
    help="gRPC port for TF Serving's PredictionService and ModelService (default 0: no gRPC; TF "
    "Serving's default is 8500). -1 picks a free port.",
  )
  tf.add_argument(
    '--rest_api_num_threads',
    type=int,
    default=max(4, os.cpu_count() or 1),
    help='Model-call threads when batching is off (default max(4, CPUs)).',
  )
  tf.add_argument(
    '--rest_api_timeout_in_ms',
    type=int,
    default=30000,
    help='Request deadline: slower requests get 504 (default 30000).',
  )
  tf.add_argument(
    '--file_system_poll_wait_seconds',
    type=float,
    default=1.0,
    help='Seconds between polls of --model_base_path for new versions (default 1; 0 or less polls '
    'once at startup).',
  )
  tf.add_argument(
    '--monitoring_config_file',
    default='',
    help='Text proto, e.g. prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }.',
  )
  tf.add_argument(
    '--enable_batching',
    type=_bool,
    nargs='?',
    const=True,
    default=False,
    help='Merge concurrent requests into one model call (server-side batching).',
  )
  tf.add_argument(
    '--batching_parameters_file',
    default='',
    help='Text proto tensorflow.serving.BatchingParameters, e.g. max_batch_size { value: 64 } '
    'batch_timeout_micros { value: 0 } (max_enqueued_batches, num_batch_threads likewise).',
  )
  ours = parser.add_argument_group('flags of this server only')
  ours.add_argument(
    '--rest_api_host',
    default='127.0.0.1',
    help='Address to bind (default 127.0.0.1; use 0.0.0.0 to accept remote clients).',
  )
  ours.add_argument(
    '--version_labels',
    type=_labels,
    default={},
    help='Version labels for /labels/<label> routes, e.g. stable=3,canary=4 (single-model mode; with '
    '--model_config_file use its version_labels).',
  )
  ours.add_argument(
    '--enable_request_log',
    type=_bool,
    nargs='?',
    const=True,
    default=True,
    help='Log every predict/classify/regress instance as JSON lines (default true).',
  )
  ours.add_argument(
    '--request_log_dir',
    default='',
    help='Request log directory (default: work/request_logs/<model_name> under the current dir).',
  )
  ours.add_argument(
    '--request_log_sampling_rate',
    type=float,
    default=1.0,
    help='Fraction of requests logged, all instances of a sampled request (default 1.0).',
  )
  ours.add_argument(
    '--request_log_flush_seconds',
    type=float,
    default=1.0,
    help='Records reach the file at least this often; a crash loses at most this window (default 1).',
  )
  ours.add_argument(
    '--request_log_max_file_bytes',
    type=int,
    default=64 * 1024 * 1024,
    help='Start a new log file past this size (default 64 MiB).',
  )
  ours.add_argument(
    '--request_log_rotate_seconds',
    type=float,
    default=3600.0,
    help='Start a new log file after this many seconds (default 3600).',
  )
  ours.add_argument(
    '--max_body_bytes',
    type=int,
    default=16 * 1024 * 1024,
    help='Larger request bodies get 413 (default 16 MiB).',
  )
  ours.add_argument(
    '--max_header_bytes',
    type=int,
    default=64 * 1024,
    help='Larger request headers close the connection with 400 (default 64 KiB).',
  )
  ours.add_argument(
    '--max_connections',
    type=int,
    default=512,
    help='Open connections beyond this are answered 503 and closed (default 512).',
  )
  ours.add_argument(
    '--idle_connection_timeout_seconds',
    type=float,
    default=60.0,
    help='Close keep-alive connections idle this long (default 60).',
  )
  ours.add_argument(
    '--workers',
    type=int,
    default=1,
    help='Server processes sharing the ports (SO_REUSEPORT), each with its own models, batching and '
    'request-log files; a metrics scrape sums them all (default 1).',
  )
  ours.add_argument(
    '--proxy_to',
    default='',
    help='HOST:PORT of a running tensorflow_model_server REST API: forward every request to it unchanged '
    'and write the request log and metrics of this server (REST only). --model_name names the default '
    'request-log directory; no model is loaded here.',
  )
  ours.add_argument(
    '--use_real_binary',
    type=_bool,
    nargs='?',
    const=True,
    default=_bool(os.environ.get(USE_REAL_BINARY_ENV, 'false')),
    help=f'Exec tensorflow_model_server from PATH with the TF Serving flags instead of this server '
    f'(also env {USE_REAL_BINARY_ENV}=1).',
  )
  return parser


def parse_upstream(text: str) -> tuple[str, int]:
  """--proxy_to's HOST:PORT (IPv6 as [::1]:8501) -> (host, port); ValueError with a one-line message."""
  host, sep, port = text.rpartition(':')
  host = host.strip('[]')
  if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
    raise ValueError(f'--proxy_to must be HOST:PORT, got {text!r}')
  return host, int(port)


def read_text_proto(path: str, message_class):
  """A TF Serving config file parsed into its message, strictly as tensorflow_model_server parses it: an
  unknown field or a syntax error is a ValueError naming the message, the position and the file."""
  message = message_class()
  with open(path, encoding='utf-8') as f:
    text = f.read()
  try:
    text_format.Parse(text, message)
  except text_format.ParseError as exc:
    raise ValueError(
      f'Error parsing text-format {message.DESCRIPTOR.full_name}: {exc} '
      f"(Invalid protobuf file: '{path}')"
    ) from None
  return message


def read_model_config(path: str) -> list[ModelSpec]:
  """--model_config_file as TF Serving reads it: a ModelServerConfig with a model_config_list."""
  message = read_text_proto(path, model_server_config_pb2.ModelServerConfig)
  if message.WhichOneof('config') != 'model_config_list':
    raise ValueError(f'{path}: only model_config_list is supported')
  specs = []
  for model in message.model_config_list.config:
    if not model.name or not model.base_path:
      raise ValueError(f'{path}: every config needs a name and a base_path')
    if model.model_platform not in ('', 'tensorflow'):
      raise ValueError(
        f'{path}: model {model.name}: model_platform {model.model_platform!r} is not supported '
        "(only 'tensorflow')"
      )
    policy = model.model_version_policy
    choice = policy.WhichOneof('policy_choice') or 'latest'
    specs.append(
      ModelSpec(
        name=model.name,
        base_path=os.path.abspath(model.base_path),
        policy=choice,
        num_versions=max(1, policy.latest.num_versions),
        versions=tuple(policy.specific.versions),
        version_labels=tuple(sorted(model.version_labels.items())),
      )
    )
  names = [spec.name for spec in specs]
  if len(set(names)) != len(names):
    raise ValueError(f'{path}: a model name is configured twice')
  return specs


def read_monitoring_config(path: str) -> MonitoringConfig:
  if not path:
    return MonitoringConfig()
  prometheus = read_text_proto(
    path, tf_serving_config_pb2.MonitoringConfig
  ).prometheus_config
  metrics_path = prometheus.path or DEFAULT_METRICS_PATH
  if not metrics_path.startswith('/'):
    raise ValueError(f"{path}: prometheus_config.path must start with '/'")
  return MonitoringConfig(enable=prometheus.enable, path=metrics_path)


def read_batching_parameters(path: str) -> BatchingParameters:
  if not path:
    return BatchingParameters()
  message = read_text_proto(path, tf_serving_config_pb2.BatchingParameters)
  supported = {field.name for field in dataclasses.fields(BatchingParameters)}
  unsupported = [
    f.name for f, _ in message.ListFields() if f.name not in supported
  ]
  if unsupported:
    LOG.warning(
      '%s: %s not supported here, ignored', path, ', '.join(unsupported)
    )
  defaults = BatchingParameters()
  # Int64Value wrappers: an absent field keeps TF Serving's default, as in its batching session.
  params = BatchingParameters(
    **{
      field.name: getattr(message, field.name).value
      if message.HasField(field.name)
      else getattr(defaults, field.name)
      for field in dataclasses.fields(BatchingParameters)
    }
  )
  if (
    min(
      params.max_batch_size,
      params.max_enqueued_batches,
      params.num_batch_threads,
    )
    < 1
  ):
    raise ValueError(
      f'{path}: max_batch_size, max_enqueued_batches and num_batch_threads must be >= 1'
    )
  if params.batch_timeout_micros < 0:
    raise ValueError(f'{path}: batch_timeout_micros must be >= 0')
  return params


def config_from_args(args: argparse.Namespace) -> ServerConfig:
  if not 0.0 <= args.request_log_sampling_rate <= 1.0:
    raise ValueError('--request_log_sampling_rate must be within [0, 1]')
  if args.request_log_flush_seconds <= 0:
    raise ValueError('--request_log_flush_seconds must be > 0')
  if args.workers < 1:
    raise ValueError('--workers must be >= 1')
  if args.batching_parameters_file and not args.enable_batching:
    raise ValueError('--batching_parameters_file needs --enable_batching')
  if args.proxy_to:
    parse_upstream(args.proxy_to)
    if args.port:
      raise ValueError(
        '--proxy_to forwards REST only: --port (gRPC) cannot be used with it'
      )
    if args.model_config_file or args.model_base_path:
      raise ValueError(
        '--proxy_to serves no model itself: drop --model_base_path and --model_config_file'
      )
    models = []
  elif args.model_config_file:
    models = read_model_config(args.model_config_file)
  elif args.model_base_path:
    models = [
      ModelSpec(
        args.model_name,
        os.path.abspath(args.model_base_path),
        version_labels=tuple(sorted(args.version_labels.items())),
      )
    ]
  else:
    raise ValueError('--model_base_path or --model_config_file is required')
  log_dir = args.request_log_dir or os.path.join(
    'work', 'request_logs', args.model_name
  )
  return ServerConfig(
    models=models,
    model_config_file=os.path.abspath(args.model_config_file)
    if args.model_config_file
    else '',
    model_config_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
    enable_signature_method_name_check=args.enable_signature_method_name_check,
    host=args.rest_api_host,
    rest_api_port=args.rest_api_port,
    grpc_port=args.port,
    inference_threads=max(1, args.rest_api_num_threads),
    request_timeout_seconds=args.rest_api_timeout_in_ms / 1000.0,
    poll_wait_seconds=args.file_system_poll_wait_seconds,
    batching=read_batching_parameters(args.batching_parameters_file)
    if args.enable_batching
    else None,
    monitoring=read_monitoring_config(args.monitoring_config_file),
    request_log=RequestLogConfig(
      enabled=args.enable_request_log,
      directory=os.path.abspath(log_dir),
      sampling_rate=args.request_log_sampling_rate,
      flush_seconds=args.request_log_flush_seconds,
      max_file_bytes=args.request_log_max_file_bytes,
      rotate_seconds=args.request_log_rotate_seconds,
    ),
    max_body_bytes=args.max_body_bytes,
    max_header_bytes=args.max_header_bytes,
    max_connections=args.max_connections,
    idle_connection_timeout_seconds=args.idle_connection_timeout_seconds,
    use_real_binary=args.use_real_binary,
    workers=args.workers,
    proxy_to=args.proxy_to,
    **_worker_fields(),
  )


def _worker_fields() -> dict:
  from serving.workers import WORKER_ENV, parse_worker_env

  worker = parse_worker_env(os.environ.get(WORKER_ENV, ''))
  if worker is None:
    return {}
  index, _, metrics_dir = worker
  return {'worker_index': index, 'worker_metrics_dir': metrics_dir}
