"""The training pipeline: `create_pipeline(config)`, its frozen config, the
Evaluator's config, and the run summary read back from ML Metadata."""
