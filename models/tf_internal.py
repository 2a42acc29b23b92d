"""The one TensorFlow-internal call of the user code, quarantined here and
guarded by tests/models/test_tf_internal.py (the lock pins TensorFlow 2.16).

tf.saved_model.save writes a fingerprint of saved_model.pb; after the Trainer
rewrites saved_model.pb (signatures.set_serving_methods) the fingerprint must
be written again, and TensorFlow has no public API for that.
"""

from tensorflow.python.saved_model import fingerprinting_utils


def write_fingerprint(export_dir: str) -> None:
  """Writes fingerprint.pb for the SavedModel in `export_dir`, as
  tf.saved_model.save does."""
  fingerprinting_utils.write_fingerprint(export_dir)
