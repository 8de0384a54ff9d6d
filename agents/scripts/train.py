r"""Train an agent: `python -m agents.scripts.train --logdir=./logdir --config=pendulum`.

Writes `<logdir>/<timestamp>-<config>/` with config.yaml, metrics.jsonl,
TensorBoard event files under train/ and eval/, and checkpoints/. Running
again with the same --timestamp resumes from the latest checkpoint.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from typing import Any, Sequence

import yaml

from agents.scripts import config_checks, configs
from agents.tools.attr_dict import AttrDict
from agents.tools.run_lock import RunDirLocked, lock_run_dir


class UsageError(Exception):
  """Bad input from the command line; printed as one line, no traceback."""


def parse_bool(text: str) -> bool:
  value = yaml.safe_load(text)
  if not isinstance(value, bool):
    raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")
  return value


def make_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m agents.scripts.train', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--logdir', help='Directory that holds the runs.')
  parser.add_argument('--config', help='Name of the config (see --list).')
  parser.add_argument('--timestamp', default=None,
                      help='Run name prefix (default: now). An existing run '
                           'with this timestamp and config is resumed.')
  parser.add_argument('--set', dest='overrides', action='append', default=[],
                      metavar='KEY=VALUE',
                      help='Override a config value (parsed to the type of the key, '
                           'e.g. learning_rate=3e-4 steps=1e6), repeatable.')
  parser.add_argument('--seed', type=int, default=None, help='Random seed.')
  parser.add_argument('--seeds', type=int, nargs='+', default=None, metavar='SEED',
                      help='Train these seeds side by side in one compiled program '
                           '(in-graph envs, env_backend=gymnax); each seed writes '
                           '<timestamp>-<config>-seed<k>.')
  parser.add_argument('--env_processes', type=parse_bool, default=None,
                      metavar='true|false',
                      help='Step the training envs in worker processes.')
  parser.add_argument('--list', action='store_true',
                      help='List the configs and what each trains.')
  parser.add_argument('--quiet', action='store_true', help='No progress bar.')
  return parser


def resolve_config(args: argparse.Namespace, run_dir: str) -> tuple[AttrDict, bool]:
  """The run's config: saved (when resuming) or named, then the overrides,
  checked as a whole; a resume may not change the keys that shape its state."""
  saved_path = os.path.join(run_dir, 'config.yaml')
  resume = os.path.exists(saved_path)
  named = configs.get(args.config)
  if resume:
    with open(saved_path) as stream:
      saved = AttrDict.from_yaml(stream.read())
    # Keys added to default() since the run started take their defaults.
    config = named.copy()
    with config.unlocked:
      config.update({key: value for key, value in saved.items() if key in config})
  else:
    config = named
  overrides = list(args.overrides)
  if args.seed is not None:
    overrides.append(f'seed={args.seed}')
  if args.env_processes is not None:
    overrides.append(f'env_processes={str(args.env_processes).lower()}')
  config = config_checks.apply_overrides(config, overrides)
  config_checks.validate(config)
  if resume:
    config_checks.check_resume(saved, config)
  return config, resume


def prepare_run_dir(logdir: str, name: str) -> str:
  run_dir = os.path.join(logdir, name)
  try:
    os.makedirs(run_dir, exist_ok=True)
    probe = os.path.join(run_dir, '.write-test')
    with open(probe, 'w') as stream:
      stream.write('ok')
    os.remove(probe)
  except OSError as error:
    raise UsageError(f"Cannot write the log directory '{run_dir}': "
                     f'{error.strerror or error}. Pick another --logdir.') from None
  return run_dir


def main(argv: Sequence[str] | None = None) -> int:
  parser = make_parser()
  args = parser.parse_args(argv)
  if args.list:
    described = configs.describe()
    width = max(len(name) for name, _ in described)
    for name, description in described:
      print(f'{name:{width}s}  {description}')
    return 0
  if not args.logdir or not args.config:
    parser.error('--logdir and --config are required (or --list).')
  try:
    if args.seeds:
      return max(outcome.code for outcome in run_seeds(args))
    return run_training(args).code
  except (UsageError, configs.ConfigError, RunDirLocked) as error:
    print(f'error: {error}', file=sys.stderr)
    return 2


def run_training(args: argparse.Namespace) -> Any:
  """Check, lock and train as the command line says; returns the RunOutcome.

  Raises UsageError, ConfigError or RunDirLocked for bad input, before
  anything is trained (the CLI prints them as one line, exit 2).
  """
  timestamp = args.timestamp or datetime.datetime.now().strftime('%Y%m%dT%H%M%S')
  name = f'{timestamp}-{args.config}'
  # The config is checked before anything is written, and again once the run
  # directory is ours (another process may have written it meanwhile).
  resolve_config(args, os.path.join(args.logdir, name))
  run_dir = prepare_run_dir(args.logdir, name)
  lock = lock_run_dir(run_dir)
  try:
    config, resume = resolve_config(args, run_dir)
    from agents.scripts import training
    return training.run(config, run_dir, args.config, timestamp, args.logdir,
                        resume=resume, quiet=args.quiet)
  finally:
    lock.close()


def run_seeds(args: argparse.Namespace) -> list[Any]:
  """`--seeds`: one run directory per seed, trained in one vmapped program."""
  seeds = list(dict.fromkeys(args.seeds))
  if args.seed is not None:
    raise UsageError('--seed and --seeds exclude each other; give the seeds to --seeds.')
  if min(seeds) < 0:
    raise UsageError(f'Seeds must be >= 0, got {min(seeds)}.')
  timestamp = args.timestamp or datetime.datetime.now().strftime('%Y%m%dT%H%M%S')
  names = [f'{timestamp}-{args.config}-seed{seed}' for seed in seeds]
  per_seed = [argparse.Namespace(**dict(vars(args), seed=seed)) for seed in seeds]
  config, _ = resolve_config(per_seed[0], os.path.join(args.logdir, names[0]))
  if config.env_backend != 'gymnax':
    raise UsageError(
        f"--seeds trains the seeds in one compiled program, which needs an in-graph "
        f"env (env_backend=gymnax); '{args.config}' steps {config.env_backend} envs. "
        f'Run its seeds with: python -m agents.scripts.sweep --logdir={args.logdir} '
        f"--config={args.config} --seeds {' '.join(map(str, seeds))}")
  for seed_args, name in zip(per_seed, names):
    resolve_config(seed_args, os.path.join(args.logdir, name))
  from agents.scripts import training
  locks, targets = [], []
  try:
    for seed_args, name in zip(per_seed, names):
      run_dir = prepare_run_dir(args.logdir, name)
      locks.append(lock_run_dir(run_dir))
      config, resume = resolve_config(seed_args, run_dir)
      targets.append(training.RunTarget(config, run_dir, resume))
    command = (f'python -m agents.scripts.train --logdir={args.logdir} '
               f"--config={args.config} --timestamp={timestamp} --seeds "
               f"{' '.join(map(str, seeds))}")
    return training.run_targets(targets, args.config, timestamp, command,
                                quiet=args.quiet)
  finally:
    for lock in locks:
      lock.close()


if __name__ == '__main__':
  sys.exit(main())
