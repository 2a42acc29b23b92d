"""core.heap, in a process of its own (it changes the collector process-wide)."""

import subprocess
import sys
import textwrap

from tests.conftest import PROJECT_DIR

SCRIPT = textwrap.dedent(
  """
  import gc, weakref
  from core import heap

  class Node:
    pass

  def cycle():
    node = Node()
    node.self = node
    return weakref.ref(node)

  before = cycle()  # garbage that exists when the heap is settled
  heap.settle_imports()
  assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD, gc.get_threshold()
  assert gc.get_freeze_count() > 0
  after = cycle()
  gc.collect()
  assert after() is None, 'a cycle made after settling is still collected'
  assert before() is not None, 'what was frozen is left alone'
  frozen = gc.get_freeze_count()
  left = [Node() for _ in range(100)]
  heap.skip_final_collection()
  assert gc.get_freeze_count() >= frozen + len(left)
  frozen = gc.get_freeze_count()
  more = [Node() for _ in range(100)]
  assert heap.run_settled(lambda: 3) == 3
  assert gc.get_freeze_count() >= frozen + len(more)
  print('ok')
  """
)


def test_settled_heap_still_collects_new_garbage():
  result = subprocess.run(
    [sys.executable, '-c', SCRIPT],
    cwd=PROJECT_DIR,
    capture_output=True,
    text=True,
    check=False,
  )
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == 'ok'
