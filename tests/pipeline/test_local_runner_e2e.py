"""The pipeline end to end on a small sample, through local_runner.py."""

import glob
import json
import os

import pytest
import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tensorflow_serving.apis import prediction_log_pb2

from core import lineage, model_versions, names
from tests.conftest import E2E_ARGS, run_local_runner

COMPONENTS = (
  names.EXAMPLE_GEN,
  names.STATISTICS_GEN,
  names.SCHEMA_GEN,
  names.SCHEMA_IMPORTER,
  names.EXAMPLE_VALIDATOR,
  names.DATA_GATE,
  names.TRANSFORM,
  names.TRAINER,
  names.PRODUCTION_BASELINE,
  names.EVALUATOR,
  names.BASELINE_TRAINER,
  names.MODEL_ANALYSIS,
  names.INFRA_VALIDATOR,
  names.PUSHER,
)


def _store(run):
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = str(run.metadata_path)
  return metadata_store.MetadataStore(config)


def _executions_by_node(run):
  store = _store(run)
  result = {}
  for node in COMPONENTS:
    context = lineage.node_context(store, names.TRAINING_PIPELINE, node)
    result[node] = (
      sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)
      if context
      else []
    )
  return result


def _versions(run):
  return model_versions.version_dirs(str(run.serving_model_dir))


def test_run_completes_blesses_and_pushes(trained_pipeline):
  assert 'model: BLESSED' in trained_pipeline.output
  assert (
    'model in production: no baseline yet: nothing pushed to the serving '
    'destination'
  ) in trained_pipeline.output
  assert f'pushed to: {trained_pipeline.serving_model_dir}' in (
    trained_pipeline.output
  )
  assert 'rows per split: train' in trained_pipeline.output


def _model_analysis(run) -> dict:
  (path,) = glob.glob(
    str(
      run.work_dir
      / 'pipelines'
      / names.TRAINING_PIPELINE
      / names.MODEL_ANALYSIS
      / names.ANALYSIS
      / '*'
      / names.MODEL_ANALYSIS_FILE
    )
  )
  with open(path) as f:
    return json.load(f)


def test_model_analysis_has_the_documented_layout(trained_pipeline):
  analysis = _model_analysis(trained_pipeline)
  assert analysis['split'] == names.TEST_SPLIT
  # The first run has no blessed model yet: four baselines, no production.
  assert [b['name'] for b in analysis['baselines']] == [
    names.CANDIDATE,
    names.SIMPLE_BASELINE,
    names.RULE_BASELINE,
    names.ALWAYS_NO,
  ]
  rows = analysis['baselines'][0]['metrics']['rows']
  assert 150 <= rows <= 250  # A tenth of the 2,000 sampled rows.
  # Splits this small are read whole.
  assert analysis['rows_read'][names.TEST_SPLIT] == {
    'rows': rows,
    'in_split': rows,
  }
  for baseline in analysis['baselines']:
    assert set(baseline['metrics']) == {
      'auc',
      'log_loss',
      'f1',
      'precision',
      'recall',
      'accuracy',
      'rows',
    }
  assert [(g['metric'], g['against']) for g in analysis['gate']] == [
    ('auc', names.SIMPLE_BASELINE),
    ('log_loss', names.SIMPLE_BASELINE),
    ('f1', names.RULE_BASELINE),
  ]
  errors = analysis['error_analysis']
  assert {e['kind'] for e in errors} == {'slice', 'tag', 'found'}
  cash = next(e for e in errors if e['name'] == 'payment_type=Cash')
  assert cash['candidate_auc'] is None  # No positives: undefined.
  assert {f['feature'] for f in analysis['features']} >= {'fare', 'company'}
  assert set(analysis['label_consistency']) == {'train', 'eval', 'test'}
  assert analysis['blessed'] is True


def test_summary_prints_baselines_gate_and_error_analysis(trained_pipeline):
  output = trained_pipeline.output
  for name in ('candidate', 'simple', 'rule', 'always_no'):
    assert f'\n  {name} ' in output, name
  assert 'gate auc vs simple: candidate ' in output
  assert 'gate f1 vs rule: candidate ' in output
  assert 'error analysis (top ' in output
  assert 'payment_type=Cash' in output
  assert 'undefined' in output  # AUC of the cash slice, not 0.000.
  hours = [
    int(line.split('trip_start_hour=')[1].split()[0])
    for line in output.splitlines()
    if line.startswith('  trip_start_hour=')
  ]
  assert hours == sorted(hours) and len(hours) > 3


def test_metadata_holds_one_execution_per_component(trained_pipeline):
  executions = _executions_by_node(trained_pipeline)
  for node in COMPONENTS:
    assert len(executions[node]) == 1, node
    assert executions[node][0].last_known_state == (
      metadata_store_pb2.Execution.COMPLETE
    ), node


def test_transform_materialises_only_what_the_trainer_reads(trained_pipeline):
  store = _store(trained_pipeline)
  (execution,) = _executions_by_node(trained_pipeline)[names.TRANSFORM]
  outputs = lineage.artifacts_by_key(
    store,
    store.get_events_by_execution_ids([execution.id]),
    metadata_store_pb2.Event.OUTPUT,
  )
  # No analyzer cache: nothing feeds it back.
  assert set(outputs) == {names.TRANSFORM_GRAPH, names.TRANSFORMED_EXAMPLES}
  (transformed,) = outputs[names.TRANSFORMED_EXAMPLES]
  splits = json.loads(transformed.properties['split_names'].string_value)
  assert sorted(splits) == sorted([names.TRAIN_SPLIT, names.EVAL_SPLIT])
  for split in splits:
    assert glob.glob(os.path.join(transformed.uri, f'Split-{split}', '*.gz'))


