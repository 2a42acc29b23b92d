"""The local KFP launcher on small hand-written packages whose containers are
one-line Python programs (the taxi package runs in
tests/test_kubeflow_runner.py)."""

import json
import os

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kfp_local import launcher

# Reads the ExecutorInput, writes its output artifacts' metadata: the
# upstream's "rows" plus one, as a count passed down the DAG.
COUNTER = """
import json, os, sys
executor_input = json.loads(sys.argv[1])
inputs = executor_input.get('inputs', {})
upstream = inputs.get('artifacts', {}).get('rows')
rows = upstream['artifacts'][0]['metadata']['rows'] if upstream else 0
out = executor_input['outputs']
os.makedirs(os.path.dirname(out['outputFile']), exist_ok=True)
with open(os.path.join(os.path.dirname(out['outputFile']), 'input.json'),
          'w') as f:
  f.write(sys.argv[1])
with open(out['outputFile'], 'w') as f:
  json.dump({'artifacts': {'rows': {'artifacts': [
      {'metadata': {'rows': rows + 1, 'label':
       inputs.get('parameterValues', {}).get('label', '')}}]}}}, f)
"""
TOUCH_HOOK = 'import sys, pathlib; pathlib.Path(sys.argv[2]).touch()'
ARTIFACT_TYPE = {'schemaTitle': 'system.Artifact'}


def counter_task(upstream=None, label=None):
  task = {'componentRef': {'name': 'counter'}, 'taskInfo': {}}
  if upstream:
    task['inputs'] = {
      'artifacts': {
        'rows': {
          'taskOutputArtifact': {
            'producerTask': upstream,
            'outputArtifactKey': 'rows',
          }
        }
      }
    }
  if label:
    task.setdefault('inputs', {})['parameters'] = {
      'label': {'componentInputParameter': label}
    }
  return task


def write_package(path, tasks, executors=None, parameters=None):
  spec = {
    'pipelineInfo': {'name': 'toy'},
    'schemaVersion': '2.1.0',
    'root': {
      'dag': {'tasks': tasks},
      'inputDefinitions': {'parameters': parameters or {}},
    },
    'components': {
      'counter': {
        'executorLabel': 'counter_executor',
        'inputDefinitions': {
          'artifacts': {'rows': {'artifactType': ARTIFACT_TYPE}}
        },
        'outputDefinitions': {
          'artifacts': {'rows': {'artifactType': ARTIFACT_TYPE}}
        },
      },
    },
    'deploymentSpec': {
      'executors': executors
      or {
        'counter_executor': {
          'container': {
            'image': 'unused',
            'command': ['python', '-c', COUNTER],
            'args': ['{{$}}'],
          }
        }
      }
    },
  }
  with open(path, 'w') as f:
    yaml.safe_dump(spec, f)
  return str(path)


def rows_of(result, task):
  artifact = result.outputs[task]['rows'].artifacts[0]
  return json_format.MessageToDict(artifact.metadata)['rows']


def test_tasks_run_after_their_upstreams_and_receive_their_outputs(tmp_path):
  package = write_package(
    tmp_path / 'p.yaml',
    {'c': counter_task('b'), 'b': counter_task('a'), 'a': counter_task()},
  )
  result = launcher.run_pipeline(package, str(tmp_path / 'root'))
  assert [rows_of(result, task) for task in 'abc'] == [1, 2, 3]
  artifact = result.outputs['c']['rows'].artifacts[0]
  assert artifact.uri == os.path.join(result.run_dir, 'c', 'rows')
  assert artifact.name == ''  # Kubeflow's driver names no output.


def _received(result, task, backend):
  """The ExecutorInput the task's container was given."""
  output_dir = (
    os.path.join(result.run_dir, task, launcher.KUBEFLOW_OUTPUT_DIR)
    if backend == 'kubeflow'
    else os.path.join(result.run_dir, task)
  )
  with open(os.path.join(output_dir, 'input.json')) as f:
    return json.load(f)


def test_kubeflow_hands_over_inputs_as_its_driver_resolves_them(tmp_path):
  package = write_package(
    tmp_path / 'p.yaml', {'b': counter_task('a'), 'a': counter_task()}
  )
  result = launcher.run_pipeline(package, str(tmp_path / 'root'))
  received = _received(result, 'b', 'kubeflow')
  [rows] = received['inputs']['artifacts']['rows']['artifacts']
  assert rows == {
    'name': '1',  # Its ML Metadata id: the run's first artifact.
    'type': {'instanceSchema': ''},
    'uri': os.path.join(result.run_dir, 'a', 'rows'),
    'metadata': {'rows': 1, 'label': '', 'display_name': 'rows'},
  }
  [output] = received['outputs']['artifacts']['rows']['artifacts']
  assert 'name' not in output
  assert output['type'] == ARTIFACT_TYPE
  assert received['outputs']['outputFile'] == os.path.join(
    result.run_dir, 'b', 'kfp_outputs', 'output_metadata.json'
  )


def test_vertex_hands_over_inputs_with_their_types_and_names(tmp_path):
  package = write_package(
    tmp_path / 'p.yaml', {'b': counter_task('a'), 'a': counter_task()}
  )
  result = launcher.run_pipeline(
    package, str(tmp_path / 'root'), backend='vertex'
  )
  [rows] = _received(result, 'b', 'vertex')['inputs']['artifacts']['rows'][
    'artifacts'
  ]
  assert rows['type'] == ARTIFACT_TYPE
  assert rows['name'] == f'{result.run_id}/a/rows'
  assert rows['metadata'] == {'rows': 1, 'label': ''}


