"""The taxi TFX pipeline as an installable project (`pip install -e .`).

Exact versions live in requirements.lock; these are the ranges the code
supports.
"""

import setuptools

setuptools.setup(
  name='taxi-tfx-pipeline',
  version='0.1.0',
  description='Production-grade TFX pipeline for Chicago taxi tip prediction',
  python_requires='>=3.10,<3.11',
  packages=setuptools.find_packages(
    include=[
      'components',
      'continuous',
      'core',
      'kfp_entrypoint',
      'kfp_local',
      'lineage',
      'models',
      'monitoring',
      'pipeline',
      'reports',
      'schema',
      'serving',
      'serving.*',
    ]
  ),
  # The curated schema travels with the code (schema.SCHEMA_DIR).
  package_data={'schema': ['*.pbtxt']},
  py_modules=[
    'local_runner',
    'kubeflow_runner',
    'monitoring_runner',
    'continuous_runner',
  ],
  install_requires=[
    'tfx[kfp]>=1.16.0,<1.17',
    'apache-beam[gcp]>=2.59.0,<2.60',
    'tf-keras>=2.16,<2.17',
    'httptools>=0.6',
    'plotly>=5.24',
    'scikit-learn>=1.5,<1.6',
  ],
  extras_require={'test': ['pytest>=8', 'websocket-client>=1.6']},
)
