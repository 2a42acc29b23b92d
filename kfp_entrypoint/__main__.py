"""python -m kfp_entrypoint: the container command of every task in the
compiled package (kubeflow_runner.py), with TFX's own arguments.

Runs TFX's KFP v2 entry point (tfx.orchestration.kubeflow.v2.container.
kubeflow_v2_run_executor) on the task's ExecutorInput after
artifact_types.restore_input_types, then removes the directory markers from
the task's gs:// outputs. TFX's entry point is the only TFX-internal module
used here; tests/kfp_entrypoint guard it.
"""

from absl import app, logging
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

from kfp_entrypoint import artifact_types, directory_markers


def _typed_invocation(args) -> pipeline_spec_pb2.ExecutorInput:
  executor_input = pipeline_spec_pb2.ExecutorInput()
  json_format.Parse(
    args.json_serialized_invocation_args,
    executor_input,
    ignore_unknown_fields=True,
  )
  if args.json_serialized_inputs_spec_args:
    inputs_spec = pipeline_spec_pb2.ComponentInputsSpec()
    json_format.Parse(
      args.json_serialized_inputs_spec_args,
      inputs_spec,
      ignore_unknown_fields=True,
    )
    for line in artifact_types.restore_input_types(executor_input, inputs_spec):
      logging.info('kfp_entrypoint: %s', line)
  return executor_input


def _remove_output_markers(executor_input) -> None:
  uris = [
    artifact.uri
    for artifacts in executor_input.outputs.artifacts.values()
    for artifact in artifacts.artifacts
    if artifact.uri.startswith(directory_markers.GCS_SCHEME)
  ]
  if not uris:
    return
  # Only tasks writing to GCS need the client (and its credentials).
  from google.cloud import storage  # pylint: disable=import-outside-toplevel

  client = storage.Client()
  for uri in uris:
    removed = directory_markers.remove_markers(uri, client)
    if removed:
      logging.info(
        'kfp_entrypoint: removed %d directory markers under %s',
        len(removed),
        uri,
      )


def main(parsed_argv):
  args, beam_args = parsed_argv
  executor_input = _typed_invocation(args)
  args.json_serialized_invocation_args = json_format.MessageToJson(
    executor_input
  )
  kubeflow_v2_run_executor.main((args, beam_args))
  _remove_output_markers(executor_input)


if __name__ == '__main__':
  # TFX's own flags (and the Beam arguments it passes through).
  app.run(main, flags_parser=kubeflow_v2_run_executor._parse_flags)  # pylint: disable=protected-access
