"""The run summary's text: baselines, the gate's verdict, error analysis,
undefined AUC and slice order (no pipeline run)."""

from pipeline import summary as summary_lib
from pipeline.report import format_summary
from pipeline.summary import RunSummary


def _analysis(passed: bool) -> dict:
  def metrics(auc, log_loss, f1):
    return {
      'auc': auc,
      'log_loss': log_loss,
      'f1': f1,
      'precision': 0.7,
      'recall': 0.9,
      'accuracy': 0.9,
      'rows': 1500,
    }

  return {
    'split': 'test',
    'decision_threshold': 0.42,
    'baselines': [
      {'name': 'candidate', 'metrics': metrics(0.95, 0.19, 0.80)},
      {'name': 'simple', 'metrics': metrics(0.96, 0.18, 0.81)},
      {'name': 'always_no', 'metrics': metrics(0.5, 0.53, 0.0)},
    ],
    'gate': [
      {
        'metric': 'auc',
        'against': 'simple',
        'candidate': 0.95,
        'baseline': 0.96 if not passed else 0.94,
        'passed': passed,
        'winner': 'candidate' if passed else 'simple',
      }
    ],
    'error_analysis': [
      {
        'name': 'payment_type=Cash',
        'kind': 'slice',
        'rows': 600,
        'share': 0.4,
        'metric': 'log_loss',
        'candidate': 0.01,
        'reference': 0.005,
        'reference_name': 'simple',
        'gap': 0.005,
        'potential_gain': 0.002,
        'gap_ci95': [0.001, 0.009],
        'too_small': False,
      },
      {
        'name': 'airport_trip',
        'kind': 'tag',
        'rows': 12,
        'share': 0.008,
        'metric': 'log_loss',
        'candidate': 0.3,
        'reference': 0.2,
        'reference_name': 'simple',
        'gap': 0.1,
        'potential_gain': 0.0008,
        'gap_ci95': None,
        'too_small': True,
      },
    ],
    'features': [
      {'feature': 'fare', 'carries_signal': True},
      {'feature': 'trip_start_day', 'carries_signal': False},
    ],
  }


def test_refusal_names_metric_both_values_and_the_winner():
  text = format_summary(
    RunSummary(
      evaluator_blessed=True, blessed=False, model_analysis=_analysis(False)
    )
  )
  assert (
    'gate auc vs simple: candidate 0.950, simple 0.960, winner simple: FAILED'
    in text
  )
  assert (
    'model: NOT blessed (simple baseline beats it on auc: 0.960 against '
    '0.950)' in text
  )
  assert '  simple         1500     0.960     0.180     0.810' in text
  assert 'airport_trip (too small)' in text
  assert 'features carrying no signal: trip_start_day' in text


def test_blessed_when_evaluator_and_gate_agree():
  text = format_summary(
    RunSummary(
      evaluator_blessed=True, blessed=True, model_analysis=_analysis(True)
    )
  )
  assert 'winner candidate: passed' in text and 'model: BLESSED' in text


def test_undefined_auc_is_printed_as_undefined_and_hours_sort_numerically():
  keys = [(('trip_start_hour', h),) for h in (10, 1, 2)] + [
    (('payment_type', 'Cash'),),
    (),
  ]
  ordered = [
    summary_lib.slice_name(k) for k in sorted(keys, key=summary_lib.slice_order)
  ]
  assert ordered == [
    'overall',
    'payment_type=Cash',
    'trip_start_hour=1',
    'trip_start_hour=2',
    'trip_start_hour=10',
  ]
  cash = summary_lib._without_undefined_auc({'auc': 0.0, 'mean_label': 0.0})
  assert cash['auc'] is None
  text = format_summary(
    RunSummary(
      metrics={
        'overall': {'auc': 0.9, 'example_count': 10, 'true_positives': 1},
        'payment_type=Cash': {'auc': None, 'example_count': 4},
      }
    )
  )
  assert 'payment_type=Cash' in text and 'undefined' in text
  assert '0.000' not in text.split('payment_type=Cash')[1].split('\n')[0]


def test_failed_infra_validation_says_why_nothing_was_pushed():
  reason = (
    'predict (serving_default): 20 of 20 probabilities are not finite '
    '(NaN or infinite)'
  )
  text = format_summary(
    RunSummary(
      evaluator_blessed=True,
      blessed=True,
      infra_blessed=False,
      infra_validation={'passed': False, 'reason': reason},
    )
  )
  assert f'\n  infra validation: FAILED: {reason}\n' in text
  assert '\n  pushed to: nothing pushed (infra validation failed)' in text


def test_passed_infra_validation_shows_the_measured_figures():
  text = format_summary(
    RunSummary(
      blessed=True,
      infra_blessed=True,
      infra_validation={
        'passed': True,
        'server': 'python -m serving',
        'step_s': 21.5,
        'measurements': {
          'requests': 63,
          'p50_ms': 3.2,
          'p99_ms': 11.8,
          'p99_budget_ms': 2000.0,
          'startup_s': 9.6,
        },
      },
      pushed_to='/serving/taxi/1795669102',
    )
  )
  assert (
    '  infra validation: passed (python -m serving: 63 requests, p50 3.2 ms,'
    ' p99 11.8 ms, budget 2000 ms; server ready in 9.6 s, step 21.5 s)'
  ) in text
  assert '  pushed to: /serving/taxi/1795669102' in text
