"""The package's logger, and how a program shows it on the terminal.

Library code never prints: it logs notes (INFO) and warnings under the
`agents` logger. A program (agents/scripts) calls `to_console()` once, so that
notes appear as plain lines and warnings as `warning: ...` on stderr. Without
it, Python's last-resort handler still shows warnings.
"""

from __future__ import annotations

import logging
import sys

ROOT = 'agents'


class _ConsoleFormat(logging.Formatter):
  def format(self, record: logging.LogRecord) -> str:
    message = record.getMessage()
    if record.levelno >= logging.ERROR:
      return f'error: {message}'
    if record.levelno >= logging.WARNING:
      return f'warning: {message}'
    return message


class _Stderr(logging.StreamHandler):
  """Writes to whatever sys.stderr is when a record comes (tests replace it)."""

  @property
  def stream(self):
    return sys.stderr

  @stream.setter
  def stream(self, value) -> None:
    pass


def to_console(level: int = logging.INFO) -> None:
  """Show the package's notes and warnings on stderr (once per process)."""
  logger = logging.getLogger(ROOT)
  if any(getattr(handler, '_agents_console', False) for handler in logger.handlers):
    return
  handler = _Stderr()
  handler.setFormatter(_ConsoleFormat())
  handler._agents_console = True
  logger.addHandler(handler)
  logger.setLevel(level)
