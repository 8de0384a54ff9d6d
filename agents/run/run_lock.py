"""One process per run directory: an exclusive lock held for the process's life.

Two processes training in one run directory would overwrite each other's
metrics and rotate each other's checkpoints away. `lock_run_dir` takes an
`flock` on `<run_dir>/.lock`; the operating system releases it when the
process ends, also on a crash or SIGKILL, so a stale lock never blocks a
resume.
"""

from __future__ import annotations

import fcntl
import os
from typing import IO
from agents.errors import RunDirLocked


def lock_run_dir(run_dir: str) -> IO[str]:
  """Lock `run_dir` for this process; keep the returned file open to hold it."""
  path = os.path.join(run_dir, '.lock')
  stream = open(path, 'a+')
  try:
    fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    stream.seek(0)
    holder = stream.read().strip() or 'unknown'
    stream.close()
    raise RunDirLocked(
        f"Another process (pid {holder}) is training in '{run_dir}'. Wait for "
        'it to finish, or start a separate run with another --timestamp.') from None
  stream.seek(0)
  stream.truncate()
  stream.write(str(os.getpid()))
  stream.flush()
  return stream
