"""The pipeline image's entry point for every task on Kubeflow Pipelines and
Vertex AI: TFX's own KFP v2 executor entry point, after the input artifacts'
types are mapped back to TFX's (open-source KFP's driver hands them over
with an empty schema); afterwards it removes the directory markers GCS
leaves in the outputs, which KFP's launcher would download as files.
Stands alone: it imports no other package of this project."""
