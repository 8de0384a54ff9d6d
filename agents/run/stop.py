"""Stopping a run on SIGINT (Ctrl-C) or SIGTERM (what a cluster scheduler sends).

The first signal asks the run to stop: a line says so at once, the Loop ends
after its current call, saves a checkpoint and the program exits with 128 +
the signal (130, 143). A second signal ends the process at once, with a line:
its worker processes are stopped and only the work since the last checkpoint
is lost.

The line comes at once even while the main thread waits inside a compiled
call (a slow env, a huge batch): the signal is delivered to a watcher thread
through `signal.set_wakeup_fd`, which Python's C-level handler writes to
whatever the main thread is doing. Handlers are installed whatever the
inherited disposition was (a program started in the background by a shell
script inherits SIGINT as ignored).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from typing import Any

LOG = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_name(signum: int) -> str:
  return signal.Signals(signum).name


class StopSignals:
  """While entered (in the main thread): SIGINT and SIGTERM request a stop.

  `requested` is the first signal's number (0: none). Entering again while
  one is active reuses it, so a program can install it before start-up and the
  training run below it sees the same requests.
  """
  _active: 'StopSignals | None' = None

  def __init__(self) -> None:
    self.requested = 0
    self._depth = 0
    self._previous: dict[int, Any] = {}
    self._wakeup: tuple[socket.socket, socket.socket] | None = None
    self._old_fd = -1

  @classmethod
  def current(cls) -> 'StopSignals':
    """The active instance, or a new one (entered by the caller)."""
    return cls._active or cls()

  def __enter__(self) -> 'StopSignals':
    self._depth += 1
    if self._depth == 1 and threading.current_thread() is threading.main_thread():
      self._install()
    return self

  def __exit__(self, *exc: Any) -> None:
    self._depth -= 1
    if self._depth == 0 and self._wakeup is not None:
      self._uninstall()

  def _install(self) -> None:
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    self._wakeup = (reader, writer)
    self._old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    for signum in SIGNALS:
      self._previous[signum] = signal.signal(signum, _ignore_in_main_thread)
    StopSignals._active = self
    threading.Thread(target=self._watch, args=(reader,), name='agents-stop',
                     daemon=True).start()

  def reclaim(self) -> None:
    """Install the handlers again (after a library such as Ray replaced them)."""
    if self._wakeup is not None and threading.current_thread() is threading.main_thread():
      for signum in SIGNALS:
        signal.signal(signum, _ignore_in_main_thread)
      signal.set_wakeup_fd(self._wakeup[1].fileno(), warn_on_full_buffer=False)

  def _uninstall(self) -> None:
    for signum, previous in self._previous.items():
      if self.requested:   # Stopping: a second signal still quits, with its line.
        signal.signal(signum, lambda number, frame: self._on_signal(number))
      else:
        signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
    signal.set_wakeup_fd(self._old_fd)
    reader, writer = self._wakeup
    self._wakeup = None
    StopSignals._active = None
    writer.close()   # Ends the watcher's recv.
    reader.close()

  def _watch(self, reader: socket.socket) -> None:
    while True:
      try:
        data = reader.recv(16)
      except OSError:
        return
      if not data:
        return
      for signum in data:
        if signum in SIGNALS:
          self._on_signal(signum)

  def _on_signal(self, signum: int) -> None:
    name = signal_name(signum)
    if not self.requested:
      self.requested = signum
      LOG.warning('%s: stopping after the current step and saving a checkpoint; '
                  'send it again to quit at once.', name)
      return
    LOG.error('second %s: quitting at once; work since the last checkpoint is lost.',
              name)
    _quit(128 + signum)


def _ignore_in_main_thread(signum: int, frame: Any) -> None:
  """The watcher thread acts on the signal; the main thread goes on."""


def _quit(code: int) -> None:
  """End the process now: stop our child processes first, then exit."""
  for handler in logging.getLogger('agents').handlers:
    try:
      handler.flush()
    except Exception:
      pass
  sys.stderr.flush()
  for child in _child_pids():
    try:
      os.kill(child, signal.SIGTERM)
    except OSError:
      pass
  for child in multiprocessing.active_children():
    child.kill()
  os._exit(code)


def _child_pids() -> list[int]:
  """This process's children (Linux: from /proc; elsewhere: none found here)."""
  me, found = os.getpid(), []
  try:
    entries = os.listdir('/proc')
  except OSError:
    return found
  for entry in entries:
    if not entry.isdigit():
      continue
    try:
      with open(f'/proc/{entry}/stat', 'rb') as stream:
        fields = stream.read().rsplit(b')', 1)[1].split()
      if int(fields[1]) == me:
        found.append(int(entry))
    except (OSError, IndexError, ValueError):
      continue
  return found
