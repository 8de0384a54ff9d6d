"""`agents.train(...)` and `agents.load_policy(...)`: the package from Python.

`train` runs the same library code as `python -m agents.scripts.train` (the
same checks, run directory, lock, checkpoints and resume), with config values
as keyword arguments: `agents.train('pendulum', steps=65_536,
learning_rate=3e-4)`. Both use the configs and networks of `agents.scripts`.
"""

from __future__ import annotations

from typing import Any, Callable

from agents.core.reports import Report
from agents.errors import ConfigError, TrainingFailed
from agents.run import launch
from agents.run import policy as policy_lib
from agents.run.outcome import RunOutcome
from agents.scripts import configs

__all__ = ['train', 'load_policy', 'ConfigError', 'TrainingFailed']


def train(config: str = 'pendulum', logdir: str = './logdir',
          seed: int | None = None, timestamp: str | None = None,
          env_processes: bool | None = None, quiet: bool = True,
          on_report: Callable[[Report], Any] | None = None,
          **values: Any) -> RunOutcome:
  """Train a named config; returns the RunOutcome (`run_dir`, `final_eval`).

  values: config keys and values (`steps=65_536`), checked as `--set` values
  are. A `timestamp` of an existing run resumes it. `on_report` is called
  with every report (a `Report`); when it returns True the run stops there
  (a checkpoint at the stop, exit as after its budget). Raises ConfigError (and the other
  UsageErrors) for bad input and TrainingFailed when the run does not finish.
  """
  if seed is not None:
    values['seed'] = seed
  if env_processes is not None:
    values['env_processes'] = env_processes
  progress = None
  if not quiet:
    from agents.scripts.train import Progress
    progress = Progress(quiet=False)
  report = _both(on_report, progress.report if progress else None)
  try:
    outcome = launch.train_named(configs.catalog(), config, logdir, timestamp, values,
                                 report, progress.start if progress else None,
                                 progress.advance if progress else None)
  finally:
    if progress:
      progress.close()
  if not outcome.ok:
    raise TrainingFailed(outcome)
  return outcome


def _both(*callbacks: Callable[[Report], Any] | None) -> Callable[[Report], bool]:
  """One callback for all; True when any of them returned True (stop)."""
  chosen = [callback for callback in callbacks if callback]
  return lambda report: any([callback(report) is True for callback in chosen])


def load_policy(run_dir: str, checkpoint: str | None = None,
                deterministic: bool = True, seed: int = 0) -> policy_lib.Policy:
  """The policy of a run's newest intact checkpoint (or of `checkpoint`).

  deterministic: the distribution's mode (as evaluation runs it); else
  sampled, with `seed`. Raises PolicyLoadError naming what is missing.
  """
  return policy_lib.load_policy(run_dir, configs.catalog(), checkpoint,
                                deterministic, seed)
