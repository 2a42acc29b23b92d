"""The per-run HTML report: written by local_runner.py, self-contained,
within its size budget, and clean in headless Chromium; its model section and
model card read model_analysis.json when the run has one."""

import json
import os
import re

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from core import lineage, metadata_uri, names
from pipeline.pipeline import create_pipeline
from reports import page, run_report
from tests.reports import browser

# plotly.js alone is 4.8 MB; the report's own content must stay small.
SIZE_BUDGET = 6_000_000
SECTIONS = ['data', 'transform', 'model', 'model-card']
needs_chromium = pytest.mark.skipif(
  browser.chromium() is None,
  reason='no chromium: run scripts/install_chromium.sh',
)


def _reported_path(output: str) -> str:
  [path] = re.findall(r'^  report: (\S+\.html) \(', output, re.MULTILINE)
  return path


def _model_analysis(threshold: float) -> dict:
  """A model_analysis.json in the layout of docs/model_quality.md."""
  metrics = dict(
    auc=0.9, log_loss=0.3, f1=0.7, precision=0.6, recall=0.8, accuracy=0.85
  )
  return {
    'split': 'test',
    'decision_threshold': threshold,
    'baselines': [
      {
        'name': 'candidate',
        'description': 'this run',
        'metrics': {**metrics, 'rows': 200},
      },
      {
        'name': 'rule',
        'description': 'card payment = big tip',
        'metrics': {**metrics, 'auc': 0.8, 'f1': 0.69, 'rows': 200},
      },
      {
        'name': 'always_no',
        'description': 'always "no big tip"',
        'metrics': {**metrics, 'auc': 0.5, 'f1': 0.0, 'rows': 200},
      },
    ],
    'gate': [
      {
        'metric': 'auc',
        'against': 'rule',
        'candidate': 0.9,
        'baseline': 0.8,
        'passed': True,
      }
    ],
    'error_analysis': [
      {
        'name': 'payment_type=Cash',
        'kind': 'slice',
        'rows': 80,
        'share': 0.4,
        'metric': 'f1',
        'candidate': 0.1,
        'reference': 0.12,
        'reference_name': 'rule',
        'gap': 0.02,
        'potential_gain': 0.008,
        'ci95': [0.05, 0.15],
        'too_small': False,
      },
      {
        'name': 'company=Unknown-ORIGIN',
        'kind': 'found',
        'rows': 9,
        'share': 0.045,
        'metric': 'f1',
        'candidate': 0.3,
        'reference': 0.5,
        'reference_name': 'rule',
        'gap': 0.2,
        'potential_gain': 0.009,
        'ci95': None,
        'too_small': True,
      },
    ],
    'features': [
      {
        'feature': 'fare',
        'mutual_information': 0.12,
        'permutation_importance': 0.03,
        'ablation_delta': -0.004,
        'ablation_ci95': [-0.008, -0.001],
        'carries_signal': True,
      },
      {
        'feature': 'trip_start_month',
        'mutual_information': 0.001,
        'permutation_importance': 0.0,
        'ablation_delta': 0.001,
        'ablation_ci95': [-0.002, 0.003],
        'carries_signal': False,
      },
    ],
    'label_consistency': {
      'train': {'conflicting_rows': 0, 'uncomputable_labels': 0, 'examples': []}
    },
    'calibration': [
      {
        'bin': [i / 5, (i + 1) / 5],
        'mean_predicted': i / 5 + 0.1,
        'observed_rate': i / 5 + 0.08,
        'rows': 40,
      }
      for i in range(5)
    ],
    'threshold_curve': [
      {'threshold': t / 10, 'precision': 0.3 + t / 15, 'recall': 1 - t / 11}
      for t in range(1, 10)
    ],
  }