def test_run_parameters_take_defaults_and_overrides(tmp_path):
  package = write_package(
    tmp_path / 'p.yaml',
    {'a': counter_task(label='who'), 'b': counter_task('a', label='who')},
    parameters={'who': {'parameterType': 'STRING', 'defaultValue': 'default'}},
  )
  labels = {}
  for run_id, overrides in (('first', {}), ('second', {'who': 'form'})):
    result = launcher.run_pipeline(
      package, str(tmp_path / 'root'), overrides, run_id=run_id
    )
    labels[run_id] = json_format.MessageToDict(
      result.outputs['b']['rows'].artifacts[0].metadata
    )['label']
  assert labels == {'first': 'default', 'second': 'form'}
  with pytest.raises(launcher.UnsupportedSpecError, match='nope'):
    launcher.run_pipeline(package, str(tmp_path / 'root'), {'nope': 1})


def test_typed_values_follow_the_declared_parameter_type():
  kind = pipeline_spec_pb2.ParameterType

  def typed(parameter_type, raw):
    parameter = pipeline_spec_pb2.ComponentInputsSpec.ParameterSpec(
      parameter_type=parameter_type
    )
    return json_format.MessageToDict(launcher._typed_value(parameter, raw))  # pylint: disable=protected-access

  assert typed(kind.STRING, '{"num_steps": 5}') == '{"num_steps": 5}'
  assert typed(kind.NUMBER_INTEGER, '7') == 7
  assert typed(kind.BOOLEAN, 'true') is True


def test_failed_task_stops_the_run_with_its_log(tmp_path):
  package = write_package(
    tmp_path / 'p.yaml',
    {'a': counter_task(), 'b': counter_task('a')},
    executors={
      'counter_executor': {
        'container': {
          'image': 'unused',
          'command': [
            'python',
            '-c',
            'import sys; print("no rows today"); sys.exit(3)',
          ],
          'args': [],
        }
      }
    },
  )
  with pytest.raises(launcher.TaskFailedError) as failure:
    launcher.run_pipeline(package, str(tmp_path / 'root'))
  assert failure.value.task == 'a'
  assert 'no rows today' in failure.value.log_tail


def test_pre_cache_check_hook_runs_on_vertex_only(tmp_path):
  marker = tmp_path / 'hook-ran'
  executors = {
    'counter_executor': {
      'container': {
        'image': 'unused',
        'command': ['python', '-c', COUNTER],
        'args': ['{{$}}'],
        'lifecycle': {
          'preCacheCheck': {
            'command': ['python', '-c', TOUCH_HOOK],
            'args': ['{{$}}', str(marker)],
          }
        },
      }
    }
  }
  package = write_package(
    tmp_path / 'p.yaml', {'a': counter_task()}, executors=executors
  )
  launcher.run_pipeline(
    package, str(tmp_path / 'root'), backend='kubeflow', run_id='kfp'
  )
  assert not marker.exists()
  launcher.run_pipeline(
    package, str(tmp_path / 'root'), backend='vertex', run_id='vertex'
  )
  assert marker.exists()


def test_unsubstituted_placeholders_are_refused(tmp_path):
  package = write_package(
    tmp_path / 'p.yaml',
    {'a': counter_task()},
    executors={
      'counter_executor': {
        'container': {
          'image': 'unused',
          'command': ['python', '-c', COUNTER],
          'args': ["{{$.inputs.parameters['x']}}"],
        }
      }
    },
  )
  with pytest.raises(launcher.UnsupportedSpecError, match='Placeholders'):
    launcher.run_pipeline(package, str(tmp_path / 'root'))


def artifact(name, title, **metadata):
  result = pipeline_spec_pb2.RuntimeArtifact(name=name)
  result.type.schema_title = title
  result.metadata.update(metadata)
  return result


def test_resolver_queries_pick_the_latest_match():
  blessing_query = {
    'outputArtifactQueries': {
      'model_blessing': {
        'filter': 'schema_title="tfx.ModelBlessing" AND state=LIVE AND '
        'metadata.blessed.number_value=1'
      }
    }
  }
  model_query = {
    'outputArtifactQueries': {
      'model': {
        'filter': 'schema_title="tfx.Model" AND state=LIVE AND name="{{$.inputs.'
        "artifacts['input'].metadata['current_model_id']}}\""
      }
    }
  }
  known = [
    artifact('m1', 'tfx.Model'),
    artifact('m2', 'tfx.Model'),
    artifact('b1', 'tfx.ModelBlessing', blessed=1, current_model_id='m1'),
    artifact('b2', 'tfx.ModelBlessing', blessed=0, current_model_id='m2'),
  ]
  blessing = launcher.resolve(blessing_query, {}, known)
  assert [a.name for a in blessing['model_blessing'].artifacts] == ['b1']
  model = launcher.resolve(
    model_query, {'input': blessing['model_blessing']}, known
  )
  assert [a.name for a in model['model'].artifacts] == ['m1']
  # Nothing blessed yet: both come back empty, as on a first run.
  nothing = launcher.resolve(blessing_query, {}, known[:2])
  assert not nothing['model_blessing'].artifacts
  assert not launcher.resolve(model_query, {}, known)['model'].artifacts


def test_cli_runs_a_package(tmp_path, capsys):
  package = write_package(tmp_path / 'p.yaml', {'a': counter_task()})
  assert launcher.main([package, '--root', str(tmp_path / 'root')]) == 0
  assert 'finished' in capsys.readouterr().out
  with open(tmp_path / 'root' / launcher.ARTIFACT_LOG) as f:
    assert [json.loads(line)['task'] for line in f] == ['a']
