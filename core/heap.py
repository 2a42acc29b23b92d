"""Python's cyclic garbage collector in a process that runs a pipeline.

Importing TFX, TensorFlow and Beam leaves ~880,000 objects that live as long
as the process, and each full collection walks all of them: on the bundled
data a cold run spent ~7 s in 15 full collections and 5,000 young ones, and
interpreter shutdown spent 4 s more in its last collection. Frozen objects
(gc.freeze) are never walked again; a run's own garbage is still collected.
"""

import gc
from typing import Callable

# Ten times CPython's default young-generation threshold (700): a pipeline
# allocates millions of short-lived objects (protos, tensors, Beam bundles).
YOUNG_THRESHOLD = 7000


def settle_imports() -> None:
  """After the imports, before the run: freezes what the imports left and
  collects young objects less often."""
  _, middle, old = gc.get_threshold()
  gc.set_threshold(YOUNG_THRESHOLD, middle, old)
  gc.freeze()


def skip_final_collection() -> None:
  """When the run is over: the process exits next, and the OS frees its
  memory at once; shutdown's collection would walk every object first."""
  gc.freeze()


def run_settled(main: Callable[[], int]) -> int:
  """main() between the two, for a runner whose imports are at its top:
  its exit status."""
  settle_imports()
  returncode = main()
  skip_final_collection()
  return returncode
