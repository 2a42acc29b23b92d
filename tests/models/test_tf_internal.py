"""Guards the TensorFlow-internal call in models/tf_internal.py: after the
method names are rewritten, the fingerprint is what TensorFlow itself would
write, and the model still loads and runs."""

import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

from models import signatures


def _method_name(export_dir, signature):
  with open(f'{export_dir}/saved_model.pb', 'rb') as f:
    saved_model = saved_model_pb2.SavedModel.FromString(f.read())
  return saved_model.meta_graphs[0].signature_def[signature].method_name


def test_set_serving_methods_rewrites_method_names_and_fingerprint(tmp_path):
  module = tf.Module()
  module.double = tf.function(
    lambda inputs: {'outputs': inputs * 2.0},
    input_signature=[tf.TensorSpec([None], tf.float32, name='inputs')],
  )
  export_dir = str(tmp_path / 'model')
  tf.saved_model.save(
    module, export_dir, signatures={'regression': module.double}
  )
  before = tf.saved_model.experimental.read_fingerprint(export_dir)

  signatures.set_serving_methods(
    export_dir, {'regression': signatures.REGRESS_METHOD}
  )

  assert _method_name(export_dir, 'regression') == 'tensorflow/serving/regress'
  after = tf.saved_model.experimental.read_fingerprint(export_dir)
  assert after.saved_model_checksum != before.saved_model_checksum
  assert (tmp_path / 'model' / 'fingerprint.pb').read_bytes() == (
    fingerprinting.CreateFingerprintDef(export_dir)
  )
  reloaded = tf.saved_model.load(export_dir).signatures['regression']
  assert reloaded(inputs=tf.constant([1.5]))['outputs'].numpy().tolist() == [
    3.0
  ]
  with pytest.raises(ValueError, match="no signature 'classification'"):
    signatures.set_serving_methods(export_dir, {'classification': 'x'})
