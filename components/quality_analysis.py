"""Model quality on one split: metrics of the candidate and its baselines, the
gate against them, the error analysis by slices and tags, calibration and
the threshold curve. Plain functions over arrays and DataFrames; the
model_analysis component (components/model_analysis.py) calls them.

An undefined metric (AUC of rows of one class) is None, never 0.
"""

from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from models import threshold as threshold_lib

# Probabilities are clipped so that one confident mistake costs a finite
# log loss (as scikit-learn and Keras do).
EPSILON = 1e-7
LOWER_IS_BETTER = frozenset({'log_loss'})
# Gate checks by default: (metric, baseline it must not lose to).
DEFAULT_GATE = (('auc', 'simple'), ('log_loss', 'simple'), ('f1', 'rule'))
# Error analysis: the metric (additive over rows, so gap x share is exactly
# what the whole split would gain), rows below which a slice is too small to
# trust, bootstrap resamples and how many worst slices to find by search.
ERROR_METRIC = 'log_loss'
MIN_SLICE_ROWS = 30
BOOTSTRAP_SAMPLES = 200
FOUND_SLICES = 5
SEED = 42
# Cells (draws x rows) of resampling counts bootstrap_auc holds at once.
_BOOTSTRAP_CELLS = 2_000_000


def auc(labels, probabilities) -> Optional[float]:
  labels = np.asarray(labels)
  if len(labels) == 0 or labels.min() == labels.max():
    return None
  return float(roc_auc_score(labels, probabilities))


