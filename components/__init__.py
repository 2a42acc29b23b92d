"""Every custom TFX component of both pipelines, each thin (a spec and an
executor, or an @component function), with its logic in plain, tested
functions beside it:

- training: stratified_example_gen (+ stratified_split, csv_check),
  data_gate, model_analysis, infra_validator (+ infra_validation),
  atomic_pusher;
- monitoring: serving_example_gen (+ serving_rows), serving_schema,
  feature_skew_detector (+ feature_skew), skew_report (+ skew_detection).

Components import the shared core (core/) and nothing above it.
"""
