"""The shared core of the training and monitoring pipelines: names defined
once, ML Metadata store URIs and lineage queries, model-version directories,
console progress, the work-directory lock and the runners' common flags.

It imports no other package of this project and defines no TFX component.
"""
