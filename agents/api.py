"""`agents.train(...)` and `agents.load_policy(...)`: the package from Python.

`train` runs the same library code as `python -m agents.scripts.train` (the
same checks, run directory, lock, checkpoints and resume), with config values
as keyword arguments: `agents.train('pendulum', steps=65_536,
learning_rate=3e-4)`. Both use the configs and networks of `agents.scripts`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

from agents.core.reports import Report
from agents.envs import env_objects
from agents.parts.attr_dict import AttrDict
from agents.run.catalog import Catalog
from agents.errors import ConfigError, TrainingFailed
from agents.run import launch
from agents.run import policy as policy_lib
from agents.run.outcome import RunOutcome
from agents.scripts import configs

__all__ = ['train', 'load_policy', 'ConfigError', 'TrainingFailed']


def train(config: str | AttrDict = 'pendulum', logdir: str = './logdir', *,
          env: Any = None, seeds: Sequence[int] | None = None,
          seed: int | None = None, timestamp: str | None = None,
          env_processes: bool | None = None, quiet: bool = True,
          on_report: Callable[[Report], Any] | None = None,
          **values: Any) -> Any:
  """Train a config; returns the RunOutcome (`run_dir`, `final_eval`), or one per
  seed with `seeds`.

  config: a named config ('pendulum'), or a config object (an AttrDict such
    as `agents.scripts.configs.cartpole()`, changed as you like, or a dict of
    some keys over the defaults), whose run directories end in '-custom'.
  env: what to train on instead of the config's env: a Gymnasium id or
    'module:NAME' (as `--set env=`), a JAX env object (any family, or the
    protocol of agents.envs.jax_env), or a class or function that builds a
    host env. Objects that no module holds work in this process only
    (agents/envs/env_objects.py; a warning says so).
  seeds: several seeds side by side in one compiled program (JAX envs), one
    run directory each.
  values: config keys and values (`steps=65_536`), checked as `--set` values
    are. A `timestamp` of an existing run resumes it. `on_report` is called
    with every report (a `Report`); when it returns True the run stops there
    (a checkpoint at the stop, exit as after its budget). Raises ConfigError
    (and the other UsageErrors) for bad input and TrainingFailed when a run
    does not finish.
  """
  if seed is not None:
    values['seed'] = seed
  if env_processes is not None:
    values['env_processes'] = env_processes
  if env is not None:
    values['env'] = env if isinstance(env, str) else env_objects.name_of(env)
  catalog, name = _catalog_with(config)
  progress = None
  if not quiet:
    from agents.scripts.train import Progress
    progress = Progress(quiet=False)
  report = _both(on_report, progress.report if progress else None)
  callbacks = (report, progress.start if progress else None,
               progress.advance if progress else None)
  try:
    if seeds is not None:
      outcomes = launch.train_seeds(catalog, name, logdir, list(seeds), timestamp, values,
                                    *callbacks)
    else:
      outcomes = [launch.train_named(catalog, name, logdir, timestamp, values, *callbacks)]
  finally:
    if progress:
      progress.close()
  for outcome in outcomes:
    if not outcome.ok:
      raise TrainingFailed(outcome)
  return outcomes if seeds is not None else outcomes[0]


def _catalog_with(config: str | AttrDict) -> tuple[Catalog, str]:
  """The catalog and the name a run of `config` (a name or a config object) uses."""
  catalog = configs.catalog()
  if isinstance(config, str):
    return catalog, config
  if not isinstance(config, Mapping):
    raise ConfigError(f'config must be a config name or a config object (AttrDict), got '
                      f'{type(config).__name__}.')
  name = 'custom'
  unknown = sorted(set(config) - set(catalog.default()))
  if unknown:
    raise ConfigError(f"Unknown config key(s) {', '.join(unknown)} in the config object. "
                      f"Valid keys: {', '.join(sorted(catalog.default()))}.")
  base = catalog.default()
  with base.unlocked:
    base.update(dict(config))
  named = dict(catalog.configs, **{name: lambda: base.copy()})
  return dataclasses.replace(catalog, configs=named), name


def _both(*callbacks: Callable[[Report], Any] | None) -> Callable[[Report], bool]:
  """One callback for all; True when any of them returned True (stop)."""
  chosen = [callback for callback in callbacks if callback]
  return lambda report: any([callback(report) is True for callback in chosen])


def load_policy(run_dir: str, checkpoint: str | None = None,
                deterministic: bool = True, seed: int = 0,
                env: Any = None) -> policy_lib.Policy:
  """The policy of a run's newest intact checkpoint (or of `checkpoint`).

  deterministic: the distribution's mode (as evaluation runs it); else
  sampled, with `seed`. env: the env object a run was given in another
  process (agents.train(env=...)), to rebuild it here. Raises PolicyLoadError
  naming what is missing.
  """
  if env is not None:
    config, _, _ = policy_lib.read_run(run_dir, configs.catalog(), checkpoint)
    env_objects.provide(config.env, env)
  return policy_lib.load_policy(run_dir, configs.catalog(), checkpoint,
                                deterministic, seed)
