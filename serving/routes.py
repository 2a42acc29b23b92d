"""TF Serving's REST URL grammar (http_rest_api_util.cc), as a pure function of method and raw path."""

import dataclasses
import re
import urllib.parse

from serving.errors import invalid_argument

# Same patterns as TF Serving: case-insensitive, names/labels are any characters but '/' and ':' (percent-encoded
# as sent), versions digits only, and a path must match in full.
_PREDICTION = re.compile(
  r'/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)',
  re.IGNORECASE,
)
_MODEL_STATUS = re.compile(
  r'/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?',
  re.IGNORECASE,
)
_INT64_MAX = 2**63 - 1
API_PREFIX = '/v1/'


@dataclasses.dataclass(frozen=True)
class Route:
  kind: str  # "status", "metadata", "predict", "classify" or "regress".
  model_name: str
  version: int | None = None
  label: str | None = None


def is_api_path(path: str) -> bool:
  return path[: len(API_PREFIX)].lower() == API_PREFIX


def parse_route(http_method: str, path: str) -> Route:
  """Raises INVALID_ARGUMENT with TF Serving's messages for anything that is not one of its routes."""
  match = None
  if http_method == 'POST':
    match = _PREDICTION.fullmatch(path)
  elif http_method == 'GET':
    match = _MODEL_STATUS.fullmatch(path)
  if match is None:
    raise invalid_argument(f'Malformed request: {http_method} {path}')
  name, version_text, label, verb = match.groups()
  # A name is compared with the served model's name only; decoding can never make it a file-system path.
  name = urllib.parse.unquote(name, errors='replace') if name else ''
  version = None
  if version_text:
    version = int(version_text)
    if version > _INT64_MAX:
      raise invalid_argument(
        f'Failed to convert version: {version_text} to numeric.'
      )
  if label:
    label = urllib.parse.unquote(label, errors='replace')
  if http_method == 'POST':
    return Route(verb.lower(), name, version, label)
  if not name:
    raise invalid_argument('Missing model name in request.')
  return Route('metadata' if verb else 'status', name, version, label)
