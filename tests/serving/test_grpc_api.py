"""serving.grpc_api with the official tensorflow-serving-api stubs, on the toy taxi model: the gRPC API shares
the request log, the metrics and the batching queue with REST."""

import concurrent.futures

import grpc
import numpy as np
import requests
import tensorflow as tf
from tensorflow_serving.apis import (
  predict_pb2,
  prediction_service_pb2_grpc,
  regression_pb2,
)

from serving.request_log import read_records
from tests.serving.conftest import (
  V1_WEIGHTS,
  in_process_server,
  raw_instance,
  server_args,
  wait_until,
)
from tests.serving.test_rest_contract import metric_value


def predict_request(**overrides):
  request = predict_pb2.PredictRequest()
  request.model_spec.name = 'taxi'
  for name, value in raw_instance(**overrides).items():
    request.inputs[name].CopyFrom(
      tf.make_tensor_proto(
        [value], dtype=tf.string if isinstance(value, str) else tf.float32
      )
    )
  return request


def test_grpc_shares_log_metrics_and_batching(
  tmp_path, model_base_path, monitoring_config, toy_model_module
):
  batching = tmp_path / 'batching.config'
  batching.write_text(
    'max_batch_size { value: 32 } num_batch_threads { value: 1 }'
  )
  log_dir = str(tmp_path / 'logs')
  args = server_args(
    model_base_path,
    log_dir,
    '--port=-1',
    f'--monitoring_config_file={monitoring_config}',
    '--enable_batching',
    f'--batching_parameters_file={batching}',
    '--request_log_flush_seconds=0.1',
  )
  with in_process_server(args) as (server, url):
    with grpc.insecure_channel(f'127.0.0.1:{server.grpc_port}') as channel:
      stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
      fares = [float(f) for f in range(1, 41)]
      with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(
          pool.map(lambda f: stub.Predict(predict_request(fare=f), 30), fares)
        )
      for fare, result in zip(fares, results):
        (probability,) = tf.make_ndarray(result.outputs['probability'])
        assert (
          probability
          == np.float32(
            toy_model_module.reference_probability(
              fare, 3.0, 'Credit Card', **V1_WEIGHTS
            )
          )
          or abs(
            probability
            - toy_model_module.reference_probability(
              fare, 3.0, 'Credit Card', **V1_WEIGHTS
            )
          )
          < 1e-6
        )
        assert result.model_spec.version.value == 1

      regress = regression_pb2.RegressionRequest()
      regress.model_spec.name = 'taxi'
      regress.model_spec.signature_name = 'regression'
      example = regress.input.example_list.examples.add()
      example.features.feature['fare'].float_list.value.append(12.5)
      assert len(stub.Regress(regress, 30).result.regressions) == 1

    records = wait_until(
      lambda: (r := list(read_records(log_dir))) and len(r) == 41 and r, 10
    )
    assert sorted(r['features']['fare'] for r in records[:40]) == fares
    assert {r['method'] for r in records} == {'predict', 'regress'}
    assert records[-1]['features']['fare'] == 12.5
    text = requests.get(url + '/monitoring/prometheus/metrics', timeout=10).text
    assert (
      metric_value(
        text,
        ':tensorflow:serving:request_count',
        model_name='taxi',
        status='OK',
      )
      == 41
    )
    assert (
      metric_value(
        text,
        ':tensorflow:serving:request_latency_count',
        model_name='taxi',
        API='predict',
        entrypoint='GRPC',
      )
      == 40
    )
    # Concurrent gRPC requests were merged into fewer model calls.
    calls = metric_value(
      text,
      'serving_model_calls_total',
      model_name='taxi',
      signature='serving_default',
    )
    assert calls < 40
