"""URL grammar, text-proto configs, flags and the real-binary command line: pure functions."""

import pytest

from serving import config, real_binary, routes
from serving.errors import ServingError
from serving.routes import Route


@pytest.mark.parametrize(
  'method, path, route',
  [
    ('GET', '/v1/models/taxi', Route('status', 'taxi')),
    ('GET', '/v1/models/taxi/versions/3', Route('status', 'taxi', 3)),
    (
      'GET',
      '/v1/models/taxi/labels/stable',
      Route('status', 'taxi', None, 'stable'),
    ),
    ('GET', '/v1/models/taxi/metadata', Route('metadata', 'taxi')),
    (
      'GET',
      '/v1/models/taxi/versions/3/metadata',
      Route('metadata', 'taxi', 3),
    ),
    ('POST', '/v1/models/taxi:predict', Route('predict', 'taxi')),
    ('POST', '/V1/MODELS/taxi:PREDICT', Route('predict', 'taxi')),
    (
      'POST',
      '/v1/models/taxi/versions/12:classify',
      Route('classify', 'taxi', 12),
    ),
    (
      'POST',
      '/v1/models/taxi/labels/canary:regress',
      Route('regress', 'taxi', None, 'canary'),
    ),
    ('POST', '/v1/models/%2e%2e:predict', Route('predict', '..')),
    ('POST', '/v1/models/a%2Fb:predict', Route('predict', 'a/b')),
  ],
)
def test_routes(method, path, route):
  assert routes.parse_route(method, path) == route


@pytest.mark.parametrize(
  'method, path, message',
  [
    ('GET', '/v1/models', 'Missing model name in request.'),
    ('POST', '/v1/models/taxi', 'Malformed request: POST /v1/models/taxi'),
    (
      'GET',
      '/v1/models/taxi:predict',
      'Malformed request: GET /v1/models/taxi:predict',
    ),
    ('PUT', '/v1/models/taxi', 'Malformed request: PUT /v1/models/taxi'),
    ('POST', '/v1/models/taxi:explain', 'Malformed request'),
    (
      'POST',
      '/v1/models/taxi/versions/1/labels/x:predict',
      'Malformed request',
    ),
    ('POST', '/v1/models/taxi/version/1:predict', 'Malformed request'),
    ('GET', '/v1/models/taxi/', 'Malformed request'),
    ('POST', '/v1/models/../etc:predict', 'Malformed request'),
    ('POST', '/v1/models/taxi/versions/-1:predict', 'Malformed request'),
    (
      'GET',
      '/v1/models/taxi/versions/99999999999999999999',
      'Failed to convert version',
    ),
  ],
)
def test_bad_routes_are_400(method, path, message):
  with pytest.raises(ServingError) as info:
    routes.parse_route(method, path)
  assert info.value.http_status == 400 and message in info.value.message


@pytest.mark.parametrize(
  'text, error',
  [
    (
      'max_batch_sise { value: 8 }',
      'Error parsing text-format tensorflow.serving.BatchingParameters: 1:1 : '
      'Message type "tensorflow.serving.BatchingParameters" has no field named '
      '"max_batch_sise".',
    ),
    (
      'max_batch_size { value: 8 ',
      'Error parsing text-format tensorflow.serving.BatchingParameters: 1:25 : '
      'Expected "}".',
    ),
    # The fields are Int64Value wrappers in TF Serving's proto: a bare number is refused there too.
    (
      'max_batch_size: 8',
      'Error parsing text-format tensorflow.serving.BatchingParameters: 1:17 : '
      '\'max_batch_size: 8\': Expected "{".',
    ),
  ],
)
def test_batching_file_is_parsed_as_tf_servings_message(tmp_path, text, error):
  path = tmp_path / 'batching.config'
  path.write_text(text)
  with pytest.raises(ValueError) as info:
    config.read_batching_parameters(str(path))
  assert str(info.value) == f"{error} (Invalid protobuf file: '{path}')"


def test_monitoring_file_refuses_unknown_fields(tmp_path):
  path = tmp_path / 'monitoring.config'
  path.write_text('prometheus_config { enable: true, paht: "/m" }')
  with pytest.raises(ValueError, match='has no field named "paht"'):
    config.read_monitoring_config(str(path))


def test_config_files(tmp_path):
  batching = tmp_path / 'batching.config'
  batching.write_text(
    'max_batch_size { value: 32 }\nbatch_timeout_micros { value: 2000 }\n'
    'num_batch_threads { value: 2 }\n'
  )
  params = config.read_batching_parameters(str(batching))
  assert (
    params.max_batch_size,
    params.batch_timeout_micros,
    params.num_batch_threads,
    params.max_enqueued_batches,
  ) == (32, 2000, 2, 10)
  monitoring = tmp_path / 'monitoring.config'
  monitoring.write_text('prometheus_config { enable: true, path: "/metrics" }')
  assert config.read_monitoring_config(
    str(monitoring)
  ) == config.MonitoringConfig(True, '/metrics')
  assert config.read_monitoring_config('') == config.MonitoringConfig(
    False, config.DEFAULT_METRICS_PATH
  )
  batching.write_text('max_batch_size { value: 0 }')
  with pytest.raises(ValueError):
    config.read_batching_parameters(str(batching))


def test_flags_defaults_and_booleans():
  parser = config.build_parser()
  args = parser.parse_args(
    [
      '--model_name=taxi',
      '--model_base_path=m',
      '--enable_batching',
      '--enable_request_log=false',
    ]
  )
  cfg = config.config_from_args(args)
  assert (
    cfg.host == '127.0.0.1'
    and cfg.rest_api_port == 8501
    and cfg.batching is not None
  )
  assert not cfg.request_log.enabled and cfg.request_log.directory.endswith(
    'work/request_logs/taxi'
  )
  with pytest.raises(SystemExit):
    parser.parse_args(['--model_base_path=m', '--version_labels=stable'])


def test_real_binary_gets_the_tf_serving_flags_only():
  argv = [
    '--model_name=taxi',
    '--model_base_path=/models/taxi',
    '--enable_batching',
    '--request_log_dir=/tmp/x',
    '--port=8500',
    '--monitoring_config_file=/m.config',
  ]
  args = config.build_parser().parse_args(argv)
  assert real_binary.real_binary_argv(args, argv) == [
    'tensorflow_model_server',
    '--port=8500',
    '--rest_api_port=8501',
    '--model_name=taxi',
    '--model_base_path=/models/taxi',
    '--monitoring_config_file=/m.config',
    '--enable_batching=true',
  ]


def test_real_binary_gets_the_model_config_file_instead_of_a_base_path():
  argv = [
    '--model_config_file=/m/models.config',
    '--model_config_file_poll_wait_seconds=60',
  ]
  args = config.build_parser().parse_args(argv)
  assert real_binary.real_binary_argv(args, argv) == [
    'tensorflow_model_server',
    '--rest_api_port=8501',
    '--model_config_file=/m/models.config',
    '--model_config_file_poll_wait_seconds=60.0',
  ]
