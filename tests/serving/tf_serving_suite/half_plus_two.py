"""TF Serving's test model generator, ported: tensorflow/serving 2.16.1
tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two.py, CPU variants only.

  TF1 (SavedModelBuilder, session graph): y = a*x + b, y2 = a*x + c, y3 = a2*x2 + c2, a=0.5, b=2, c=3, where x and
  x2 are parsed from serialized tf.Examples; the predict signature feeds the intermediate tensor x:0 [?, 1].
  Signatures: serving_default (predict x -> y), regress_x_to_y, regress_x_to_y2, regress_x2_to_y3,
  classify_x_to_y. This is saved_model_half_plus_two_cpu and each version of saved_model_half_plus_two_2_versions.
  TF2 (tf.saved_model.save): saved_model_half_plus_two_tf2_cpu, predict input x of shape [1].
The TFLite, MKL, GPU and ML Metadata variants are left out (not served here).
"""

import os

import tensorflow as tf

v1 = tf.compat.v1


def _feature_spec():
  return {
    'x': v1.FixedLenFeature([1], dtype=tf.float32),
    'x2': v1.FixedLenFeature([1], dtype=tf.float32, default_value=[0.0]),
  }


def _signature(inputs: dict, outputs: dict, method_name: str):
  return v1.saved_model.signature_def_utils.build_signature_def(
    {k: v1.saved_model.utils.build_tensor_info(t) for k, t in inputs.items()},
    {k: v1.saved_model.utils.build_tensor_info(t) for k, t in outputs.items()},
    method_name,
  )


def write_tf1(
  export_dir: str, assets_dir: str, classify_x2_to_y3: bool = False
) -> str:
  """The TF1 model into export_dir (which must not exist); returns export_dir. classify_x2_to_y3 adds that
  signature, which upstream's committed saved_model_half_plus_two_2_versions has (an earlier script wrote it)."""
  constants = v1.saved_model.signature_constants
  builder = v1.saved_model.builder.SavedModelBuilder(export_dir)
  graph = tf.Graph()
  with graph.as_default(), v1.Session(graph=graph) as sess:
    a = v1.Variable(0.5, name='a')
    b = v1.Variable(2.0, name='b')
    c = v1.Variable(3.0, name='c')
    serialized_tf_example = v1.placeholder(
      tf.string, name='tf_example', shape=[None]
    )
    tf_example = v1.parse_example(serialized_tf_example, _feature_spec())
    x = tf.identity(tf_example['x'], name='x')
    y = tf.identity(tf.add(tf.multiply(a, x), b), name='y')
    y2 = tf.identity(tf.add(tf.multiply(a, x), c), name='y2')
    x2 = tf.identity(tf_example['x2'], name='x2')
    a2 = v1.Variable(0.5, name='a2')
    c2 = v1.Variable(3.0, name='c2')
    y3 = tf.identity(tf.add(tf.multiply(a2, x2), c2), name='y3')

    # The asset file and the op that assigns its name, as _create_asset_file(tf2=False).
    os.makedirs(assets_dir, exist_ok=True)
    asset_path = os.path.join(assets_dir, 'foo.txt')
    with open(asset_path, 'w', encoding='utf-8') as f:
      f.write('asset-file-contents')
    v1.add_to_collection(v1.GraphKeys.ASSET_FILEPATHS, tf.constant(asset_path))
    filename_tensor = v1.Variable(
      'foo.txt', name='filename_tensor', trainable=False, collections=[]
    )
    assign_filename_op = filename_tensor.assign('foo.txt')

    def regression(inputs, outputs):
      return _signature(
        {constants.REGRESS_INPUTS: inputs},
        {constants.REGRESS_OUTPUTS: outputs},
        constants.REGRESS_METHOD_NAME,
      )

    signature_def_map = {
      'regress_x_to_y': regression(serialized_tf_example, y),
      'regress_x_to_y2': regression(serialized_tf_example, y2),
      'regress_x2_to_y3': regression(x2, y3),
      'classify_x_to_y': _signature(
        {constants.CLASSIFY_INPUTS: serialized_tf_example},
        {constants.CLASSIFY_OUTPUT_SCORES: y},
        constants.CLASSIFY_METHOD_NAME,
      ),
      constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY: _signature(
        {'x': x}, {'y': y}, constants.PREDICT_METHOD_NAME
      ),
    }
    if classify_x2_to_y3:
      signature_def_map['classify_x2_to_y3'] = _signature(
        {constants.CLASSIFY_INPUTS: x2},
        {constants.CLASSIFY_OUTPUT_SCORES: y3},
        constants.CLASSIFY_METHOD_NAME,
      )
    sess.run(v1.global_variables_initializer())
    builder.add_meta_graph_and_variables(
      sess,
      [v1.saved_model.tag_constants.SERVING],
      signature_def_map=signature_def_map,
      assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
      main_op=tf.group(assign_filename_op),
    )
  builder.save()
  return export_dir


class HalfPlusTwoModel(tf.Module):
  """Native TF2 half-plus-two model (the script's HalfPlusTwoModel, without its asset)."""

  def __init__(self):
    self.a = tf.Variable(0.5, name='a')
    self.b = tf.Variable(2.0, name='b')
    self.c = tf.Variable(3.0, name='c')

  def compute(self, x, inc):
    return tf.add(tf.multiply(self.a, x), inc)

  def serving_signatures(self):
    return {
      'regress_x_to_y': self.regress_xy,
      'regress_x_to_y2': self.regress_xy2,
      'regress_x2_to_y3': self.regress_x2y3,
      'classify_x_to_y': self.classify_xy,
      'classify_x2_to_y3': self.classify_x2y3,
      'serving_default': self.predict,
    }

  @tf.function(input_signature=[tf.TensorSpec(shape=[1], dtype=tf.float32)])
  def predict(self, x):
    return {'y': self.compute(x, self.b)}

  @tf.function(
    input_signature=[tf.TensorSpec([None], dtype=tf.string, name='inputs')]
  )
  def regress_xy(self, serialized_proto):
    x = v1.parse_example(serialized_proto, _feature_spec())['x']
    return {'outputs': self.compute(x, self.b)}

  @tf.function(
    input_signature=[tf.TensorSpec([None], dtype=tf.string, name='inputs')]
  )
  def regress_xy2(self, serialized_proto):
    x = v1.parse_example(serialized_proto, _feature_spec())['x']
    return {'outputs': self.compute(x, self.c)}

  @tf.function(
    input_signature=[tf.TensorSpec(shape=[1], dtype=tf.float32, name='inputs')]
  )
  def regress_x2y3(self, x2):
    return {'outputs': self.compute(x2, self.c)}

  @tf.function(
    input_signature=[tf.TensorSpec([None], dtype=tf.string, name='inputs')]
  )
  def classify_xy(self, serialized_proto):
    x = v1.parse_example(serialized_proto, _feature_spec())['x']
    return {'scores': self.compute(x, self.b)}

  @tf.function(
    input_signature=[tf.TensorSpec(shape=[1], dtype=tf.float32, name='inputs')]
  )
  def classify_x2y3(self, x2):
    return {'scores': self.compute(x2, self.c)}


def write_tf2(export_dir: str) -> str:
  model = HalfPlusTwoModel()
  tf.saved_model.save(model, export_dir, signatures=model.serving_signatures())
  return export_dir
