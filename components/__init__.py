"""Custom TFX components of the pipeline; their logic lives in plain functions."""
