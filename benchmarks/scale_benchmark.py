"""How the full pipeline's time and memory grow with the data: for each size
(default 100k and 1M rows; add 5000000 for 5M), synthesises that many trips
from the bundled data, runs `local_runner.py` on them cold with default
flags, and prints wall time, rows/s and peak memory (summed over the process
tree), the same per component (the data components ExampleGen,
StatisticsGen, ExampleValidator and Transform first), and the growth factor
of each figure between consecutive sizes.

    python benchmarks/scale_benchmark.py [--rows N [N ...]] [--keep DIR]

Synthetic trips are the bundled rows resampled with replacement (seeded),
each with a new trip_id and its fare and tips scaled by one factor drawn
uniformly within 2 % (so every trip keeps its label); the other values are
copied as written, so the data keeps the curated schema. They are written
as CSV shards of 500k rows. A component's time is its execution's span in
the run's ML Metadata store; its peak memory is the largest tree RSS sampled
(every 0.2 s) during that span, and "grew" how far that peak is above the
RSS at the span's start: memory a component allocates and does not return
shows up in the components after it as a higher start, not as growth.
"""

import argparse
import csv
import io
import pathlib
import sys
import tempfile
from typing import Dict, List, Sequence

import numpy as np
from pipeline_benchmark import (
  PROJECT_DIR,
  component_windows,
  local_runner_command,
  measure,
)

from core import names

BUNDLED_CSV = PROJECT_DIR / 'data' / 'taxi' / 'data.csv'
SHARD_ROWS = 500_000
JITTER = 0.02
SEED = 20261202
DATA_COMPONENTS = (
  names.EXAMPLE_GEN,
  names.STATISTICS_GEN,
  names.EXAMPLE_VALIDATOR,
  names.TRANSFORM,
)
MB = 2**20


def _encoded(fields: Sequence[str]) -> str:
  out = io.StringIO()
  csv.writer(out, lineterminator='').writerow(fields)
  return out.getvalue()


def synthesise(rows: int, directory: pathlib.Path) -> None:
  """Writes `rows` synthetic trips as CSV shards under `directory`."""
  with open(BUNDLED_CSV, newline='') as f:
    reader = csv.reader(f)
    header = next(reader)
    source = list(reader)
  trip_id, fare, tips = (header.index(c) for c in ('trip_id', 'fare', 'tips'))
  if not trip_id < fare < tips:
    sys.exit(
      f'{BUNDLED_CSV}: expected the columns trip_id, ..., fare, ..., tips'
    )
  # Each source row as the text between trip_id and fare and between fare
  # and tips (after tips: nothing, checked below), CSV-quoted once.
  if tips != len(header) - 1:
    sys.exit(f'{BUNDLED_CSV}: expected tips as the last column')
  before_fare = [_encoded(r[trip_id + 1 : fare]) for r in source]
  before_tips = [_encoded(r[fare + 1 : tips]) for r in source]
  fares = np.array([float(r[fare]) for r in source])
  tip_values = np.array([float(r[tips]) for r in source])
  rng = np.random.default_rng(SEED)
  directory.mkdir(parents=True)
  for shard, first in enumerate(range(0, rows, SHARD_ROWS)):
    count = min(SHARD_ROWS, rows - first)
    picks = rng.integers(0, len(source), count)
    factors = 1 + rng.uniform(-JITTER, JITTER, count)
    new_fares = fares[picks] * factors
    new_tips = tip_values[picks] * factors
    with open(directory / f'trips-{shard:05d}.csv', 'w') as out:
      out.write(_encoded(header) + '\n')
      out.writelines(
        f'syn-{first + i:09d},{before_fare[p]},{new_fares[i]:.2f},'
        f'{before_tips[p]},{new_tips[i]:.2f}\n'
        for i, p in enumerate(picks.tolist())
      )


