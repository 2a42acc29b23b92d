"""Continuous training: one cycle of monitor, decide, retrain, gated push
(continuous_runner.py), as plain functions."""
