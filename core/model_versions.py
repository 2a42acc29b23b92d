"""Numbered model-version directories, as TF Serving lays them out:
<base>/<version>/ with a decimal version; anything else (a hidden staging
directory, a file) is not a version."""

import os
from typing import List, Optional, Tuple


def is_version(name: str) -> bool:
  # isdecimal, not isdigit: "²" is a digit that int() refuses.
  return name.isdecimal()


def version_dirs(base_directory: str) -> List[Tuple[int, str]]:
  """(version, directory) under `base_directory`, ascending; [] when it is
  missing. The directory keeps its name as on disk (it may be zero-padded)."""
  if not os.path.isdir(base_directory):
    return []
  found = []
  for name in os.listdir(base_directory):
    path = os.path.join(base_directory, name)
    if is_version(name) and os.path.isdir(path):
      found.append((int(name), path))
  return sorted(found)


def versions(base_directory: str) -> List[int]:
  return [version for version, _ in version_dirs(base_directory)]


def latest_version_dir(base_directory: str) -> Optional[str]:
  found = version_dirs(base_directory)
  return found[-1][1] if found else None


def newest_version_name(base_directory: str) -> str:
  """The newest version's directory name as on disk; '' when there is none."""
  newest = latest_version_dir(base_directory)
  return os.path.basename(newest) if newest else ''
