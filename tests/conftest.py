"""Shared fixtures: the bundled taxi data and small samples of it."""
import csv
import os
import pathlib
import random

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import pytest  # pylint: disable=wrong-import-position

PROJECT_DIR = pathlib.Path(__file__).resolve().parent.parent
TAXI_CSV = PROJECT_DIR / 'data' / 'taxi' / 'data.csv'


def read_rows(path=TAXI_CSV):
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def write_rows(path: pathlib.Path, rows, fieldnames=None):
  path.parent.mkdir(parents=True, exist_ok=True)
  fieldnames = fieldnames or list(rows[0])
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=fieldnames, lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
  return path


def sample_rows(n: int, seed: int = 7):
  return random.Random(seed).sample(read_rows(), n)


@pytest.fixture(scope='session')
def taxi_rows():
  return read_rows()
