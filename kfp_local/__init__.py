"""Runs a compiled Kubeflow Pipelines package on this machine, task by task,
the way KFP's driver and launcher do (tests and local checks of
kubeflow_runner.py's output). It imports no other package of this project.
"""