def _record_model_analysis(store, directory, analysis) -> None:
  """What the model_analysis component records: an execution in its node
  context with an output artifact holding model_analysis.json."""
  os.makedirs(directory)
  with open(os.path.join(directory, names.MODEL_ANALYSIS_FILE), 'w') as f:
    json.dump(analysis, f)
  artifact_type = store.put_artifact_type(
    metadata_store_pb2.ArtifactType(name='ModelAnalysis')
  )
  execution_type = store.put_execution_type(
    metadata_store_pb2.ExecutionType(name='ModelAnalysis')
  )
  # The run's own model_analysis node context, when the run had one.
  context = lineage.node_context(
    store, names.TRAINING_PIPELINE, names.MODEL_ANALYSIS
  ) or metadata_store_pb2.Context(
    type_id=store.get_context_type(lineage.NODE_CONTEXT_TYPE).id,
    name=f'{names.TRAINING_PIPELINE}.{names.MODEL_ANALYSIS}',
  )
  event = metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT)
  event.path.steps.add().key = 'model_analysis'
  event.path.steps.add().index = 0
  store.put_execution(
    metadata_store_pb2.Execution(
      type_id=execution_type,
      last_known_state=metadata_store_pb2.Execution.COMPLETE,
    ),
    [
      (metadata_store_pb2.Artifact(type_id=artifact_type, uri=directory), event)
    ],
    [context],
  )


def _node_ids(trained_pipeline):
  """The component ids of the pipeline as local_runner.py builds it."""
  import local_runner  # pylint: disable=import-outside-toplevel

  args = local_runner.parse_args(
    ['--data-root', str(trained_pipeline.data_root)]
  )
  return [
    c.id for c in create_pipeline(local_runner.build_config(args)).components
  ]


def test_pipeline_run_writes_a_self_contained_report(trained_pipeline):
  path = _reported_path(trained_pipeline.output)
  assert os.path.dirname(path) == str(trained_pipeline.work_dir / 'reports')
  [log] = os.listdir(trained_pipeline.work_dir / 'logs')
  assert os.path.basename(path) == log.replace('.log', '.html')
  assert os.path.getsize(path) < SIZE_BUDGET
  with open(path, encoding='utf-8') as f:
    text = f.read()
  assert not re.search(r'<(script|link|img)[^>]+(src|href)=', text)
  for section in SECTIONS:
    assert f'<section id="{section}">' in text


@needs_chromium
def test_report_opens_cleanly_in_chromium(trained_pipeline, tmp_path):
  path = _reported_path(trained_pipeline.output)
  check = browser.check_page(path, str(tmp_path / 'report.png'))
  assert check.errors == []
  assert check.external_requests == []
  assert check.section_ids == SECTIONS
  assert check.plots > 20
  assert check.rendered_plots == check.plots
  assert (tmp_path / 'report.png').stat().st_size > 10_000


@needs_chromium
def test_model_analysis_is_read_through_ml_metadata(
  trained_pipeline, metadata_copy, tmp_path
):
  config = metadata_uri.connection_config(
    str(metadata_copy / 'metadata.sqlite')
  )
  store = metadata_store.MetadataStore(config)
  # The session's run has a model_analysis node of its own: leave it out to
  # see the report of a run without one.
  node_ids = [
    n for n in _node_ids(trained_pipeline) if n != names.MODEL_ANALYSIS
  ]
  without = run_report.build(store, 'taxi', node_ids, 0, 'without').html()
  for part in ('Baselines side by side', 'Calibration', 'Error analysis'):
    assert f'{part}: {page.NOT_COMPUTED}' in without
  assert 'Precision and recall against the threshold: not computed' in without

  chain = lineage.model_lineage(store, names.TRAINING_PIPELINE)
  threshold = chain['trainer']['decision_threshold']
  _record_model_analysis(
    store, str(tmp_path / 'analysis'), _model_analysis(threshold)
  )
  report = run_report.build(
    store, 'taxi', [*node_ids, names.MODEL_ANALYSIS], 0, 'with'
  )
  text = report.html()
  assert page.NOT_COMPUTED not in text
  for expected in (
    'card payment = big tip',  # The baselines.
    '<th>potential gain</th>',
    'payment_type=Cash',
    'trip_start_month',  # The feature report.
    f'exported threshold {threshold:.3f}',
    'Largest potential gains (error analysis): payment_type=Cash',
  ):
    assert expected in text, expected
  path = report.write(str(tmp_path / 'with.html'))
  check = browser.check_page(path, str(tmp_path / 'with.png'))
  assert check.errors == []
  assert check.external_requests == []
  assert check.section_ids == SECTIONS
  assert check.rendered_plots == check.plots
