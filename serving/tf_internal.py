"""The one place the server uses TensorFlow-internal API (pinned by requirements.lock; guarded by
tests/serving/test_tf_internal.py, which fails if a TensorFlow upgrade changes what it relies on).

TF Serving runs a signature with the C++ Session::Run: feeds and fetches by tensor name, no check of the fed shapes
against the graph's static shapes. The public Python Session.run and Session.make_callable check them (and refuse
what TF Serving runs, e.g. a [3] tensor for a [?, 1] input); Session._make_callable_from_options is the
callable TensorFlow's own Keras uses, straight over TF_SessionMakeCallable, and checks nothing but dtypes. It is
also ~7x cheaper per call than ConcreteFunction.__call__ (about 40 µs against 300 µs for the toy taxi model).
"""

from typing import Callable

import tensorflow as tf
from tensorflow.core.protobuf import config_pb2


def load_session(path: str, tags) -> tf.compat.v1.Session:
  """A session holding the SavedModel's MetaGraphDef for `tags`, variables restored and init ops run: what TF
  Serving's LoadSessionBundleOrSavedModelBundle does (TF1 and TF2 SavedModels alike)."""
  graph = tf.Graph()
  session = tf.compat.v1.Session(graph=graph)
  try:
    with graph.as_default():
      tf.compat.v1.saved_model.loader.load(session, list(tags), path)
  except BaseException:
    session.close()
    raise
  graph.finalize()  # Nothing may add ops later; concurrent runs need no lock.
  return session


def session_callable(
  session: tf.compat.v1.Session, feeds: list[str], fetches: list[str]
) -> Callable[..., list]:
  """callable(*arrays) -> list of arrays: feeds `feeds` (tensor names) in order, returns `fetches` in order."""
  return session._make_callable_from_options(
    config_pb2.CallableOptions(feed=feeds, fetch=fetches)
  )
