"""The gRPC cases of tensorflow/serving 2.16.1 tensorflow_serving/model_servers/tensorflow_model_server_test.py,
with tensorflow-serving-api's official client stubs. Each test names the upstream test it comes from.
Not applicable: testMultiInference / testMultiInferenceTf2 (MultiInference is not served: UNIMPLEMENTED).
"""

import grpc
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
  classification_pb2,
  get_model_metadata_pb2,
  get_model_status_pb2,
  inference_pb2,
  model_service_pb2_grpc,
  predict_pb2,
  prediction_service_pb2_grpc,
  regression_pb2,
)

from tests.serving.conftest import in_process_server

RPC_TIMEOUT = 30


@pytest.fixture(scope='module', params=['tf1', 'tf2'])
def channel(request, testdata_dir, tmp_path_factory):
  model = {
    'tf1': 'saved_model_half_plus_two_cpu',
    'tf2': 'saved_model_half_plus_two_tf2_cpu',
  }[request.param]
  args = [
    '--model_name=default',
    f'--model_base_path={testdata_dir / model}',
    '--rest_api_port=0',
    '--port=-1',
    f'--request_log_dir={tmp_path_factory.mktemp("grpc_logs")}',
  ]
  with in_process_server(args) as (server, _):
    with grpc.insecure_channel(f'127.0.0.1:{server.grpc_port}') as opened:
      yield opened


def verify_model_spec(model_spec, name, signature_name, version=123):
  """_VerifyModelSpec"""
  assert model_spec.name == name
  assert model_spec.signature_name == signature_name
  assert model_spec.version.value == version


def test_get_model_status(channel):
  """testGetModelStatus"""
  request = get_model_status_pb2.GetModelStatusRequest()
  request.model_spec.name = 'default'
  result = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
    request, RPC_TIMEOUT
  )
  assert len(result.model_version_status) == 1
  assert result.model_version_status[0].version == 123
  assert result.model_version_status[0].status.error_code == 0
  assert (
    result.model_version_status[0].state
    == get_model_status_pb2.ModelVersionStatus.AVAILABLE
  )


def test_get_model_metadata(channel):
  """testGetModelMetadata"""
  request = get_model_metadata_pb2.GetModelMetadataRequest()
  request.model_spec.name = 'default'
  request.metadata_field.append('signature_def')
  result = prediction_service_pb2_grpc.PredictionServiceStub(
    channel
  ).GetModelMetadata(request, RPC_TIMEOUT)
  assert result.model_spec.name == 'default'
  assert result.model_spec.version.value == 123
  assert list(result.metadata) == ['signature_def']
  signature_map = get_model_metadata_pb2.SignatureDefMap()
  result.metadata['signature_def'].Unpack(signature_map)
  assert 'serving_default' in signature_map.signature_def


def test_classify(channel):
  """testClassify, testClassifyTf2"""
  request = classification_pb2.ClassificationRequest()
  request.model_spec.name = 'default'
  request.model_spec.signature_name = 'classify_x_to_y'
  example = request.input.example_list.examples.add()
  example.features.feature['x'].float_list.value.extend([2.0])
  result = prediction_service_pb2_grpc.PredictionServiceStub(channel).Classify(
    request, RPC_TIMEOUT
  )
  assert len(result.result.classifications) == 1
  assert len(result.result.classifications[0].classes) == 1
  assert result.result.classifications[0].classes[0].score == 3.0
  verify_model_spec(result.model_spec, 'default', 'classify_x_to_y')


def test_regress(channel):
  """testRegress, testRegressTf2"""
  request = regression_pb2.RegressionRequest()
  request.model_spec.name = 'default'
  request.model_spec.signature_name = 'regress_x_to_y'
  example = request.input.example_list.examples.add()
  example.features.feature['x'].float_list.value.extend([2.0])
  result = prediction_service_pb2_grpc.PredictionServiceStub(channel).Regress(
    request, RPC_TIMEOUT
  )
  assert len(result.result.regressions) == 1
  assert result.result.regressions[0].value == 3.0
  verify_model_spec(result.model_spec, 'default', 'regress_x_to_y')


@pytest.mark.parametrize('specify_output', [True, False])
def test_predict_saved_model(channel, specify_output):
  """testPredictSavedModel (VerifyPredictRequest, with and without output_filter)."""
  request = predict_pb2.PredictRequest()
  request.model_spec.name = 'default'
  request.model_spec.signature_name = 'serving_default'
  request.inputs['x'].dtype = types_pb2.DT_FLOAT
  request.inputs['x'].float_val.append(2.0)
  request.inputs['x'].tensor_shape.dim.add().size = 1
  if specify_output:
    request.output_filter.append('y')
  result = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
    request, RPC_TIMEOUT
  )
  assert 'y' in result.outputs
  assert result.outputs['y'].dtype == types_pb2.DT_FLOAT
  assert list(result.outputs['y'].float_val) == [3.0]
  verify_model_spec(result.model_spec, 'default', 'serving_default')


def test_errors_are_grpc_status_codes(channel):
  stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
  request = predict_pb2.PredictRequest()
  request.model_spec.name = 'nope'
  with pytest.raises(grpc.RpcError) as info:
    stub.Predict(request, RPC_TIMEOUT)
  assert info.value.code() == grpc.StatusCode.NOT_FOUND
  assert info.value.details() == 'Servable not found for request: Latest(nope)'
  request.model_spec.name = 'default'
  with pytest.raises(grpc.RpcError) as info:
    stub.Predict(request, RPC_TIMEOUT)
  assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
  multi = inference_pb2.MultiInferenceRequest()
  with pytest.raises(grpc.RpcError) as info:
    stub.MultiInference(multi, RPC_TIMEOUT)
  assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
