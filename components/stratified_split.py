"""Stratified, deterministic train/eval/test assignment.

Hash splits do not promise that every split has the overall label rate, and
on small data they miss it by several points. Here each split gets its share
of every label class (and, within a label, of every group of a strong
covariate), and the smaller splits may move a little off their nominal size
when that brings their label rate closer to the overall rate.
Which rows go where is decided by a hash of each row's id, so the assignment
does not depend on file order or on the Beam runner.
"""

import bisect
import hashlib
from typing import Dict, Hashable, List, Mapping, Sequence, Tuple

# How far a non-training split may move from its nominal size to match the
# overall label rate, and the class-share error that counts as a match.
SIZE_TOLERANCE = 0.2
GOOD_ENOUGH_SHARE_ERROR = 0.005


def row_hash(key: bytes) -> int:
  """A stable 63-bit hash (the same on every machine and Python run; it fits
  Beam's signed 64-bit integer coder)."""
  digest = hashlib.blake2b(key, digest_size=8).digest()
  return int.from_bytes(digest, 'big') >> 1


def _proportional(total: int, shares: Mapping[Hashable, float]) -> Dict:
  """Splits `total` by `shares` with the largest-remainder method."""
  exact = {k: total * s for k, s in shares.items()}
  counts = {k: int(v) for k, v in exact.items()}
  by_remainder = sorted(
    shares, key=lambda k: exact[k] - counts[k], reverse=True
  )
  for k in by_remainder[: total - sum(counts.values())]:
    counts[k] += 1
  return counts


def _best_split_counts(
  target: float,
  shares: Mapping[Hashable, float],
  available: Mapping[Hashable, int],
) -> Dict:
  """Class counts for one split of about `target` rows: the size nearest the
  target whose class mix is within GOOD_ENOUGH_SHARE_ERROR of `shares`, or
  failing that the size whose mix is closest."""
  low = max(1, int(target * (1 - SIZE_TOLERANCE)))
  high = max(low, int(round(target * (1 + SIZE_TOLERANCE))))
  best, best_key = None, None
  for size in range(low, high + 1):
    counts = _proportional(size, shares)
    if any(counts[k] > available[k] for k in counts):
      continue
    error = max(abs(counts[k] / size - shares[k]) for k in shares)
    key = (max(error, GOOD_ENOUGH_SHARE_ERROR), abs(size - target))
    if best_key is None or key < best_key:
      best, best_key = counts, key
  return best or {k: 0 for k in shares}


def _allocate_classes(
  class_counts: Mapping[Hashable, int], weights: Sequence[float]
) -> List[Dict]:
  """Per split, rows of each class: sizes chosen to keep the class mix."""
  total = sum(class_counts.values())
  if total == 0:
    return [{k: 0 for k in class_counts} for _ in weights]
  shares = {k: n / total for k, n in class_counts.items()}
  largest = max(range(len(weights)), key=lambda i: weights[i])
  remaining = dict(class_counts)
  result = [None] * len(weights)
  for i, weight in enumerate(weights):
    if i == largest:
      continue
    counts = _best_split_counts(
      total * weight / sum(weights), shares, remaining
    )
    for k in counts:
      remaining[k] -= counts[k]
    result[i] = counts
  result[largest] = remaining
  return result


def allocate(
  stratum_counts: Mapping[Tuple[Hashable, Hashable], int],
  weights: Sequence[float],
) -> List[Dict]:
  """Per split (in `weights` order), how many rows of each stratum it gets.

  A stratum is (label, group). Split sizes are chosen to keep every split's
  label mix; within a label, rows are shared across groups in proportion,
  so a strong covariate (the payment type) is balanced too. The largest
  split takes whatever the others leave: every row is assigned exactly once.
  """
  label_counts = {}
  for (label, _), n in stratum_counts.items():
    label_counts[label] = label_counts.get(label, 0) + n
  per_label = _allocate_classes(label_counts, weights)
  largest = max(range(len(weights)), key=lambda i: weights[i])
  result = [{} for _ in weights]
  for label, label_total in label_counts.items():
    groups = {k: n for k, n in stratum_counts.items() if k[0] == label}
    remaining = dict(groups)
    for i in range(len(weights)):
      if i == largest:
        continue
      wanted = _proportional(
        per_label[i][label], {k: n / label_total for k, n in groups.items()}
      )
      for k, n in wanted.items():
        result[i][k] = min(n, remaining[k])
        remaining[k] -= result[i][k]
    result[largest].update(remaining)
  return result


def split_boundaries(
  hashes_by_stratum: Mapping[Hashable, Sequence[int]], weights: Sequence[float]
) -> Dict[Hashable, List[int]]:
  """Per stratum, the sorted hash values at which each split after the first
  begins. A row goes to split `bisect_right(boundaries, hash)`."""
  ordered_by_class = {k: sorted(v) for k, v in hashes_by_stratum.items()}
  positions = cut_positions(
    {k: len(v) for k, v in ordered_by_class.items()}, weights
  )
  return {
    label: [
      ordered[position] if position < len(ordered) else ordered[-1] + 1
      for position in positions[label]
    ]
    for label, ordered in ordered_by_class.items()
  }


def cut_positions(
  stratum_counts: Mapping[Hashable, int], weights: Sequence[float]
) -> Dict[Hashable, List[int]]:
  """Per stratum, the ranks (in hash order) at which each split after the
  first begins: what split_boundaries needs besides the hashes at them."""
  counts = allocate(stratum_counts, weights)
  positions = {}
  for label in stratum_counts:
    position, ranks = 0, []
    for split_counts in counts[:-1]:
      position += split_counts[label]
      ranks.append(position)
    positions[label] = ranks
  return positions


def split_index(
  boundaries: Mapping[Hashable, List[int]], label: Hashable, hash_value: int
) -> int:
  return bisect.bisect_right(boundaries[label], hash_value)
