"""The answers of the lineage queries as indented trees a person can read."""

import json
from typing import Dict, List, Sequence, Tuple, Union

# A node is its label, or (label, children).
Node = Union[str, Tuple[str, Sequence['Node']]]


def render(root: Node) -> str:
  lines: List[str] = []

  def walk(node: Node, prefix: str, last: bool, top: bool) -> None:
    label, children = (node, ()) if isinstance(node, str) else node
    if top:
      lines.append(label)
      child_prefix = ''
    else:
      lines.append(f'{prefix}{"└─ " if last else "├─ "}{label}')
      child_prefix = prefix + ('   ' if last else '│  ')
    for i, child in enumerate(children):
      walk(child, child_prefix, i == len(children) - 1, False)

  walk(root, '', True, True)
  return '\n'.join(lines)


def _execution(execution: Dict) -> str:
  return (
    f'execution {execution["id"]} ({execution["type"]}, '
    f'{execution["state"]}, {execution["finished"]})'
  )


def _properties(properties: Dict, keys: Sequence[str]) -> List[Node]:
  """Proto-valued properties as the JSON TFX stored them."""
  return [
    f'{key}: {json.dumps(properties[key])}'
    if isinstance(properties[key], (dict, list))
    else f'{key}: {properties[key]}'
    for key in keys
    if key in properties
  ]


SHOWN_METRICS = ('auc', 'f1_score', 'precision', 'recall', 'binary_accuracy')


def _metrics(metrics: Dict[str, float]) -> str:
  shown = [
    f'{name} {metrics[name]:.4f}' for name in SHOWN_METRICS if name in metrics
  ]
  if 'example_count' in metrics:
    shown.append(f'{int(metrics["example_count"])} rows')
  return ', '.join(shown)


def model_tree(chain: Dict) -> Node:
  push, evaluation = chain['push'], chain['evaluation']
  trainer, transform = chain['trainer'], chain['transform']
  schema, anomalies = chain['schema'], chain['anomalies']
  data = chain['examples']
  blessed = {True: 'BLESSED', False: 'NOT blessed', None: 'unknown'}
  findings = [
    f'{split}: {a["feature"]} {a["kind"]}: {a["description"]}'
    for split, found in anomalies['by_split'].items()
    for a in found
  ]
  files = [
    f'{f["path"]} ({f["bytes"]:,} bytes, sha256 {f["sha256"]})'
    for f in data['files']
  ] or ['(no content fingerprints recorded by this run)']
  return (
    f'model {chain["pipeline"]} version {chain["model_version"]}',
    [
      f'pushed {push["time"]} to {push["destination"]}',
      (
        f'evaluator: {blessed[evaluation["blessed"]]}, '
        + _execution(evaluation['execution']),
        [
          'metrics (test split): ' + _metrics(evaluation['metrics']),
          'baseline: '
          + (evaluation['baseline_model'] or 'none (nothing pushed before)'),
          f'output {evaluation["uri"]}',
        ],
      ),
      (
        f'trainer: model {trainer["model"]}',
        [
          _execution(trainer['execution']),
          f'decision threshold {trainer["decision_threshold"]}',
          *_properties(
            trainer['execution']['properties'],
            ('train_args', 'eval_args', 'run_fn', 'custom_config'),
          ),
        ],
      ),
      (
        f'transform graph {transform["graph"]}',
        [
          _execution(transform['execution']),
          *_properties(
            transform['execution']['properties'],
            ('preprocessing_fn', 'custom_config', 'splits_config'),
          ),
        ],
      ),
      (
        f'schema ({schema["kind"]}) {schema["uri"]}',
        ([f'from {schema["file"]}'] if schema['file'] else [])
        + (
          [f'inferred schema for review: {chain["inferred_schema"]}']
          if chain['inferred_schema']
          else []
        ),
      ),
      (
        f'anomalies: {len(findings) or "none"}'
        + (f' ({anomalies["uri"]})' if anomalies['uri'] else ''),
        findings,
      ),
      f'statistics {chain["statistics"]["uri"]}',
      'splits: '
      + ', '.join(
        f'{split} {rows} rows' for split, rows in chain['splits'].items()
      ),
      (
        f'examples {data["uri"]}',
        [
          f'input base {data["input_base"]}',
          *files,
          f'TFX input fingerprint: {data["input_fingerprint"]}',
        ],
      ),
    ],
  )


def data_tree(path: str, models: List[Dict]) -> Node:
  return (
    f'models trained on data under {path}: {len(models) or "none"}',
    [
      (
        f'version {m["model_version"]}, pushed {m["pushed_at"]} to '
        f'{m["pushed_to"]}',
        [f'input base {m["input_base"]}', *m['files']],
      )
      for m in models
    ],
  )


def request_tree(answer: Dict) -> Node:
  runs = answer['monitoring_runs']
  return (
    f'request {answer["request_id"]}',
    [
      f'served {answer["timestamp"]} by model {answer["model_name"]} '
      f'version {answer["model_version"]} ({answer["pushed_to"]})',
      f'{answer["method"]} on {answer["signature_name"]}: '
      f'{answer["instances"]} instance(s), {answer["latency_us"]} µs',
      (
        f'monitoring runs that checked data served by version '
        f'{answer["model_version"]}: {len(runs) or "none"}',
        [
          f'{run["time"]} execution {run["execution"]} ({run["state"]}): '
          + (
            ', '.join(f'{k} {v}' for k, v in run['findings'].items())
            or 'no counts'
          )
          + (f'; report {run["report"]}' if run['report'] else '')
          for run in runs
        ],
      ),
    ],
  )
