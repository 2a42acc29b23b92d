"""A Python model server that speaks TensorFlow Serving's REST contract.

It serves a SavedModel directory exactly like `tensorflow_model_server` does over REST (status, metadata, predict,
classify, regress, Prometheus metrics, server-side batching, version hot-swap) and adds what open-source TF Serving
lacks: a durable per-instance request log (see `serving.request_log`). See docs/serving.md.
"""