def bootstrap_auc(labels, probabilities, draws: np.ndarray) -> np.ndarray:
  """roc_auc_score(labels[d], probabilities[d]) for each row d of `draws`
  (indices into labels), NaN where a draw holds one class only.

  A loop of roc_auc_score costs ~2 ms a draw (12 s of each run's feature
  report); this is the same Mann-Whitney statistic, ties counted half as
  roc_auc_score counts them, computed from each draw's resampling counts
  for all draws at once."""
  labels = np.asarray(labels).astype(bool)
  probabilities = np.asarray(probabilities)
  n = len(labels)
  order = np.argsort(probabilities, kind='stable')
  ordered = probabilities[order]
  # Where each run of equal probabilities starts in the sorted order.
  tie_starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
  positive = labels[order]
  out = np.empty(len(draws))
  # Draws per chunk: counts and their tie sums stay a few tens of MB.
  chunk = max(1, _BOOTSTRAP_CELLS // max(n, 1))
  for start in range(0, len(draws), chunk):
    block = np.asarray(draws[start : start + chunk])
    rows = len(block)
    offsets = (block + n * np.arange(rows)[:, None]).ravel()
    counts = np.bincount(offsets, minlength=rows * n).reshape(rows, n)
    counts = counts[:, order].astype(np.float64)
    pos = np.add.reduceat(counts * positive, tie_starts, axis=1)
    neg = np.add.reduceat(counts * ~positive, tie_starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    with np.errstate(invalid='ignore', divide='ignore'):
      out[start : start + rows] = np.where(pairs > 0, wins / pairs, np.nan)
  return out


def row_log_loss(labels, probabilities) -> np.ndarray:
  p = np.clip(np.asarray(probabilities, np.float64), EPSILON, 1 - EPSILON)
  y = np.asarray(labels)
  return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def metrics(labels, probabilities, decisions) -> dict:
  """auc and log_loss of the probabilities, the rest of the 0/1 decisions."""
  labels = np.asarray(labels).astype(int)
  decided = threshold_lib.binary_metrics(labels, np.asarray(decisions), 0.5)
  return {
    'auc': auc(labels, probabilities),
    'log_loss': float(row_log_loss(labels, probabilities).mean())
    if len(labels)
    else None,
    'f1': decided['f1'],
    'precision': decided['precision'],
    'recall': decided['recall'],
    'accuracy': decided['accuracy'],
    'rows': int(len(labels)),
  }


def rule_probabilities(
  train_frame: pd.DataFrame,
  train_labels,
  frame: pd.DataFrame,
  feature: str,
  value: str,
) -> Tuple[np.ndarray, np.ndarray]:
  """(probabilities, decisions) of the rule "feature == value": the decision
  is the rule; the probability is the train split's label rate on each side
  of it, so its AUC and log loss are those of a calibrated rule."""
  train_labels = np.asarray(train_labels)
  on_train = (train_frame[feature] == value).to_numpy()
  rates = {
    side: train_labels[on_train == side].mean()
    if (on_train == side).any()
    else train_labels.mean()
    for side in (True, False)
  }
  fires = (frame[feature] == value).to_numpy()
  return np.where(fires, rates[True], rates[False]), fires.astype(int)


def always_no(train_labels, rows: int) -> Tuple[np.ndarray, np.ndarray]:
  """The constant train-split label rate, and never a big tip."""
  return (
    np.full(rows, float(np.mean(train_labels))),
    np.zeros(rows, int),
  )


def better(metric: str, a: Optional[float], b: Optional[float]) -> bool:
  """Whether value a is strictly better than b on `metric`."""
  if a is None or b is None:
    return False
  return a < b if metric in LOWER_IS_BETTER else a > b


def gate(
  table: Mapping[str, dict],
  checks: Sequence[Tuple[str, str]],
  tolerance: float = 0.0,
  candidate: str = 'candidate',
) -> List[dict]:
  """One row per (metric, baseline): passed unless the baseline beats the
  candidate by more than `tolerance`. A baseline missing from `table` (no
  production model yet) is skipped; an undefined value fails."""
  rows = []
  for metric, against in checks:
    if against not in table:
      continue
    mine = table[candidate].get(metric)
    theirs = table[against].get(metric)
    if mine is None or theirs is None:
      passed = False
    elif metric in LOWER_IS_BETTER:
      passed = mine <= theirs + tolerance
    else:
      passed = mine >= theirs - tolerance
    rows.append(
      {
        'metric': metric,
        'against': against,
        'candidate': mine,
        'baseline': theirs,
        'passed': passed,
        'winner': against if better(metric, theirs, mine) else candidate,
        'tolerance': tolerance,
      }
    )
  return rows


def refusals(gate_rows: Sequence[dict]) -> List[str]:
  """One line per failed check: metric, both values, the baseline that won."""
  return [
    f'{row["metric"]}: candidate {_fmt(row["candidate"])} vs '
    f'{row["against"]} {_fmt(row["baseline"])} (winner: {row["winner"]})'
    for row in gate_rows
    if not row['passed']
  ]


def _fmt(value: Optional[float]) -> str:
  return 'undefined' if value is None else f'{value:.4f}'


def _slice_metric(metric: str, labels, probabilities) -> Optional[float]:
  if metric == 'log_loss':
    return float(row_log_loss(labels, probabilities).mean())
  if metric == 'auc':
    return auc(labels, probabilities)
  raise ValueError(f'unsupported error-analysis metric {metric!r}')


def _gap(metric: str, candidate, reference) -> Optional[float]:
  """How much worse the candidate is than the reference (> 0: room)."""
  if candidate is None or reference is None:
    return None
  return (
    candidate - reference
    if metric in LOWER_IS_BETTER
    else (reference - candidate)
  )


def _bootstrap(
  metric: str, labels, candidate, reference, rng, samples: int
) -> Tuple[Optional[list], Optional[list]]:
  """95 % intervals of the candidate's metric and of the gap."""
  n = len(labels)
  if n < 2:
    return None, None
  draws = rng.integers(0, n, size=(samples, n))
  if metric == 'log_loss':
    mine = row_log_loss(labels, candidate)[draws].mean(axis=1)
    gaps = mine - row_log_loss(labels, reference)[draws].mean(axis=1)
  else:
    mine = bootstrap_auc(labels, candidate, draws)
    theirs = bootstrap_auc(labels, reference, draws)
    # Both are NaN on the same draws: those of one class only.
    defined = ~np.isnan(mine)
    if not defined.any():
      return None, None
    mine = mine[defined]
    gaps = _gap(metric, mine, theirs[defined])
  return (
    [float(v) for v in np.percentile(mine, [2.5, 97.5])],
    [float(v) for v in np.percentile(gaps, [2.5, 97.5])],
  )


def _group_row(
  name: str,
  kind: str,
  mask: np.ndarray,
  labels: np.ndarray,
  candidate: np.ndarray,
  reference: np.ndarray,
  reference_name: str,
  target: Optional[float],
  metric: str,
  rng,
  samples: int,
  min_rows: int,
) -> dict:
  rows = int(mask.sum())
  y, mine, theirs = labels[mask], candidate[mask], reference[mask]
  candidate_value = _slice_metric(metric, y, mine) if rows else None
  reference_value = (
    target
    if target is not None
    else (_slice_metric(metric, y, theirs) if rows else None)
  )
  gap = _gap(metric, candidate_value, reference_value)
  share = rows / len(labels)
  ci95, gap_ci95 = (
    _bootstrap(metric, y, mine, theirs, rng, samples) if rows else (None, None)
  )
  if target is not None:
    gap_ci95 = None  # A fixed target has no sampling error of its own.
  return {
    'name': name,
    'kind': kind,
    'rows': rows,
    'share': share,
    'metric': metric,
    'candidate': candidate_value,
    'reference': reference_value,
    'reference_name': 'target' if target is not None else reference_name,
    'gap': gap,
    'potential_gain': None if gap is None else gap * share,
    'ci95': ci95,
    'gap_ci95': gap_ci95,
    'positives': int(y.sum()),
    'candidate_auc': auc(y, mine),
    'reference_auc': auc(y, theirs),
    'too_small': rows < min_rows,
  }


def _sort_key(row: dict):
  """Trustworthy rows first, then the largest potential gain; undefined
  gains last."""
  gain = row['potential_gain']
  return (row['too_small'], gain is None, -(gain or 0.0))


def _search_groups(frame: pd.DataFrame) -> Dict[str, pd.Series]:
  """Groups to search for bad slices, as a row -> group name Series per
  column: every column (numbers with many values in quintiles), and each
  crossed with the payment type."""
  groups = {}
  for key in frame.columns:
    column = frame[key]
    if column.dtype == object:
      values = column.fillna('missing').astype(str)
    elif column.nunique() <= 25:
      values = column.map(lambda v: 'missing' if pd.isna(v) else f'{v:g}')
    else:
      bins = pd.qcut(column, 5, duplicates='drop').astype(str)
      values = bins.where(column.notna(), 'missing')
    groups[key] = key + '=' + values
  if 'payment_type' in groups:
    payment = groups['payment_type']
    for key in list(groups):
      if key != 'payment_type':
        groups[f'payment_type, {key}'] = payment + ', ' + groups[key]
  return groups


def error_analysis(
  frame: pd.DataFrame,
  labels,
  candidate,
  reference,
  reference_name: str,
  slices: Mapping[str, Callable],
  tags: Mapping[str, Callable],
  search_frame: Optional[pd.DataFrame] = None,
  targets: Optional[Mapping[str, float]] = None,
  metric: str = ERROR_METRIC,
  min_rows: int = MIN_SLICE_ROWS,
  samples: int = BOOTSTRAP_SAMPLES,
  found: int = FOUND_SLICES,
  seed: int = SEED,
) -> List[dict]:
  """Rows per slice value, per tag and for the `found` worst other groups of
  `search_frame`'s columns (at least min_rows rows, largest potential gain),
  sorted by potential gain."""
  labels = np.asarray(labels).astype(int)
  candidate = np.asarray(candidate, np.float64)
  reference = np.asarray(reference, np.float64)
  targets = targets or {}
  rng = np.random.default_rng(seed)

  def row(name, kind, mask):
    return _group_row(
      name,
      kind,
      np.asarray(mask, bool),
      labels,
      candidate,
      reference,
      reference_name,
      targets.get(name),
      metric,
      rng,
      samples,
      min_rows,
    )

  rows = []
  for slice_key, slice_fn in slices.items():
    values = slice_fn(frame)
    for value in sorted(values.unique(), key=_natural):
      rows.append(
        row(f'{slice_key}={value}', 'slice', (values == value).to_numpy())
      )
  for tag, predicate in tags.items():
    rows.append(row(tag, 'tag', predicate(frame).fillna(False).to_numpy()))

  if search_frame is not None and found:
    listed = {r['name'] for r in rows}
    per_row_gap = pd.Series(
      row_log_loss(labels, candidate) - row_log_loss(labels, reference)
    )
    scored = {}
    for values in _search_groups(search_frame).values():
      by_group = per_row_gap.groupby(values.to_numpy())
      for name, total, count in zip(
        by_group.sum().index, by_group.sum(), by_group.count()
      ):
        if count >= min_rows and name not in listed:
          scored[name] = (total / len(labels), values.to_numpy() == name)
    worst = sorted(scored.items(), key=lambda item: -item[1][0])[:found]
    for name, (_, mask) in worst:
      rows.append(row(name, 'found', mask))
  return sorted(rows, key=_sort_key)


def _natural(value) -> tuple:
  """Sorts "2" before "10" and numbers before words."""
  text = str(value)
  head = text.split('-')[0].rstrip('+')
  try:
    return (0, float(head), text)
  except ValueError:
    return (1, 0.0, text)


def calibration(labels, probabilities, bins: int = 10) -> List[dict]:
  labels = np.asarray(labels)
  probabilities = np.asarray(probabilities)
  edges = np.linspace(0.0, 1.0, bins + 1)
  which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
  rows = []
  for i in range(bins):
    mask = which == i
    rows.append(
      {
        'bin': [float(edges[i]), float(edges[i + 1])],
        'mean_predicted': float(probabilities[mask].mean())
        if mask.any()
        else None,
        'observed_rate': float(labels[mask].mean()) if mask.any() else None,
        'rows': int(mask.sum()),
      }
    )
  return rows


def threshold_curve(labels, probabilities, steps: int = 19) -> List[dict]:
  rows = []
  for cut in np.linspace(0.05, 0.95, steps):
    scored = threshold_lib.binary_metrics(labels, probabilities, cut)
    rows.append(
      {
        'threshold': round(float(cut), 4),
        'precision': scored['precision'],
        'recall': scored['recall'],
        'f1': scored['f1'],
      }
    )
  return rows
