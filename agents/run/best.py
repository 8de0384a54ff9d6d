"""The best checkpoint by evaluation score, kept apart from the rotating ones.

`checkpoints/best/` holds one checkpoint: that of the evaluation with the
highest mean score so far (written atomically, never rotated out by the newest
three). `--checkpoint=best` in `visualize`, `export` and `load_policy` reads it.
A resumed run knows its best score from its metrics, so a worse evaluation
after a resume does not replace it.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Iterable

from agents.core.reports import Report
from agents.run import checkpoint

LOG = logging.getLogger(__name__)
BEST = 'best'


def directory(checkpoints: str) -> str:
  return os.path.join(checkpoints, BEST)


def path(checkpoints: str) -> str | None:
  """The intact best checkpoint of a run's checkpoints/ directory, or None."""
  return checkpoint.latest_intact(directory(checkpoints))


class BestCheckpoint:
  """Saves a run's state whenever an evaluation beats every earlier one."""

  def __init__(self, checkpoints: str, earlier: Iterable[Report]) -> None:
    self._directory = directory(checkpoints)
    scores = [r.mean_score for r in earlier if r.phase == 'eval' and r.mean_score is not None]
    self.score: float | None = max(scores) if scores else None

  def offer(self, report: Report, state: Callable[[], Any], config_yaml: str) -> bool:
    """Save `state()` if `report` (an evaluation) is the best so far."""
    if report.phase != 'eval' or report.mean_score is None:
      return False
    if self.score is not None and report.mean_score <= self.score:
      return False
    self.score = report.mean_score
    checkpoint.save(self._directory, report.step, state(), config_yaml, keep=1)
    LOG.debug('best evaluation so far (%.1f at step %s) saved in %s', report.mean_score,
              f'{report.step:,}', self._directory)
    return True


def reached(report: Report, stop_score: float | None) -> bool:
  """Whether `report` is an evaluation at or above `stop_score`."""
  return (stop_score is not None and report.phase == 'eval' and
          report.mean_score is not None and report.mean_score >= stop_score)
