import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components import data_gate

ANOMALIES = text_format.Parse(
  """
  anomaly_info {
    key: "payment_type"
    value {
      reason {
        type: ENUM_TYPE_UNEXPECTED_STRING_VALUES
        short_description: "Unexpected string values"
        description: "Examples contain values missing from the schema: Bitcoin (~1%)."
      }
    }
  }
  anomaly_info {
    key: "fare"
    value {
      reason { type: UNEXPECTED_DATA_TYPE short_description: "Unexpected data type" }
    }
  }
""",
  anomalies_pb2.Anomalies(),
)


def test_describe_names_split_feature_kind_and_description():
  findings = data_gate.describe('train', ANOMALIES)
  assert findings == [
    data_gate.Anomaly(
      'train', 'fare', 'UNEXPECTED_DATA_TYPE', 'Unexpected data type'
    ),
    data_gate.Anomaly(
      'train',
      'payment_type',
      'ENUM_TYPE_UNEXPECTED_STRING_VALUES',
      'Examples contain values missing from the schema: Bitcoin (~1%).',
    ),
  ]


def test_describe_of_clean_data_is_empty():
  assert data_gate.describe('eval', anomalies_pb2.Anomalies()) == []


def test_error_lists_every_finding():
  error = data_gate.DataValidationError(data_gate.describe('train', ANOMALIES))
  assert '2 anomalies' in str(error)
  assert "feature 'payment_type'" in str(error) and 'Bitcoin' in str(error)
  with pytest.raises(data_gate.DataValidationError):
    raise error
