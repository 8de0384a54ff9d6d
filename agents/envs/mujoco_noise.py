"""Keep MuJoCo's known noise out of a run: one deprecation warning, one log file.

MuJoCo 4 warns "compiler attribute 'settotalmass' is deprecated" for every
Gymnasium HalfCheetah (and Ant, ...) it builds, and its default warning
handler also appends each warning to `MUJOCO_LOG.TXT` in the working
directory. `install_warning_handler` replaces that handler in this process:
the known deprecation is dropped, every other warning is printed to stderr
(nothing is written to the working directory). EnvPool links its own MuJoCo,
which prints from C; `quiet_output` filters the same known line from what is
written to the process's stdout and stderr while a pool is made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from typing import Iterator

LOG = logging.getLogger(__name__)

KNOWN_NOISE = ("compiler attribute 'settotalmass' is deprecated",)

_installed = False


def is_noise(text: str) -> bool:
  return any(known in text for known in KNOWN_NOISE)


def _print_warning(message: str) -> None:
  if not is_noise(message):
    LOG.warning('MuJoCo warning: %s', message.strip())


def install_warning_handler() -> None:
  """Route MuJoCo's warnings through `_print_warning` (once per process)."""
  global _installed
  if _installed:
    return
  import mujoco
  mujoco.set_mju_user_warning(_print_warning)
  _installed = True


@contextlib.contextmanager
def quiet_output() -> Iterator[None]:
  """Drop the known noise from what C code writes to fds 1 and 2 meanwhile."""
  sys.stdout.flush()
  sys.stderr.flush()
  saved = {fd: os.dup(fd) for fd in (1, 2)}
  with tempfile.TemporaryFile(mode='w+b') as capture:
    try:
      for fd in (1, 2):
        os.dup2(capture.fileno(), fd)
      yield
    finally:
      for fd, copy in saved.items():
        os.dup2(copy, fd)
        os.close(copy)
      capture.seek(0)
      for line in capture.read().decode(errors='replace').splitlines(keepends=True):
        if not is_noise(line):
          sys.stderr.write(line)
      sys.stderr.flush()
