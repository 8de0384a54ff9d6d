"""`agents.train(...)`: the training program, called from Python.

It runs the same code as `python -m agents.scripts.train` (the same checks,
run directory, lock, checkpoints and resume), with overrides as keyword
arguments: `agents.train('pendulum', steps=65_536, learning_rate=3e-4)`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from agents.scripts.configs import ConfigError


class TrainingFailed(RuntimeError):
  """A run that ended without finishing (env failure, divergence, Ctrl-C).

  outcome: the RunOutcome (exit code, run directory, message).
  """

  def __init__(self, outcome: Any) -> None:
    super().__init__(outcome.message)
    self.outcome = outcome


def train(config: str = 'pendulum', logdir: str = './logdir',
          seed: int | None = None, timestamp: str | None = None,
          env_processes: bool | None = None, quiet: bool = True,
          **overrides: Any) -> Any:
  """Train a named config; returns the RunOutcome (`run_dir`, `final_eval`).

  overrides: config keys and values (`steps=65_536`), checked and typed as
  `--set` values are. A `timestamp` of an existing run resumes it. Raises
  ConfigError for bad input and TrainingFailed when the run does not finish.
  """
  from agents.scripts import train as program
  args = argparse.Namespace(
      logdir=logdir, config=config, timestamp=timestamp, seed=seed,
      env_processes=env_processes, quiet=quiet,
      overrides=[f'{key}={_as_text(value)}' for key, value in overrides.items()])
  try:
    outcome = program.run_training(args)
  except program.UsageError as error:
    raise ConfigError(str(error)) from None
  if outcome.code != 0:
    raise TrainingFailed(outcome)
  return outcome


def _as_text(value: Any) -> str:
  """A Python value as the text `--set` would take for it."""
  if isinstance(value, bool) or value is None:
    return json.dumps(value)
  if isinstance(value, (list, tuple)):
    return json.dumps(list(value))
  return str(value)