def run_pipeline(rows: int, root: pathlib.Path) -> dict:
  data = root / 'data'
  print(f'{rows:,} rows: synthesising ...', flush=True)
  synthesise(rows, data)
  work = root / 'work'
  command = local_runner_command(root, '--data-root', str(data))
  print(f'{rows:,} rows: running the pipeline ...', flush=True)
  run = measure(command, PROJECT_DIR, None)
  windows = component_windows(
    work / 'metadata.sqlite', names.TRAINING_PIPELINE, run['started_ms']
  )
  components = {}
  for component, (start, end, state) in windows.items():
    inside = [rss for ms, rss in run['timeline'] if start <= ms <= end]
    before = [rss for ms, rss in run['timeline'] if ms <= start]
    start_rss = before[-1] if before else 0
    peak = max(inside, default=start_rss)
    components[component] = {
      'start': start,
      'seconds': (end - start) / 1000,
      'state': state,
      'peak_mb': peak / MB,
      'grew_mb': max(0, peak - start_rss) / MB,
    }
  run['components'] = components
  print(
    f'{rows:,} rows: exit {run["returncode"]}, {run["seconds"]:.1f} s, '
    f'peak {run["peak_mb"]:.0f} MB (log: {work}/logs)',
    flush=True,
  )
  return run


def _ordered(components: Dict[str, dict]) -> List[str]:
  data = [c for c in DATA_COMPONENTS if c in components]
  rest = sorted(
    (c for c in components if c not in DATA_COMPONENTS),
    key=lambda c: components[c]['start'],
  )
  return data + rest


def _growth(new: float, old: float) -> str:
  return f'{new / old:.2f}x' if old else '-'


def print_components(rows: int, r: dict) -> None:
  data_seconds = sum(
    r['components'][c]['seconds']
    for c in DATA_COMPONENTS
    if c in r['components']
  )
  print(
    f'\n{rows:,} rows, per component (data components: '
    f'{data_seconds:.1f} s, {rows / data_seconds:.0f} rows/s)'
    if data_seconds
    else f'\n{rows:,} rows, per component'
  )
  print(
    f'  {"component":<28} {"s":>7} {"rows/s":>8} {"peak MB":>8} '
    f'{"grew MB":>8}  state'
  )
  for component in _ordered(r['components']):
    c = r['components'][component]
    # Under a second a rate says nothing about the data's size.
    rate = f'{rows / c["seconds"]:.0f}' if c['seconds'] >= 1 else '-'
    print(
      f'  {component:<28} {c["seconds"]:>7.1f} {rate:>8} '
      f'{c["peak_mb"]:>8.0f} {c["grew_mb"]:>8.0f}  {c["state"]}'
    )
  sys.stdout.flush()


def report(results: Dict[int, dict]) -> None:
  sizes = sorted(results)
  print('\nfull pipeline, cold, default flags')
  print(f'{"rows":>10} {"wall s":>8} {"rows/s":>8} {"peak MB":>8} {"exit":>5}')
  for rows in sizes:
    r = results[rows]
    print(
      f'{rows:>10,} {r["seconds"]:>8.1f} {rows / r["seconds"]:>8.0f} '
      f'{r["peak_mb"]:>8.0f} {r["returncode"]:>5}'
    )
  for small, large in zip(sizes, sizes[1:]):
    a, b = results[small], results[large]
    print(
      f'\ngrowth {small:,} -> {large:,} rows ({large / small:.0f}x rows): '
      f'wall {_growth(b["seconds"], a["seconds"])}, '
      f'peak memory {_growth(b["peak_mb"], a["peak_mb"])}'
    )
    print(f'  {"component":<28} {"time":>7} {"peak":>7} {"grew":>7}')
    for component in _ordered(b['components']):
      if component not in a['components']:
        continue
      ca, cb = a['components'][component], b['components'][component]
      print(
        f'  {component:<28} {_growth(cb["seconds"], ca["seconds"]):>7} '
        f'{_growth(cb["peak_mb"], ca["peak_mb"]):>7} '
        f'{_growth(cb["grew_mb"], ca["grew_mb"]):>7}'
      )


def main():
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument(
    '--rows',
    type=int,
    nargs='+',
    default=[100_000, 1_000_000],
    help='data sizes to run (default: 100000 1000000)',
  )
  parser.add_argument(
    '--keep',
    type=pathlib.Path,
    help='write data and work directories under this (new) directory and '
    'keep them (default: a temporary directory, removed at the end)',
  )
  args = parser.parse_args()
  if any(rows < 1000 for rows in args.rows):
    parser.error('--rows: each size needs at least 1000 rows')
  if args.keep and args.keep.exists():
    parser.error(f'--keep {args.keep}: already exists')
  with tempfile.TemporaryDirectory() as tmp:
    root = args.keep or pathlib.Path(tmp)
    results = {}
    for rows in sorted(set(args.rows)):
      results[rows] = run_pipeline(rows, root / f'rows-{rows}')
      print_components(rows, results[rows])
  report(results)


if __name__ == '__main__':
  main()
