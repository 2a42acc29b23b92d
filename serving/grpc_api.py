"""TF Serving's gRPC API on --port, with tensorflow-serving-api's generated servicers.

PredictionService (Predict, Classify, Regress, GetModelMetadata) and ModelService (GetModelStatus). Requests go
through the same model registry, inference queue (batching), metrics and request log as the REST API; the checks
and error messages are TF Serving's (predict_util.cc, classifier.cc, regressor.cc, get_model_metadata_impl.cc).
"""

import concurrent.futures
import logging
import random
import time

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import (
  classification_pb2,
  get_model_metadata_pb2,
  get_model_status_pb2,
  model_service_pb2_grpc,
  predict_pb2,
  prediction_service_pb2_grpc,
  regression_pb2,
)

from serving import inference
from serving.errors import ServingError, invalid_argument
from serving.request_log import LoggedRequest
from serving.rest_api import UNKNOWN_MODEL_LABEL
from serving.servable import CLASSIFY_METHOD, REGRESS_METHOD

LOG = logging.getLogger(__name__)


def _model_spec(servable, signature_name: str, out) -> None:
  out.name = servable.name
  out.version.value = servable.version
  out.signature_name = signature_name


class _Handler:
  """What the gRPC servicers share: model lookup, the model call, metrics and the request log."""

  def __init__(self, context):
    self.ctx = context

  def resolve(self, model_spec):
    version = (
      model_spec.version.value if model_spec.HasField('version') else None
    )
    label = model_spec.version_label or None
    return self.ctx.manager.resolve(model_spec.name, version, label)

  def model_label(self, name: str) -> str:
    return name if self.ctx.manager.has_model(name) else UNKNOWN_MODEL_LABEL

  def run(self, servable, signature, inputs: dict) -> dict:
    future = self.ctx.inference_queue.submit(servable, signature, inputs)
    try:
      outputs, _ = future.result(
        timeout=self.ctx.config.request_timeout_seconds
      )
    except concurrent.futures.TimeoutError:
      future.cancel()
      raise ServingError('DEADLINE_EXCEEDED', 'Deadline exceeded') from None
    return outputs

  def serve(self, api: str, model_name: str, context, handle):
    """Runs handle() -> (response, log), counting and timing it as the REST API does; errors become gRPC
    status codes with TF Serving's messages."""
    started = time.perf_counter()
    received_at = time.time()
    label = self.model_label(model_name)
    metrics = self.ctx.metrics
    try:
      response, log = handle()
    except ServingError as exc:
      self._count(label, api, exc.code, started)
      metrics.failed_predictions.inc(label, api, exc.code)
      context.abort(
        getattr(grpc.StatusCode, exc.code, grpc.StatusCode.UNKNOWN), exc.message
      )
    except Exception as exc:  # noqa: BLE001 - every failure is answered with a status.
      LOG.exception('Unexpected error serving gRPC %s', api)
      self._count(label, api, 'INTERNAL', started)
      context.abort(grpc.StatusCode.INTERNAL, f'{type(exc).__name__}: {exc}')
    latency_us = (time.perf_counter() - started) * 1e6
    self._count(label, api, 'OK', started)
    logger = self.ctx.request_logger
    if (
      log is not None
      and logger is not None
      and random.random() < self.ctx.config.request_log.sampling_rate
    ):
      servable, signature, instances, examples, outputs = log
      metrics.request_example_counts.observe(
        label, api, value=len(instances or examples)
      )
      metrics.request_example_count_total.inc(
        label, api, amount=len(instances or examples)
      )
      logger.log(
        LoggedRequest(
          timestamp=received_at,
          model_name=servable.name,
          model_version=servable.version,
          signature_name=signature.name,
          method=api,
          request_id=self.ctx.new_request_id(),
          instances=instances,
          example_inputs=examples,
          outputs=outputs,
          latency_us=int(latency_us),
        )
      )
    return response

  def _count(self, label: str, api: str, code: str, started: float) -> None:
    metrics = self.ctx.metrics
    metrics.request_count.inc(label, code)
    metrics.request_latency.observe(
      label, api, 'GRPC', value=(time.perf_counter() - started) * 1e6
    )


def _signature(servable, name: str, not_found_message: str):
  signature = servable.signature(name)
  if signature is None:
    raise invalid_argument(
      not_found_message.format(name=name or 'serving_default')
    )
  return signature


def _rows(inputs: dict[str, np.ndarray]) -> list[dict] | None:
  """Per-row features for the request log, when every input has the same batch size."""
  sizes = {array.shape[0] if array.ndim else None for array in inputs.values()}
  if len(sizes) != 1 or None in sizes:
    return [{name: array.tolist() for name, array in inputs.items()}]
  columns = {name: array.tolist() for name, array in inputs.items()}
  return [
    {name: column[i] for name, column in columns.items()}
    for i in range(sizes.pop())
  ]


