"""One error hierarchy for the whole package, and the exit code of each kind.

Every error the package raises on purpose is an `AgentsError`; its class says
how a program ends (`exit_code`), and `exit_code_of` maps any exception to
that code in this one place:

    0    done
    1    an env or the system failed, or training diverged   (EnvError, TrainingDiverged, ...)
    2    bad input: a config, an argument, a run directory    (UsageError and below)
    130  interrupted by SIGINT (Ctrl-C);  143  by SIGTERM     (Interrupted)

The programs in agents/scripts print an AgentsError as one line (`error: ...`)
and exit with its code; the library raises it, or returns it in a RunOutcome.
"""

from __future__ import annotations

import signal

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SIGINT = 128 + signal.SIGINT     # 130
EXIT_SIGTERM = 128 + signal.SIGTERM   # 143


class AgentsError(Exception):
  """Base of the package's errors; `exit_code` is how a program ends on it."""
  exit_code = EXIT_FAILURE


# Bad input (exit 2) ------------------------------------------------------------


class UsageError(AgentsError):
  """Bad input from the user: the message names the thing and the fix."""
  exit_code = EXIT_USAGE


class ConfigError(UsageError, ValueError):
  """A config asks for something that cannot be built; the message says why."""


class UnsupportedActionSpace(ConfigError):
  """The network cannot produce actions of the env's action space."""


class RunDirLocked(UsageError):
  """Another process holds the run directory."""


class CheckpointError(UsageError):
  """A checkpoint that cannot be used."""


class CorruptCheckpoint(CheckpointError):
  """A checkpoint file that cannot be read back as it was written."""


class IncompatibleCheckpoint(CheckpointError):
  """An intact checkpoint whose state does not fit the structure asked for."""


class PolicyLoadError(UsageError, ValueError):
  """A run directory or checkpoint that cannot give a policy; says why."""


# Failures of envs and the system (exit 1) --------------------------------------


class EnvError(AgentsError, RuntimeError):
  """An environment failed: it raised, died, hung or returned non-finite numbers."""


class WorkerError(EnvError):
  """An environment raised inside its worker process; carries its traceback."""


class WorkerDiedError(EnvError):
  """A worker process exited while the parent waited for it."""


class WorkerTimeoutError(EnvError, TimeoutError):
  """A worker did not answer in time."""


class EnvRaisedError(EnvError):
  """An env of an in-process batch raised in `step` or `reset`; names its index
  and carries its traceback."""


class EnvContractError(EnvError, ValueError):
  """An env broke Gymnasium's API (what `reset` and `step` return, their shapes);
  the message says what it returned, what is expected, and which env."""


class EnvOutputError(EnvError):
  """A host env returned a non-finite observation or reward."""

  def __init__(self, index: int, field: str, episode_step: int, value: object) -> None:
    super().__init__(
        f'env {index} returned a non-finite {field} ({value}) at step '
        f'{episode_step} of its episode; check the env (or a wrapper) for a '
        'division by zero or an unstable simulation')
    self.index, self.field, self.episode_step = index, field, episode_step


class StorageError(AgentsError, OSError):
  """A file of the run could not be written: a full disk, a read-only or vanished
  directory. What was written before stays intact."""


class TrainingDiverged(AgentsError, RuntimeError):
  """An update produced non-finite numbers; the learner kept its last finite
  values (see the algorithm's `diagnose`)."""

  def __init__(self, step: int, what: str) -> None:
    super().__init__(f'{what} became non-finite (NaN or inf) in an update '
                     f'before step {step:,}')
    self.step = step
    self.what = what


class TrainingFailed(AgentsError, RuntimeError):
  """A run that ended without finishing (env failure, divergence, a signal).

  outcome: the RunOutcome (exit code, run directory, message).
  """

  def __init__(self, outcome: object) -> None:
    super().__init__(getattr(outcome, 'message', str(outcome)))
    self.outcome = outcome
    self.exit_code = getattr(outcome, 'code', EXIT_FAILURE)


# Signals ------------------------------------------------------------------------


class Interrupted(AgentsError):
  """A stop asked for by a signal (SIGINT: 130, SIGTERM: 143)."""

  def __init__(self, signum: int = signal.SIGINT, message: str = 'Interrupted') -> None:
    super().__init__(message)
    self.signum = signum
    self.exit_code = 128 + int(signum)


def exit_code_of(error: BaseException) -> int:
  """The exit code a program ends with on `error` (see the module docstring)."""
  if isinstance(error, AgentsError):
    return int(error.exit_code)
  if isinstance(error, KeyboardInterrupt):
    return EXIT_SIGINT
  return EXIT_FAILURE
