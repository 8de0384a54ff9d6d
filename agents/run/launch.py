"""From a config name to a finished run: check, lock, train. The library's front door.

`train_named` and `train_seeds` take typed values (`{'steps': 65_536}`), not
command-line text: `python -m agents.scripts.train` parses its `--set` texts
into values and calls them, as do `agents.train(...)` and each run of a sweep.
Every check runs before anything is written, and again once the run
directory is locked (another process may have written it meanwhile).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Sequence

import yaml

from agents import settings
from agents.core.reports import Report
from agents.errors import ConfigError, UsageError
from agents.parts.attr_dict import AttrDict
from agents.run import config_checks
from agents.run.catalog import Catalog
from agents.run.outcome import RunOutcome
from agents.run.run_dir import CONFIG_FILE, RunDir

ReportCallback = Callable[[Report], Any]   # Returning True stops the run.
StartCallback = Callable[[int, int], None]
ProgressCallback = Callable[[int], None]


def read_saved_config(path: str) -> AttrDict:
  """A run's config.yaml; UsageError naming the file when it is damaged."""
  try:
    with open(path, 'rb') as stream:
      text = stream.read().decode('utf-8')
    data = yaml.safe_load(text)
  except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    raise UsageError(f'{path} is damaged ({reason[:160]}): restore it from a copy, '
                     'or start a new run with another --timestamp.') from None
  if not isinstance(data, dict):
    raise UsageError(f'{path} is damaged (a YAML {type(data).__name__}, not a '
                     'mapping of config keys): restore it from a copy, or start a '
                     'new run with another --timestamp.')
  return AttrDict(data)


def resolve_config(catalog: Catalog, config_name: str, run_dir: RunDir,
                   values: Mapping[str, Any] | None = None) -> tuple[AttrDict, bool]:
  """The run's config: saved (when resuming) or named, then `values`, checked
  as a whole; a resume may not change the keys that shape its state."""
  named = catalog.config(config_name)
  saved_path = run_dir.file(CONFIG_FILE)
  resume = os.path.exists(saved_path)
  config = named
  if resume:
    saved = read_saved_config(saved_path)
    # Keys added to default() since the run started take their defaults.
    config = named.copy()
    with config.unlocked:
      config.update({key: value for key, value in saved.items() if key in config})
  config = config_checks.apply_values(config, values or {})
  config_checks.validate(config, catalog.network_names)
  if resume:
    config_checks.check_resume(saved, config)
  return config, resume


def train_named(catalog: Catalog, config_name: str, logdir: str,
                timestamp: str | None = None, values: Mapping[str, Any] | None = None,
                on_report: ReportCallback | None = None,
                on_start: StartCallback | None = None,
                on_progress: ProgressCallback | None = None) -> RunOutcome:
  """Train the config called `config_name` in `<logdir>/<timestamp>-<config_name>`
  (a timestamp of an existing run resumes it). Raises UsageError (ConfigError,
  RunDirLocked) for bad input before anything is trained."""
  from agents.run import training
  settings.check()
  run_dir = RunDir.new(logdir, config_name, timestamp)
  resolve_config(catalog, config_name, run_dir, values)
  run_dir.prepare()
  lock = run_dir.lock()
  try:
    config, resume = resolve_config(catalog, config_name, run_dir, values)
    return training.train(config, run_dir, catalog, resume=resume,
                          on_report=on_report, on_start=on_start,
                          on_progress=on_progress)
  finally:
    lock.close()


def train_seeds(catalog: Catalog, config_name: str, logdir: str, seeds: Sequence[int],
                timestamp: str | None = None, values: Mapping[str, Any] | None = None,
                on_report: ReportCallback | None = None,
                on_start: StartCallback | None = None,
                on_progress: ProgressCallback | None = None) -> list[RunOutcome]:
  """Several seeds side by side in one compiled program (in-graph envs), one
  run directory each: `<timestamp>-<config>-seed<k>`."""
  from agents.run import training
  settings.check()
  seeds = list(dict.fromkeys(int(seed) for seed in seeds))
  if 'seed' in (values or {}):
    raise UsageError('--seed and --seeds exclude each other; give the seeds to --seeds.')
  if min(seeds) < 0:
    raise UsageError(f'Seeds must be >= 0, got {min(seeds)}.')
  first = RunDir.new(logdir, config_name, timestamp)
  run_dirs = [RunDir(logdir, config_name, first.timestamp, f'-seed{seed}') for seed in seeds]
  per_seed = [dict(values or {}, seed=seed) for seed in seeds]
  config, _ = resolve_config(catalog, config_name, run_dirs[0], per_seed[0])
  command = first.resume_command(['--seeds', *map(str, seeds)])
  from agents.run.build import JAX_NATIVE, resolved_backend   # Here: build imports JAX.
  if resolved_backend(config) not in JAX_NATIVE:
    raise UsageError(
        f"--seeds trains the seeds in one compiled program, which needs an in-graph "
        f"env (a JAX env, or env_backend=gymnax or mjx); '{config_name}' steps "
        f"{resolved_backend(config)} envs. "
        f'Run its seeds with: python -m agents.scripts.sweep --logdir={logdir} '
        f"--config={config_name} --seeds {' '.join(map(str, seeds))}")
  for run_dir, seed_values in zip(run_dirs, per_seed):
    resolve_config(catalog, config_name, run_dir, seed_values)
  locks, targets = [], []
  try:
    for run_dir, seed_values in zip(run_dirs, per_seed):
      run_dir.prepare()
      locks.append(run_dir.lock())
      config, resume = resolve_config(catalog, config_name, run_dir, seed_values)
      targets.append(training.RunTarget(config, run_dir, resume))
    return training.train_targets(targets, catalog, command, on_report, on_start,
                                  on_progress)
  finally:
    for lock in locks:
      lock.close()


__all__ = ['ConfigError', 'UsageError', 'read_saved_config', 'resolve_config',
           'train_named', 'train_seeds']
