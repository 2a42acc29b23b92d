"""Time and peak memory of a skew check over synthesised serving data.

    python benchmarks/skew_benchmark.py [--rows 100000 1000000] [--id-share 0.1]

Serving data: request-log files (JSON lines, as the server writes them) of
rows drawn with replacement from data/taxi/data.csv; `--id-share` of them
carry the trip id (joined to the training examples for feature skew). The
check runs the monitoring pipeline's data steps with Beam's in-process
runner, one size per fresh process (so peak RSS is that size's): rows ->
tf.Examples (components/serving_rows.py), statistics (as StatisticsGen),
ExampleValidator's validation against the serving schema, distribution skew
against the training statistics, and DetectFeatureSkew against the training
examples (all 15k taxi rows). TFX orchestration and ML Metadata bookkeeping
(about 20 s per run, independent of size) are not included.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAXI_CSV = os.path.join(PROJECT_DIR, 'data', 'taxi', 'data.csv')
FILE_ROWS = 250_000  # Rows per request-log file (the server rotates too).


def synthesise(
  directory: str,
  rows: int,
  id_share: float,
  file_rows: int = FILE_ROWS,
  seed: int = 0,
):
  """Request-log files of `rows` records; returns their paths."""
  import csv

  from models import features

  with open(TAXI_CSV, newline='') as f:
    taxi = list(csv.DictReader(f))
  rng = random.Random(seed)
  paths, out = [], None
  for i in range(rows):
    if i % file_rows == 0:
      if out:
        out.close()
      paths.append(
        os.path.join(directory, f'requests-{i // file_rows:04d}.jsonl')
      )
      out = open(paths[-1], 'w')
    row = taxi[rng.randrange(len(taxi))]
    logged = {
      name: (
        row[name]
        if name in features.STRING_FEATURES
        else float(row[name])
        if row[name]
        else None
      )
      for name in features.SERVING_FEATURES
    }
    if rng.random() < id_share:
      logged[features.TRIP_ID] = row[features.TRIP_ID]
    out.write(
      json.dumps(
        {
          'model_version': 1,
          'request_id': str(i),
          'instance_index': 0,
          'features': logged,
        }
      )
      + '\n'
    )
  out.close()
  return paths


class PhaseMemory:
  """Peak resident memory per phase, sampled from /proc every 0.1 s."""

  def __init__(self):
    import threading  # pylint: disable=import-outside-toplevel

    self.phase, self.peaks = None, {}
    threading.Thread(target=self._sample, daemon=True).start()

  @staticmethod
  def rss_mib() -> float:
    with open('/proc/self/statm') as f:
      return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20

  def _sample(self):
    while True:
      if self.phase:
        self.peaks[self.phase] = max(
          self.peaks.get(self.phase, 0), self.rss_mib()
        )
      time.sleep(0.1)


MEMORY = PhaseMemory()


def check(paths, work_dir):
  """The skew check; returns {phase: seconds}."""
  import apache_beam as beam
  import tensorflow as tf
  import tensorflow_data_validation as tfdv
  from tensorflow_data_validation.skew.protos import feature_skew_results_pb2

  from components import feature_skew, serving_rows, skew_detection
  from components.serving_example_gen import ReadServingExamples
  from core import artifacts
  from models import features
  from tests.monitoring import statistics

  schema = artifacts.read_schema(os.path.join(PROJECT_DIR, 'schema'))
  serving_schema = skew_detection.serving_schema(
    schema, features.TRIP_ID, features.SERVING_FEATURES
  )
  kinds = serving_rows.feature_kinds(schema)
  timings = {}

  def to_examples(label, sources, parse, output):
    MEMORY.phase = label
    started = time.perf_counter()
    with beam.Pipeline(
      argv=['--direct_running_mode=in_memory', '--direct_num_workers=1']
    ) as pipeline:
      read = [
        pipeline
        | f'Read{i}' >> beam.io.ReadFromText(path, skip_header_lines=skip)
        for i, (path, skip) in enumerate(sources)
      ]
      _ = (
        read
        | 'Flatten' >> beam.Flatten()
        | 'Parse' >> beam.FlatMap(parse)
        | 'ToExample'
        >> beam.Map(
          lambda r: serving_rows.to_example(
            r, kinds, from_text=isinstance(r.get('fare', ''), str)
          )
        )
        | 'Write'
        >> beam.io.WriteToTFRecord(
          output, coder=beam.coders.ProtoCoder(tf.train.Example)
        )
      )
    timings[label] = time.perf_counter() - started

  # The baseline: statistics and examples of the training data.
  header = serving_rows.csv_header(TAXI_CSV)
  to_examples(
    'training examples (not timed below)',
    [(TAXI_CSV, 1)],
    lambda line: [serving_rows.parse_csv_line(line, header)],
    os.path.join(work_dir, 'training'),
  )
  training_stats = statistics.generate(
    os.path.join(work_dir, 'training*'), schema
  )

  total = time.perf_counter()
  MEMORY.phase = 'read + convert'
  started = time.perf_counter()
  with beam.Pipeline(
    argv=['--direct_running_mode=in_memory', '--direct_num_workers=1']
  ) as pipeline:
    _ = (
      pipeline
      | 'Rows' >> ReadServingExamples(paths, kinds, 1)
      | 'Write'
      >> beam.io.WriteToTFRecord(
        os.path.join(work_dir, 'serving'),
        coder=beam.coders.ProtoCoder(tf.train.Example),
      )
    )
  timings['read + convert'] = time.perf_counter() - started
  MEMORY.phase = 'statistics'
  started = time.perf_counter()
  serving_stats = statistics.generate(
    os.path.join(work_dir, 'serving*'), schema
  )
  timings['statistics'] = time.perf_counter() - started
  started = time.perf_counter()
  findings = skew_detection.schema_skew_findings(
    tfdv.validate_statistics(serving_stats, serving_schema)
  )
  findings += skew_detection.distribution_skew_findings(
    training_stats, serving_stats, serving_schema
  )
  timings['schema + distribution skew'] = time.perf_counter() - started

  MEMORY.phase = 'feature skew'
  started = time.perf_counter()
  skew_path = os.path.join(work_dir, 'skew')
  with beam.Pipeline(
    argv=['--direct_running_mode=in_memory', '--direct_num_workers=1']
  ) as pipeline:

    def read(label, pattern):
      return pipeline | label >> beam.io.ReadFromTFRecord(
        pattern, coder=beam.coders.ProtoCoder(tf.train.Example)
      )

    results, _ = (
      read('Training', os.path.join(work_dir, 'training*')),
      read('Serving', os.path.join(work_dir, 'serving*')),
    ) | feature_skew.DetectSkew(
      features.TRIP_ID,
      feature_skew.features_to_ignore(
        schema, features.SERVING_FEATURES, features.TRIP_ID
      ),
      4,
    )
    _ = (
      results
      | beam.Map(lambda r: r.SerializeToString())
      | beam.io.WriteToTFRecord(skew_path)
    )
  skew = [
    feature_skew_results_pb2.FeatureSkew.FromString(r)
    for r in tf.compat.v1.io.tf_record_iterator(
      tf.io.gfile.glob(skew_path + '*')[0]
    )
  ]
  findings += skew_detection.feature_skew_findings(skew, 0.01)
  timings['feature skew'] = time.perf_counter() - started
  timings['total'] = time.perf_counter() - total
  return (
    timings,
    [f'{f.kind}:{f.feature}' for f in findings],
    int(serving_stats.datasets[0].num_examples),
  )


def child(rows_count: int, id_share: float, file_rows: int):
  import tensorflow_data_validation  # noqa: F401  (loaded before the RSS baseline)

  import components.feature_skew  # noqa: F401

  with tempfile.TemporaryDirectory() as tmp:
    data_dir = os.path.join(tmp, 'logs')
    os.makedirs(data_dir)
    paths = synthesise(data_dir, rows_count, id_share, file_rows)
    size = sum(os.path.getsize(p) for p in paths)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    timings, findings, examples = check(paths, tmp)
    print(
      json.dumps(
        {
          'rows': rows_count,
          'examples': examples,
          'findings': findings,
          'phase_peak_rss_mib': MEMORY.peaks,
          'input_mib': size / 2**20,
          'timings': timings,
          'rss_after_imports_mib': rss_before / 1024,
          'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
          / 1024,
        }
      )
    )


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument(
    '--rows', type=int, nargs='+', default=[100_000, 1_000_000]
  )
  parser.add_argument('--id-share', type=float, default=0.1)
  parser.add_argument(
    '--file-rows',
    type=int,
    default=FILE_ROWS,
    help='records per request-log file (default: %(default)s)',
  )
  parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    child(args.rows[0], args.id_share, args.file_rows)
    return
  env = dict(
    os.environ,
    TF_CPP_MIN_LOG_LEVEL='3',
    PYTHONPATH=PROJECT_DIR + os.pathsep + os.environ.get('PYTHONPATH', ''),
  )
  results = []
  for count in args.rows:
    out = subprocess.run(
      [
        sys.executable,
        __file__,
        '--child',
        '--rows',
        str(count),
        '--id-share',
        str(args.id_share),
        '--file-rows',
        str(args.file_rows),
      ],
      capture_output=True,
      text=True,
      env=env,
      cwd=PROJECT_DIR,
      check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith('{')]
    if out.returncode or not lines:
      sys.exit(f'{count} rows failed:\n{out.stderr[-3000:]}')
    result = json.loads(lines[-1])
    results.append(result)
    phases = ', '.join(
      f'{k} {v:.1f} s'
      for k, v in result['timings'].items()
      if k != 'total' and 'not timed' not in k
    )
    print(
      f'{count:>9,} rows ({result["input_mib"]:.0f} MiB of logs): '
      f'{result["timings"]["total"]:.1f} s '
      f'({count / result["timings"]["total"]:,.0f} rows/s; {phases}); '
      f'peak RSS {result["peak_rss_mib"]:.0f} MiB '
      f'(after imports {result["rss_after_imports_mib"]:.0f} MiB); '
      f'findings: {", ".join(result["findings"]) or "none"}',
      flush=True,
    )
    print(
      '    peak RSS by phase: '
      + ', '.join(
        f'{k} {v:.0f} MiB'
        for k, v in result['phase_peak_rss_mib'].items()
        if 'not timed' not in k
      ),
      flush=True,
    )
  for small, large in zip(results, results[1:]):
    print(
      f'{small["rows"]:,} -> {large["rows"]:,} rows '
      f'(x{large["rows"] / small["rows"]:.0f}): time '
      f'x{large["timings"]["total"] / small["timings"]["total"]:.2f}, '
      f'peak RSS x{large["peak_rss_mib"] / small["peak_rss_mib"]:.2f}'
    )


if __name__ == '__main__':
  main()
