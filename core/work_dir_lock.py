"""One run at a time per work directory.

Two LocalDagRunner runs on one pipeline root and SQLite store would race on
the same output directories and the same cache entries. The second run
refuses at once, naming the run that holds the lock; the lock is released
by the kernel when the holder exits, even when it is killed.
"""

import contextlib
import fcntl
import os
from typing import Iterator

LOCK_FILE = '.run.lock'


class WorkDirBusyError(RuntimeError):
  pass


@contextlib.contextmanager
def exclusive_run(work_dir: str) -> Iterator[None]:
  os.makedirs(work_dir, exist_ok=True)
  path = os.path.join(work_dir, LOCK_FILE)
  with open(path, 'a+') as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      lock.seek(0)
      holder = lock.read().strip() or 'another process'
      raise WorkDirBusyError(
        f'another pipeline run ({holder}) is using the work directory '
        f'{work_dir}; wait for it to finish or use another --work-dir'
      ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f'pid {os.getpid()}')
    lock.flush()
    try:
      yield
    finally:
      lock.truncate(0)
