r"""Train an agent: `python -m agents.scripts.train --logdir=./logdir --config=pendulum`.

Writes `<logdir>/<timestamp>-<config>/` with config.yaml, metrics.jsonl,
TensorBoard event files under train/ and eval/, and checkpoints/. Running
again with the same --timestamp resumes from the latest checkpoint.
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import sys
from typing import Any, Sequence

import yaml

from agents.scripts import configs
from agents.tools.attr_dict import AttrDict


class UsageError(Exception):
  """Bad input from the command line; printed as one line, no traceback."""


def apply_overrides(config: AttrDict, overrides: Sequence[str]) -> AttrDict:
  """Apply `KEY=VALUE` strings (values parsed as YAML) to a copy of `config`."""
  config = config.copy()
  for override in overrides:
    key, sep, text = override.partition('=')
    key = key.strip()
    if not sep or not key:
      raise UsageError(f"Malformed --set '{override}': expected KEY=VALUE, "
                       'e.g. --set steps=50000.')
    if key not in config:
      raise UsageError(f"Unknown config key '{key}' in --set. Valid keys: "
                       f"{', '.join(sorted(config))}.")
    try:
      value = yaml.safe_load(text)
    except yaml.YAMLError as error:
      raise UsageError(f"Cannot parse the value of --set '{override}' as YAML: "
                       f"{str(error).splitlines()[0]}") from error
    with config.unlocked:
      config[key] = value
  return config


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
                      help='Override a config value (YAML), repeatable.')
  parser.add_argument('--seed', type=int, default=None, help='Random seed.')
  parser.add_argument('--env_processes', type=parse_bool, default=None,
                      metavar='true|false',
                      help='Step the training envs in worker processes.')
  parser.add_argument('--list', action='store_true',
                      help='List the configs and what each trains.')
  parser.add_argument('--quiet', action='store_true', help='No progress bar.')
  return parser


def resolve_config(args: argparse.Namespace, run_dir: str) -> tuple[AttrDict, bool]:
  """The run's config: saved (when resuming) or named, then the overrides."""
  saved = os.path.join(run_dir, 'config.yaml')
  resume = os.path.exists(saved)
  if resume:
    with open(saved) as stream:
      config = AttrDict.from_yaml(stream.read())
  else:
    config = configs.get(args.config)
  overrides = list(args.overrides)
  if args.seed is not None:
    overrides.append(f'seed={args.seed}')
  if args.env_processes is not None:
    overrides.append(f'env_processes={str(args.env_processes).lower()}')
  return apply_overrides(config, overrides), resume


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
    for name, description in configs.describe():
      print(f'{name:20s} {description}')
    return 0
  if not args.logdir or not args.config:
    parser.error('--logdir and --config are required (or --list).')
  try:
    configs.get(args.config)  # An unknown name fails before anything is written.
    timestamp = args.timestamp or datetime.datetime.now().strftime('%Y%m%dT%H%M%S')
    run_dir = prepare_run_dir(args.logdir, f'{timestamp}-{args.config}')
    config, resume = resolve_config(args, run_dir)
    from agents.scripts import training
    return training.run(config, run_dir, args.config, timestamp, args.logdir,
                        resume=resume, quiet=args.quiet)
  except (UsageError, configs.ConfigError) as error:
    print(f'error: {error}', file=sys.stderr)
    return 2


if __name__ == '__main__':
  sys.exit(main())
