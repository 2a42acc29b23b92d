# The taxi pipeline's image for Kubeflow Pipelines and Vertex AI Pipelines.
# Every task runs `python -m kfp_entrypoint` in it (the compiled package sets
# the command): TFX's KFP v2 entry point once the input artifacts' types are
# mapped back, importing this project's components/, models/ and pipeline/
# packages and reading schema/ from /pipeline.
#
#   docker build -t REGISTRY/taxi-tfx-pipeline:TAG .
#   python kubeflow_runner.py --image REGISTRY/taxi-tfx-pipeline:TAG ...
FROM gcr.io/tfx-oss-public/tfx:1.16.0

# TF 2.16 defaults to Keras 3; TFX 1.16, TFMA and models/ need Keras 2.
ENV TF_USE_LEGACY_KERAS=1

# Keep in step with kubeflow_runner.IMAGE_PROJECT_DIR.
WORKDIR /pipeline

# Pinned extras the base image lacks: tf-keras as in requirements.lock;
# s3:// for TensorFlow (tensorflow-io, built for TF 2.16) and for Beam (aws).
RUN pip install --no-cache-dir \
      tf-keras==2.16.0 \
      tensorflow-io==0.37.1 \
      'apache-beam[aws]==2.59.0'

# The project itself, without touching the base image's TFX stack.
COPY setup.py ./
COPY components ./components
COPY core ./core
COPY kfp_entrypoint ./kfp_entrypoint
COPY models ./models
COPY pipeline ./pipeline
COPY serving ./serving
COPY schema ./schema
COPY local_runner.py kubeflow_runner.py ./
RUN pip install --no-cache-dir --no-deps -e .
