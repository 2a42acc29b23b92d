"""The monitoring pipeline: `create_monitoring_pipeline(config)`, its frozen
config, and where a run's serving data is (spans)."""
