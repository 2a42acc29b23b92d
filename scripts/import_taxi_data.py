"""Copies the Chicago taxi sample out of the tfx wheel and adds a stable row id.

The id (`trip_id`) lets a training example be matched with the same trip seen
at serving time, which feature-skew detection needs. Run once; the result is
committed as data/taxi/data.csv.
"""

import argparse
import csv
import pathlib

import tfx

SOURCE = (
  pathlib.Path(tfx.__file__).parent
  / 'examples'
  / 'chicago_taxi_pipeline'
  / 'data'
  / 'simple'
  / 'data.csv'
)


def add_trip_ids(source: pathlib.Path, target: pathlib.Path) -> int:
  """Writes `source` to `target` with a leading `trip_id` column."""
  target.parent.mkdir(parents=True, exist_ok=True)
  with source.open(newline='') as src, target.open('w', newline='') as dst:
    reader = csv.reader(src)
    writer = csv.writer(dst, lineterminator='\n')
    writer.writerow(['trip_id'] + next(reader))
    rows = 0
    for rows, row in enumerate(reader, start=1):
      writer.writerow([f'trip-{rows:06d}'] + row)
  return rows


if __name__ == '__main__':
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument(
    '--output', type=pathlib.Path, default=pathlib.Path('data/taxi/data.csv')
  )
  args = parser.parse_args()
  print(f'wrote {add_trip_ids(SOURCE, args.output)} rows to {args.output}')