def _serialized_examples(input_proto) -> np.ndarray:
  """tensorflow.serving.Input as serialized tf.Examples, context merged in (the example's own value wins)."""
  kind = input_proto.WhichOneof('kind')
  if kind == 'example_list':
    examples = list(input_proto.example_list.examples)
  elif kind == 'example_list_with_context':
    context = input_proto.example_list_with_context.context
    examples = []
    for example in input_proto.example_list_with_context.examples:
      merged = tf.train.Example()
      merged.CopyFrom(context)
      for name, feature in example.features.feature.items():
        merged.features.feature[name].CopyFrom(feature)
      examples.append(merged)
  else:
    raise invalid_argument('Input is empty')
  if not examples:
    raise invalid_argument('Input is empty')
  serialized = np.empty(len(examples), dtype=object)
  serialized[:] = [example.SerializeToString() for example in examples]
  return serialized


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
  def __init__(self, handler: _Handler):
    self.h = handler

  def Predict(self, request, context):
    def handle():
      servable = self.h.resolve(request.model_spec)
      signature = _signature(
        servable,
        request.model_spec.signature_name,
        'Serving signature name: "{name}" not found in signature def',
      )
      if set(request.inputs) != set(signature.inputs):
        raise invalid_argument(
          f'input size does not match signature: {len(request.inputs)}!={len(signature.inputs)} '
          f'len({{{", ".join(sorted(request.inputs))}}}) != len({{{", ".join(sorted(signature.inputs))}}})'
        )
      for name in request.output_filter:
        if name not in signature.outputs:
          raise invalid_argument(
            f'output tensor alias not found in signature: {name} Outputs expected to be in '
            f'the set {{{",".join(sorted(signature.outputs))}}}.'
          )
      inputs = {
        name: tf.make_ndarray(proto) for name, proto in request.inputs.items()
      }
      outputs = self.h.run(servable, signature, inputs)
      response = predict_pb2.PredictResponse()
      _model_spec(servable, signature.name, response.model_spec)
      for name in request.output_filter or outputs:
        response.outputs[name].CopyFrom(tf.make_tensor_proto(outputs[name]))
      return response, (servable, signature, _rows(inputs), None, outputs)

    return self.h.serve('predict', request.model_spec.name, context, handle)

  def _classify_or_regress(self, request, context, method: str):
    def handle():
      servable = self.h.resolve(request.model_spec)
      name = request.model_spec.signature_name or 'serving_default'
      signature = _signature(
        servable, name, 'No signature was found with the name: {name}'
      )
      expected = CLASSIFY_METHOD if method == 'classify' else REGRESS_METHOD
      if (
        self.h.ctx.config.enable_signature_method_name_check
        and signature.method_name != expected
      ):
        raise inference.signature_method_error(signature, expected)
      input_key = inference.check_tf_serving_signature(signature, method)
      examples = _serialized_examples(request.input)
      outputs = self.h.run(servable, signature, {input_key: examples})
      count = len(examples)
      if method == 'classify':
        response = classification_pb2.ClassificationResponse()
        for classes in inference.classification_results(outputs, count):
          classification = response.result.classifications.add()
          for label, score in classes:
            classification.classes.add(label=label, score=score)
      else:
        response = regression_pb2.RegressionResponse()
        values = inference.regression_values(outputs, count)
        for value in values:
          response.result.regressions.add(value=value)
      _model_spec(servable, signature.name, response.model_spec)
      return response, (servable, signature, None, examples, outputs)

    return self.h.serve(method, request.model_spec.name, context, handle)

  def Classify(self, request, context):
    return self._classify_or_regress(request, context, 'classify')

  def Regress(self, request, context):
    return self._classify_or_regress(request, context, 'regress')

  def GetModelMetadata(self, request, context):
    def handle():
      if list(request.metadata_field) != ['signature_def']:
        raise invalid_argument(
          'Metadata field signature_def is the only one supported'
          if request.metadata_field
          else 'GetModelMetadataRequest must specify at least one metadata_field'
        )
      servable = self.h.resolve(request.model_spec)
      response = get_model_metadata_pb2.GetModelMetadataResponse()
      _model_spec(servable, '', response.model_spec)
      signature_map = get_model_metadata_pb2.SignatureDefMap()
      for name, sig_def in servable.signature_defs.items():
        signature_map.signature_def[name].CopyFrom(sig_def)
      response.metadata['signature_def'].Pack(signature_map)
      return response, None

    return self.h.serve('metadata', request.model_spec.name, context, handle)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
  def __init__(self, handler: _Handler):
    self.h = handler

  def GetModelStatus(self, request, context):
    def handle():
      spec = request.model_spec
      version = spec.version.value if spec.HasField('version') else None
      states = self.h.ctx.manager.status(
        spec.name, version, spec.version_label or None
      )
      response = get_model_status_pb2.GetModelStatusResponse()
      for state in states:
        status = response.model_version_status.add()
        status.version = int(state['version'])
        status.state = get_model_status_pb2.ModelVersionStatus.State.Value(
          state['state']
        )
        status.status.error_code = error_codes_pb2.Code.Value(
          state['status']['error_code']
        )
        status.status.error_message = state['status']['error_message']
      return response, None

    return self.h.serve('status', request.model_spec.name, context, handle)

  def HandleReloadConfigRequest(self, request, context):
    context.abort(
      grpc.StatusCode.UNIMPLEMENTED,
      'HandleReloadConfigRequest is not supported: use --model_config_file polling',
    )


def start_grpc_server(context, host: str, port: int, threads: int):
  """A started grpc.Server on host:port (0 picks a free port); returns (server, bound port)."""
  server = grpc.server(
    concurrent.futures.ThreadPoolExecutor(
      max_workers=threads, thread_name_prefix='grpc'
    )
  )
  handler = _Handler(context)
  prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
    PredictionService(handler), server
  )
  model_service_pb2_grpc.add_ModelServiceServicer_to_server(
    ModelService(handler), server
  )
  bound = server.add_insecure_port(f'{host}:{port}')
  if not bound:
    raise OSError(f'cannot bind the gRPC port {host}:{port}')
  server.start()
  return server, bound
