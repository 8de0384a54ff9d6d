"""How a training run ended, as the library returns it and the programs print it."""

from __future__ import annotations

import dataclasses

from agents.core.reports import Report
from agents.errors import EXIT_OK


@dataclasses.dataclass(frozen=True)
class RunOutcome:
  """code: the exit code (agents.errors: 0 done, 1 an env failed or training
  diverged, 2 bad input or a checkpoint that does not fit, 130/143 stopped by a
  signal). message: the one line that says so. final_eval: the last
  evaluation report, or None."""
  code: int
  run_dir: str
  message: str
  final_eval: Report | None = None

  @property
  def ok(self) -> bool:
    return self.code == EXIT_OK