def test_pushed_model_is_one_complete_version_that_predicts(trained_pipeline):
  versions = _versions(trained_pipeline)
  assert len(versions) == 1
  model = tf.saved_model.load(versions[0][1])
  probabilities = model.signatures['serving_default'](
    fare=tf.constant([8.0, 40.0]),
    trip_miles=tf.constant([1.0, 12.0]),
    trip_seconds=tf.constant([400.0, 2400.0]),
    trip_start_hour=tf.constant([13.0, 2.0]),
    trip_start_day=tf.constant([3.0, 6.0]),
    trip_start_month=tf.constant([5.0, 11.0]),
    pickup_latitude=tf.constant([41.88, float('nan')]),
    pickup_longitude=tf.constant([-87.63, float('nan')]),
    dropoff_latitude=tf.constant([41.9, 41.97]),
    dropoff_longitude=tf.constant([-87.62, -87.9]),
    pickup_community_area=tf.constant([8.0, float('nan')]),
    dropoff_community_area=tf.constant([32.0, 76.0]),
    payment_type=tf.constant(['Credit Card', 'Cash']),
    company=tf.constant(['Flash Cab', '']),
  )['probability'].numpy()
  assert probabilities.shape == (2,)
  assert ((probabilities >= 0) & (probabilities <= 1)).all()
  assert probabilities[0] > probabilities[1]  # a card fare vs a cash fare


def test_pushed_model_passed_infra_validation_and_carries_warmup_requests(
  trained_pipeline,
):
  output = trained_pipeline.output
  assert '\n  infra validation: passed (' in output, output[-3000:]
  ((_, version_dir),) = _versions(trained_pipeline)
  warmup = os.path.join(
    version_dir, 'assets.extra', 'tf_serving_warmup_requests'
  )
  logs = [
    prediction_log_pb2.PredictionLog.FromString(record.numpy())
    for record in tf.data.TFRecordDataset(warmup)
  ]
  assert [log.WhichOneof('log_type') for log in logs] == [
    'predict_log',
    'classify_log',
    'regress_log',
  ]
  request = logs[0].predict_log.request
  assert request.model_spec.signature_name == 'serving_default'
  assert tf.make_ndarray(request.inputs['fare']).shape == (5,)
  # The push is the infra validator's copy; lineage still reaches the
  # Trainer's model and its data.
  found = lineage.training_lineage(_store(trained_pipeline), 'taxi')
  assert f'/{names.TRAINER}/' in found.model_uri
  assert found.model_version == os.path.basename(version_dir)


# Rerunning evaluates the model again, now against the version the first
# run pushed (production_baseline's cache key is the served version, so no
# cache hit from there on); it pushes nothing new.
REEVALUATED = (
  names.PRODUCTION_BASELINE,
  names.EVALUATOR,
  names.MODEL_ANALYSIS,
  names.PUSHER,
)


@pytest.mark.e2e
def test_immediate_rerun_reuses_every_upstream_execution(
  trained_pipeline, tmp_path
):
  # Two runs of its own: a rerun on the session's run would change it for
  # the tests after this one, and a copy of it elsewhere would not be reused
  # (Transform's and the Trainer's cache keys name the user-module wheel
  # TFX builds under the pipeline root).
  args = (trained_pipeline.data_root, tmp_path / 'work', tmp_path / 'serving')
  first = run_local_runner(*args, *E2E_ARGS)
  assert first.returncode == 0, first.output[-3000:]
  rerun = run_local_runner(*args, *E2E_ARGS)
  assert rerun.returncode == 0, rerun.output[-3000:]
  executions = _executions_by_node(rerun)
  for node in COMPONENTS:
    second_state = (
      metadata_store_pb2.Execution.COMPLETE
      if node in REEVALUATED
      else metadata_store_pb2.Execution.CACHED
    )
    assert [e.last_known_state for e in executions[node]] == [
      metadata_store_pb2.Execution.COMPLETE,
      second_state,
    ], node
  assert len(_versions(rerun)) == 1
  assert 'reused from cache: example_gen' in rerun.output
  [(_, served)] = _versions(first)
  assert f'model in production: version {os.path.basename(served)}' in (
    rerun.output
  )

  # Nothing changed since the rerun: the next run launches nothing, records
  # no execution and prints the rerun's summary.
  unchanged_run = run_local_runner(*args, *E2E_ARGS)
  assert unchanged_run.returncode == 0, unchanged_run.output[-3000:]
  assert 'nothing was launched' in unchanged_run.output
  assert f'model in production: version {os.path.basename(served)}' in (
    unchanged_run.output
  )
  ids = {node: [e.id for e in found] for node, found in executions.items()}
  assert {
    node: [e.id for e in found]
    for node, found in _executions_by_node(unchanged_run).items()
  } == ids
  # TFX, asked anyway, agrees: every component is a cache hit.
  launched = run_local_runner(*args, *E2E_ARGS, '--always-launch')
  assert launched.returncode == 0, launched.output[-3000:]
  assert 'nothing (--always-launch)' in launched.output
  for node, found in _executions_by_node(launched).items():
    assert len(found) == 3, node
    assert found[-1].last_known_state == metadata_store_pb2.Execution.CACHED
