"""A minimal reader for the protobuf text format of TF Serving's small config files.

The monitoring and batching configs are text protos whose message types are not shipped in the
`tensorflow-serving-api` wheel, so we read them into plain dicts instead of generated messages.
Scalars are parsed to bool/int/float/str; a field given twice becomes a list; wrapper messages such as
`max_batch_size { value: 128 }` stay nested dicts (see `unwrap`).
"""

import ast
import re

_TOKEN = re.compile(
  r"""\s*(?:
        (?P<comment>\#[^\n]*)
      | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      | (?P<punct>[{}:<>;,])
      | (?P<word>[A-Za-z0-9_.+\-]+)
    )""",
  re.VERBOSE,
)


class TextProtoError(ValueError):
  pass


def _tokens(text: str):
  pos = 0
  while pos < len(text):
    if text[pos:].strip() == '':
      return
    match = _TOKEN.match(text, pos)
    if not match:
      raise TextProtoError(
        f'unexpected character {text[pos:].lstrip()[:1]!r} at offset {pos}'
      )
    pos = match.end()
    if match.group('comment'):
      continue
    kind = match.lastgroup
    yield kind, match.group(kind)


def _scalar(kind: str, token: str):
  if kind == 'string':
    # literal_eval only ever builds a str from a quoted token; it evaluates no code.
    return ast.literal_eval(token)
  lowered = token.lower()
  if lowered in ('true', 't'):
    return True
  if lowered in ('false', 'f'):
    return False
  try:
    return int(token, 0)
  except ValueError:
    pass
  try:
    return float(token)
  except ValueError:
    return token  # An enum value name.


def parse(text: str) -> dict:
  """Parses a text proto into nested dicts; raises TextProtoError on malformed input."""
  tokens = list(_tokens(text))
  result, pos = _parse_fields(tokens, 0, closing=None)
  if pos != len(tokens):
    raise TextProtoError(f'unexpected {tokens[pos][1]!r}')
  return result


def _parse_fields(tokens, pos, closing):
  fields: dict = {}
  while pos < len(tokens):
    kind, token = tokens[pos]
    if kind == 'punct' and token == closing:
      return fields, pos + 1
    if kind == 'punct' and token in ';,':
      pos += 1
      continue
    if kind != 'word':
      raise TextProtoError(f'expected a field name, got {token!r}')
    name = token
    pos += 1
    if pos < len(tokens) and tokens[pos] == ('punct', ':'):
      pos += 1
    if pos >= len(tokens):
      raise TextProtoError(f'missing value for field {name!r}')
    kind, token = tokens[pos]
    if kind == 'punct' and token in '{<':
      value, pos = _parse_fields(
        tokens, pos + 1, closing='}' if token == '{' else '>'
      )
    elif kind in ('word', 'string'):
      value, pos = _scalar(kind, token), pos + 1
    else:
      raise TextProtoError(f'unexpected {token!r} after field {name!r}')
    if name in fields:
      previous = fields[name]
      fields[name] = (
        previous if isinstance(previous, list) else [previous]
      ) + [value]
    else:
      fields[name] = value
  if closing is not None:
    raise TextProtoError(f'missing closing {closing!r}')
  return fields, pos


def unwrap(value):
  """`{value: 3}` (a google.protobuf wrapper message) → 3; plain scalars pass through."""
  if isinstance(value, dict) and set(value) <= {'value'}:
    return value.get('value', 0)
  return value
