"""Canonical (gRPC-style) error codes and their HTTP status, as TF Serving maps them."""

# TF Serving's net_http server maps tensorflow::error codes to these HTTP statuses.
HTTP_STATUS_BY_CODE = {
  'CANCELLED': 499,
  'UNKNOWN': 500,
  'INVALID_ARGUMENT': 400,
  'DEADLINE_EXCEEDED': 504,
  'NOT_FOUND': 404,
  'ALREADY_EXISTS': 409,
  'PERMISSION_DENIED': 403,
  'RESOURCE_EXHAUSTED': 429,
  'FAILED_PRECONDITION': 400,
  'ABORTED': 409,
  'OUT_OF_RANGE': 400,
  'UNIMPLEMENTED': 501,
  'INTERNAL': 500,
  'UNAVAILABLE': 503,
  'DATA_LOSS': 500,
  'UNAUTHENTICATED': 401,
}


class ServingError(Exception):
  """An error answered to the client as `{"error": message}` with the HTTP status of `code`."""

  def __init__(self, code: str, message: str, http_status: int | None = None):
    super().__init__(message)
    self.code = code
    self.message = message
    self.http_status = http_status or HTTP_STATUS_BY_CODE.get(code, 500)


def invalid_argument(message: str) -> ServingError:
  return ServingError('INVALID_ARGUMENT', message)


def not_found(message: str) -> ServingError:
  return ServingError('NOT_FOUND', message)


def from_tf_exception(exc: Exception) -> ServingError:
  """Maps an exception raised by TensorFlow (e.g. a failing op on client data) to its canonical code."""
  import tensorflow as tf  # Imported lazily: the codec tests need no TensorFlow.

  if isinstance(exc, tf.errors.OpError):
    code = _TF_CODE_NAMES.get(exc.error_code, 'UNKNOWN')
    # TF messages end with a multi-line op trace that helps nobody calling a REST API.
    message = (exc.message or str(exc)).split('\n\t')[0].strip()
    return ServingError(code, message)
  return ServingError('INTERNAL', f'{type(exc).__name__}: {exc}')


_TF_CODE_NAMES = {
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  10: 'ABORTED',
  11: 'OUT_OF_RANGE',
  12: 'UNIMPLEMENTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  15: 'DATA_LOSS',
  16: 'UNAUTHENTICATED',
}
