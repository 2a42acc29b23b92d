"""Batch scoring: a Beam job that scores CSV rows with a pushed model.

Rows are typed by the schema as the server's request log and the monitoring
ExampleGen type them (serving_rows.py), become tf.Examples and go through
tfx-bsl's RunInference on the model's serving_tf_example signature: the
probability, and the decision at the threshold exported with the model. The
job writes PredictionLog TFRecords (as TFX's BulkInferrer does) and a CSV of
id, probability and decision per row. Runs on any Beam runner: the model is
loaded by the workers from its path (shared storage on a cluster), the rows
are never collected in one place.
"""

import os
from typing import Dict, List, Sequence, Tuple

import apache_beam as beam
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
from tfx_bsl.public.beam import RunInference
from tfx_bsl.public.proto import model_spec_pb2

from components import serving_example_gen, serving_rows

PREDICTION_LOGS = 'prediction_logs'
PREDICTIONS_CSV = 'predictions'


def _row_id(example: tf.train.Example, id_column: str) -> str:
  feature = example.features.feature.get(id_column)
  if feature is None:
    return ''
  kind = feature.WhichOneof('kind')
  values = getattr(feature, kind).value if kind else []
  if not values:
    return ''
  value = values[0]
  return value.decode() if isinstance(value, bytes) else str(value)


def _outputs(
  log: prediction_log_pb2.PredictionLog, probability_key: str, decision_key: str
) -> Tuple[float, int]:
  outputs = log.predict_log.response.outputs
  probability = tf.make_ndarray(outputs[probability_key]).reshape(-1)
  decision = tf.make_ndarray(outputs[decision_key]).reshape(-1)
  return float(probability[0]), int(decision[0])


def csv_line(keyed_log, probability_key: str, decision_key: str) -> str:
  row_id, log = keyed_log
  probability, decision = _outputs(log, probability_key, decision_key)
  quoted = f'"{row_id}"' if (',' in row_id or '"' in row_id) else row_id
  # 9 significant digits round-trip a float32 exactly.
  return f'{quoted},{probability:.9g},{decision}'


def inference_spec(
  model_dir: str, signature: str
) -> model_spec_pb2.InferenceSpecType:
  return model_spec_pb2.InferenceSpecType(
    saved_model_spec=model_spec_pb2.SavedModelSpec(
      model_path=model_dir, signature_name=[signature]
    )
  )


@beam.ptransform_fn
def ScoreCsv(  # pylint: disable=invalid-name
  pipeline: beam.Pipeline,
  paths: Sequence[str],
  kinds: Dict[str, str],
  model_dir: str,
  output_dir: str,
  id_column: str,
  signature: str,
  outputs: Tuple[str, str],
):
  """Scores the CSV files at `paths` with the model's `signature` (a
  tf.Example signature whose `outputs` are the probability and the
  decision); writes both outputs; returns the (id, PredictionLog)s."""
  keyed_logs = (
    pipeline
    | 'ReadRows' >> serving_example_gen.ReadServingExamples(paths, kinds)
    | 'KeyById' >> beam.Map(lambda ex: (_row_id(ex, id_column), ex))
    | 'RunInference' >> RunInference(inference_spec(model_dir, signature))
  )
  _ = (
    keyed_logs
    | 'Logs' >> beam.Values()
    | 'WriteLogs'
    >> beam.io.WriteToTFRecord(
      os.path.join(output_dir, PREDICTION_LOGS),
      file_name_suffix='.gz',
      coder=beam.coders.ProtoCoder(prediction_log_pb2.PredictionLog),
    )
  )
  _ = (
    keyed_logs
    | 'CsvLines' >> beam.Map(csv_line, *outputs)
    | 'WriteCsv'
    >> beam.io.WriteToText(
      os.path.join(output_dir, PREDICTIONS_CSV),
      file_name_suffix='.csv',
      header=','.join([id_column, *outputs]),
    )
  )
  return keyed_logs


def data_paths(data: str) -> List[str]:
  """The CSV files of `data`: one file, or those in a directory."""
  if tf.io.gfile.isdir(data):
    return serving_rows.data_files(data, '*')
  return [data] if tf.io.gfile.exists(data) else []


def read_predictions(output_dir: str) -> List[Tuple[str, float, int]]:
  """(id, probability, decision) rows of a job's CSV output, in file order."""
  rows = []
  for path in sorted(
    tf.io.gfile.glob(os.path.join(output_dir, f'{PREDICTIONS_CSV}-*.csv'))
  ):
    with tf.io.gfile.GFile(path) as f:
      lines = f.read().splitlines()[1:]
    for line in lines:
      row_id, probability, decision = line.rsplit(',', 2)
      rows.append((row_id.strip('"'), float(probability), int(decision)))
  return rows
