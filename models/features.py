"""The taxi features: every feature name the project uses is defined here."""

# Identifies a trip across training and serving data (for feature-skew joins);
# never a model input.
TRIP_ID = 'trip_id'

# What a serving client sends (the serving contract; monitoring compares
# these), in a stable order.
HOUR_FEATURE = 'trip_start_hour'
COORDINATES = (
  'pickup_latitude',
  'pickup_longitude',
  'dropoff_latitude',
  'dropoff_longitude',
)
NUMERIC_FEATURES = (
  ('fare', 'trip_miles', 'trip_seconds')
  + COORDINATES
  + (HOUR_FEATURE, 'trip_start_day', 'trip_start_month')
  + ('pickup_community_area', 'dropoff_community_area')
)
STRING_FEATURES = ('payment_type', 'company')
SERVING_FEATURES = NUMERIC_FEATURES + STRING_FEATURES

# THE feature set: the raw features the model uses. Dropping one is this
# one-line change; every group below keeps only what is listed here, and
# serving still accepts (and ignores) the rest.
MODEL_FEATURES = SERVING_FEATURES


def _used(keys):
  return tuple(key for key in keys if key in MODEL_FEATURES)


def _used_dict(mapping: dict) -> dict:
  return {key: value for key, value in mapping.items() if key in MODEL_FEATURES}


# The model's raw inputs, grouped by how preprocessing treats them.
MODEL_NUMERIC_FEATURES = _used(NUMERIC_FEATURES)
# Heavy-tailed numbers: log1p, then z-score.
LOG_ZSCORE_FEATURES = _used(('fare', 'trip_miles', 'trip_seconds'))
# Coordinates: min-max scaled.
MINMAX_FEATURES = _used(COORDINATES)
# Quantile buckets (the tip rate is not monotonic in the fare): feature ->
# number of buckets. A missing value gets one bucket more.
BUCKET_COUNTS = _used_dict(
  {
    'fare': 20,
    'trip_miles': 10,
    'trip_seconds': 10,
    HOUR_FEATURE: 6,
    **{key: 10 for key in COORDINATES},
  }
)
# Small integer categories used as they are: name -> number of values.
INTEGER_CATEGORY_FEATURES = _used_dict(
  {'trip_start_day': 8, 'trip_start_month': 13}
)
# Categories with a learned vocabulary: name -> most frequent values kept.
VOCABULARY_FEATURES = _used_dict(
  {
    'payment_type': 10,
    'company': 100,
    'pickup_community_area': 100,
    'dropoff_community_area': 100,
  }
)
OOV_BUCKETS = 1
# Card and cash fares tip differently: the model gets their combination
# (when it uses both).
CROSSED_FEATURES = ('payment_type', 'fare')
USES_CROSS = _used(CROSSED_FEATURES) == CROSSED_FEATURES

# Raw columns needed to compute the label; absent at serving time.
TIPS = 'tips'
FARE = 'fare'
# A trip is a big tip when the tip is over this share of the fare.
BIG_TIP_SHARE = 0.2
LABEL = 'big_tipper'

# What a missing string becomes before its vocabulary is applied.
MISSING_STRING = '__missing__'


def transformed_name(key: str) -> str:
  return f'{key}_xf'


def missing_indicator_name(key: str) -> str:
  return f'{key}_missing_xf'


def bucket_name(key: str) -> str:
  return f'{key}_bucket_xf'


def vocabulary_ids(key: str) -> int:
  """How many ids the vocabulary of `key` maps to (kept values + OOV)."""
  return VOCABULARY_FEATURES[key] + OOV_BUCKETS


CROSS_NAME = '_x_'.join(CROSSED_FEATURES) + '_xf'
CROSS_IDS = (
  vocabulary_ids(CROSSED_FEATURES[0]) * (BUCKET_COUNTS[CROSSED_FEATURES[1]] + 1)
  if USES_CROSS
  else 0
)


def is_big_tipper(tips: float, fare: float) -> bool:
  """The label for one trip, as preprocessing_fn computes it in TensorFlow."""
  return tips > BIG_TIP_SHARE * fare


# Splits are balanced on the label and, within it, on this feature: almost
# every big tip is paid by card (cash tips go unrecorded).
STRATIFY_GROUP = 'payment_type'


def split_stratum(row: dict):
  """(label, payment type) of a raw row (first values by name) for stratified
  splits; the label is None when a column it needs is missing or not numeric.
  """
  tips, fare = row.get(TIPS), row.get(FARE)
  numeric = isinstance(tips, (int, float)) and isinstance(fare, (int, float))
  return (
    is_big_tipper(tips, fare) if numeric else None,
    row.get(STRATIFY_GROUP),
  )
