r"""Train an agent: `python -m agents.scripts.train --logdir=./logdir --config=pendulum`.

Writes `<logdir>/<timestamp>-<config>/` with config.yaml, metrics.jsonl,
TensorBoard event files under train/ and eval/, and checkpoints/. Running
again with the same --timestamp resumes from the latest checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

import yaml

from agents import errors
from agents.core.reports import Report
from agents.run import config_checks, launch, logs
from agents.run.outcome import RunOutcome
from agents.run.stop import StopSignals
from agents.scripts import configs


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
  parser.add_argument('--track', choices=('wandb', 'mlflow'), default=None,
                      help='Also log to Weights & Biases or MLflow (as --set track=...).')
  parser.add_argument('--env_processes', type=parse_bool, default=None,
                      metavar='true|false',
                      help='Step the training envs in worker processes.')
  parser.add_argument('--list', action='store_true',
                      help='List the configs and what each trains.')
  parser.add_argument('--quiet', action='store_true', help='No progress bar.')
  return parser


class Progress:
  """A progress bar over training steps with speed and the latest scores."""

  def __init__(self, quiet: bool) -> None:
    self._quiet = quiet
    self._bar: Any = None
    self._scores: dict[str, float] = {}
    self._rate = 0.0

  def start(self, step: int, total: int) -> None:
    from tqdm import tqdm
    self._bar = tqdm(total=total, initial=step, unit='step', disable=self._quiet,
                     dynamic_ncols=True, mininterval=1.0, file=sys.stderr)

  def report(self, report: Report) -> None:
    if self._bar is None:
      return
    if report.mean_score is not None:
      self._scores[report.phase] = report.mean_score
    if report.phase == 'train' and report.steps_per_second is not None:
      self._rate = report.steps_per_second
    self._bar.update(report.step - self._bar.n)
    postfix = {f'{phase} score': f'{score:.1f}' for phase, score in self._scores.items()}
    postfix['env-steps/s'] = f'{self._rate:,.0f}'
    self._bar.set_postfix(postfix, refresh=False)

  def advance(self, step: int) -> None:
    """The step reached inside a long call (a slow env): the bar moves on."""
    if self._bar is not None and step > self._bar.n:
      self._bar.update(step - self._bar.n)

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()


def command_values(args: argparse.Namespace, catalog: Any) -> dict[str, Any]:
  """The typed config values that the command line sets."""
  values = config_checks.parse_overrides(catalog.config(args.config), args.overrides)
  if args.seed is not None:
    values['seed'] = args.seed
  if args.env_processes is not None:
    values['env_processes'] = args.env_processes
  if args.track is not None:
    values['track'] = args.track
  return values


def show(outcome: RunOutcome) -> None:
  """The outcome's one line: stdout when done, stderr otherwise."""
  if outcome.ok:
    print(outcome.message)
  elif outcome.code in (errors.EXIT_SIGINT, errors.EXIT_SIGTERM):
    print(outcome.message, file=sys.stderr)
  else:
    print(f'error: {outcome.message}', file=sys.stderr)


def _train(args: argparse.Namespace, catalog: Any, progress: Progress) -> list[RunOutcome]:
  values = command_values(args, catalog)
  if args.seeds:
    return launch.train_seeds(catalog, args.config, args.logdir, args.seeds,
                              args.timestamp, values, progress.report, progress.start,
                              progress.advance)
  return [launch.train_named(catalog, args.config, args.logdir, args.timestamp,
                             values, progress.report, progress.start, progress.advance)]


def main(argv: Sequence[str] | None = None) -> int:
  parser = make_parser()
  args = parser.parse_args(argv)
  if args.list:
    described = configs.catalog().describe()
    width = max(len(name) for name, _ in described)
    for name, description in described:
      print(f'{name:{width}s}  {description}')
    return 0
  if not args.logdir or not args.config:
    parser.error('--logdir and --config are required (or --list).')
  logs.to_console()
  # SIGINT and SIGTERM stop the run, start-up (importing JAX) included.
  with StopSignals():
    catalog = configs.catalog()
    progress = Progress(args.quiet)
    try:
      outcomes = _train(args, catalog, progress)
    except errors.AgentsError as error:
      print(f'error: {error}', file=sys.stderr)
      return errors.exit_code_of(error)
    finally:
      progress.close()
  for outcome in outcomes:
    show(outcome)
  return max(outcome.code for outcome in outcomes)


if __name__ == '__main__':
  sys.exit(main())
