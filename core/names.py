"""Names defined once: pipelines, component ids, output keys, artifact file
names and splits. The pipelines, summaries, lineage queries, monitoring and
tests all import them from here."""

# Pipeline names (ML Metadata pipeline contexts).
TRAINING_PIPELINE = 'taxi'
MONITORING_PIPELINE = 'taxi_monitoring'

# Component ids of the training pipeline (the .with_id() names; TFX records
# each node's executions under the context "<pipeline name>.<id>").
EXAMPLE_GEN = 'example_gen'
STATISTICS_GEN = 'statistics_gen'
SCHEMA_GEN = 'schema_gen'
SCHEMA_IMPORTER = 'schema_importer'
EXAMPLE_VALIDATOR = 'example_validator'
DATA_GATE = 'data_gate'
TRANSFORM = 'transform'
TRAINER = 'trainer'
PRODUCTION_BASELINE = 'production_baseline'
EVALUATOR = 'evaluator'
# Serves the candidate and asks it real requests before the Pusher
# (components/infra_validator.py).
INFRA_VALIDATOR = 'infra_validator'
PUSHER = 'pusher'

# Component ids of the monitoring pipeline (it also has a schema importer,
# a StatisticsGen and an ExampleValidator under the ids above).
PUSHED_MODEL_IMPORTER = 'pushed_model_importer'
BASELINE_EXAMPLES_IMPORTER = 'baseline_examples_importer'
BASELINE_STATISTICS_IMPORTER = 'baseline_statistics_importer'
SERVING_EXAMPLE_GEN = 'serving_example_gen'
SERVING_SCHEMA = 'serving_schema'
FEATURE_SKEW_DETECTOR = 'feature_skew_detector'
SKEW_REPORT = 'skew_report'
# With feedback labels: the served version's quality on the labelled rows.
LIVE_MODEL_QUALITY = 'live_model_quality'

# Input and output keys of components (TFX's standard ones and ours).
EXAMPLES = 'examples'
STATISTICS = 'statistics'
SCHEMA = 'schema'
ANOMALIES = 'anomalies'
TRANSFORM_GRAPH = 'transform_graph'
TRANSFORMED_EXAMPLES = 'transformed_examples'
MODEL = 'model'
MODEL_BLESSING = 'model_blessing'
EVALUATION = 'evaluation'
BLESSING = 'blessing'
PUSHED_MODEL = 'pushed_model'
# The Pusher's input of an InfraBlessing (TFX's key).
INFRA_BLESSING = 'infra_blessing'
IMPORTER_RESULT = 'result'  # An Importer's output.
FEATURE_SKEW = 'feature_skew'
REPORT = 'report'
LIVE_QUALITY = 'quality'

# Custom properties TFX's Pusher and Evaluator set on their artifacts.
PUSHED = 'pushed'
PUSHED_VERSION = 'pushed_version'
PUSHED_DESTINATION = 'pushed_destination'
BLESSED = 'blessed'
# Ours on ExampleGen's Examples: JSON list of {path, bytes, sha256} of the
# input files.
INPUT_FILES = 'input_files'

# File names inside artifacts.
SCHEMA_FILE = 'schema.pbtxt'
STATISTICS_FILE = 'FeatureStats.pb'
ANOMALIES_FILE = 'SchemaDiff.pb'
SKEW_RESULTS_FILE = 'feature_skew_results.tfrecord'
SKEW_PAIRS_FILE = 'feature_skew_pairs.tfrecord'
REPORT_FILE = 'report.json'
# The SavedModel inside a Model artifact (TFX's path_utils) and the
# metadata the trainer exports beside it (models/trainer.py).
SERVING_MODEL_DIR = 'Format-Serving'
MODEL_METADATA_FILE = 'assets.extra/model_metadata.json'
LIVE_QUALITY_FILE = 'live_quality.json'

# Splits.
TRAIN_SPLIT = 'train'
EVAL_SPLIT = 'eval'
TEST_SPLIT = 'test'
SERVING_SPLIT = 'serving'  # The monitored serving data.
PREVIOUS_SPLIT = 'previous'  # The span before it (drift).

# Model quality (baselines, error analysis, feature report): the component
# ids and the one JSON file the run summary and the HTML report read; its
# layout is documented in docs/model_quality.md.
BASELINE_TRAINER = 'baseline_trainer'
MODEL_ANALYSIS = 'model_analysis'
MODEL_ANALYSIS_FILE = 'model_analysis.json'
# Their inputs and outputs (besides EXAMPLES, MODEL and BLESSING above).
BASELINE_MODEL = 'baseline_model'
PRODUCTION_MODEL = 'production_model'
# production_baseline's output, and its custom property saying whether
# anything was pushed yet (0: no baseline, an empty artifact).
BASELINE = 'baseline'
BASELINE_FOUND = 'found'
EVALUATOR_BLESSING = 'evaluator_blessing'
ANALYSIS = 'analysis'
# Files of the simple baseline's Model artifact: the fitted scikit-learn
# model and what it needs at prediction time (features, threshold).
BASELINE_MODEL_FILE = 'baseline_model.joblib'
BASELINE_METADATA_FILE = 'baseline_model.json'
# Baseline names in model_analysis.json.
CANDIDATE = 'candidate'
PRODUCTION = 'production'
SIMPLE_BASELINE = 'simple'
RULE_BASELINE = 'rule'
ALWAYS_NO = 'always_no'

# The custom_config key of Transform and the Trainer that holds the user
# code's fingerprint when they import it by module path (pipeline/config.py).
USER_CODE_FINGERPRINT = 'user_code_fingerprint'
