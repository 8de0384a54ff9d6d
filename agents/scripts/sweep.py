r"""Seeds x hyper-parameter grids as Ray tasks, each a normal training run.

    python -m agents.scripts.sweep --logdir=./logdir --config=cheetah --seeds 0 1 2 \
        [--set learning_rate=1e-4,3e-4 ...] [--ray_address=HOST:PORT] [--cpus_per_run 1]

Each grid point x seed runs `python -m agents.scripts.train` (same checks, run
directory, lock, checkpoints) in a Ray task, in
`<logdir>/<timestamp>-<overrides>-seed<k>-<config>`. Without --ray_address a
local Ray instance is started (node address 127.0.0.1, dashboard off, Ray's
token authentication on) and shut down at the end, Ctrl-C included; it runs
as many runs at once as the CPUs allow. With an address it joins that
cluster; the runs write to --logdir on the node that runs them, so give a path
that every node shares. The same command with the same --timestamp skips
finished runs and resumes the others. A run that fails is reported with its
error; the others go on. Ends with a table (overrides, seed, final eval,
env-steps/s, wall) in `<timestamp>-<config>-sweep.md` and one learning-curve
PNG with a band per grid point, `<timestamp>-<config>-sweep.png`.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from typing import Any, Sequence

from agents import settings
from agents.errors import EXIT_FAILURE, EXIT_OK, AgentsError, Interrupted, UsageError
from agents.run import config_checks, logs
from agents.run.launch import read_saved_config
from agents.run.metrics_file import read_reports
from agents.run.run_dir import (CONFIG_FILE, METRICS_FILE, RunDir, check_name,
                                new_timestamp, write_atomic)
from agents.run.stop import StopSignals, signal_name
from agents.scripts import configs

INSTALL = "pip install -e '.[ray]'"


class SweepError(UsageError):
  """Bad input for the sweep; printed as one line."""


def split_values(text: str) -> list[str]:
  """'1e-4,3e-4' -> ['1e-4', '3e-4']; commas inside brackets stay ([64,64])."""
  values, depth, current = [], 0, ''
  for char in text:
    depth += char in '[{('
    depth -= char in ']})'
    if char == ',' and depth == 0:
      values.append(current)
      current = ''
    else:
      current += char
  values.append(current)
  return [value.strip() for value in values]


def grid(config_name: str, sets: Sequence[str]) -> list[dict[str, str]]:
  """The grid points: one dict of overrides (KEY -> text) per combination.

  Every point is parsed and validated as the training program would, before
  anything starts.
  """
  axes = []
  for item in sets:
    key, sep, text = item.partition('=')
    if not sep or not key.strip():
      raise SweepError(f"Malformed --set '{item}': expected KEY=V1,V2,...")
    axes.append([(key.strip(), value) for value in split_values(text)])
  points = [dict(combination) for combination in itertools.product(*axes)]
  base_catalog = configs.catalog()
  base = base_catalog.config(config_name)
  for point in points:
    config = config_checks.apply_overrides(
        base, [f'{key}={value}' for key, value in point.items()])
    config_checks.validate(config, base_catalog.network_names)
  return points


def varying(points: list[dict[str, str]]) -> list[str]:
  """The keys whose value differs between grid points (they name the runs)."""
  keys = list(points[0]) if points else []
  return [key for key in keys if len({point[key] for point in points}) > 1]


def label(point: dict[str, str], keys: Sequence[str] | None = None) -> str:
  """A file-name-safe name of a grid point by its `keys` ('' for none)."""
  keys = list(point) if keys is None else keys
  text = ','.join(f'{key}={point[key]}' for key in keys)
  return re.sub(r'[^A-Za-z0-9._=,+-]', '_', text)


def run_timestamp(timestamp: str, name: str, seed: int) -> str:
  """The training program's --timestamp of one run (`name` its grid point's
  label): its directory is `<this>-<config>`, as for any run."""
  return '-'.join([timestamp] + ([name] if name else []) + [f'seed{seed}'])


@dataclasses.dataclass(frozen=True)
class RunResult:
  """How one run of the sweep ended (what a Ray task returns)."""
  code: int
  error: str | None = None
  wall_s: float | None = None
  final_eval: float | None = None
  steps_per_s: float | None = None


@dataclasses.dataclass(frozen=True)
class SweepRow:
  """One run of the grid: its point, seed and directory, and how it ended."""
  point: dict
  name: str
  seed: int
  run_dir: str
  result: RunResult | None = None

  @property
  def ok(self) -> bool:
    return self.result is not None and self.result.code == 0


def finished(run_dir: str) -> RunResult | None:
  """Final eval and speed of a run that trained and evaluated to its `steps`."""
  path = os.path.join(run_dir, METRICS_FILE)
  config_path = os.path.join(run_dir, CONFIG_FILE)
  if not (os.path.exists(path) and os.path.exists(config_path)):
    return None
  try:
    steps = read_saved_config(config_path).get('steps')
  except UsageError:
    return None
  reports = read_reports(path)
  train = [r for r in reports if r.phase == 'train']
  evals = [r for r in reports if r.phase == 'eval']
  # Done: trained to `steps` and evaluated there (a run can fail in its last eval).
  if not train or not evals or steps is None or min(train[-1].step, evals[-1].step) < steps:
    return None
  return RunResult(code=0, final_eval=evals[-1].mean_score,
                   steps_per_s=train[-1].step / max(train[-1].train_time, 1e-9))


def train_one(command: list[str], run_dir: str) -> RunResult:
  """Run one training program to its end (inside a Ray task); never raises.

  The program dies with the task's worker (PR_SET_PDEATHSIG), and a
  cancelled task interrupts it the way Ctrl-C does (checkpoint, exit 130).
  """
  def die_with_parent() -> None:
    import ctypes
    ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    # Ray's workers block and ignore SIGINT; the run must receive it.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGINT, signal.SIG_DFL)

  import tempfile
  start = time.time()
  with tempfile.TemporaryFile(mode='w+') as stderr:
    # A session of its own: only this function's SIGINT reaches the run.
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr,
                               text=True, preexec_fn=die_with_parent,
                               start_new_session=True)
    try:
      while process.poll() is None:   # Short waits: a cancel is seen between them.
        time.sleep(0.2)
    except BaseException:   # Cancelled: let the run save a checkpoint and stop.
      process.send_signal(signal.SIGINT)
      try:
        process.wait(timeout=60)
      except subprocess.TimeoutExpired:
        process.kill()
      raise
    stderr.seek(0)
    err = stderr.read()
  wall = time.time() - start
  if process.returncode != 0:
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith('error:')]
    error = (errors or lines or [f'exit code {process.returncode}'])[-1]
    return RunResult(process.returncode, error, wall)
  done = finished(run_dir) or RunResult(0)
  return dataclasses.replace(done, wall_s=wall)


def start_ray(address: str | None) -> Any:
  """Import Ray and connect: to `address`, or to a new local instance."""
  try:
    import ray
  except ImportError:
    raise SweepError(f'sweep runs on Ray, which is not installed: {INSTALL}') from None
  if address:
    from agents.envs.ray_batch_env import init_ray
    try:
      init_ray(ray, address)
    except AgentsError as error:   # Unreachable, not Ray, or a bad token.
      raise SweepError(str(error)) from None
    return ray
  mode = settings.ray_auth_mode()
  if mode and mode != 'token':   # Ray's default for a local instance is token.
    print(f'warning: RAY_AUTH_MODE={mode}: the local Ray instance starts without '
          'token authentication, and its services listen on all interfaces.',
          file=sys.stderr)
  try:
    ray.init(_node_ip_address='127.0.0.1', include_dashboard=False,
             log_to_driver=False, configure_logging=False)
  except Exception as error:  # Ray raises several types when it cannot start.
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    raise SweepError(f'Ray could not start a local instance: {first}') from None
  return ray


def make_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m agents.scripts.sweep', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--logdir', required=True)
  parser.add_argument('--config', required=True)
  parser.add_argument('--seeds', type=int, nargs='+', default=[0])
  parser.add_argument('--set', dest='sets', action='append', default=[],
                      metavar='KEY=V1,V2', help='A grid axis, repeatable.')
  parser.add_argument('--timestamp', default=None,
                      help='Sweep name prefix (default: now); the same one resumes.')
  parser.add_argument('--ray_address', default=None,
                      help='Join this Ray cluster instead of starting one.')
  parser.add_argument('--cpus_per_run', type=float, default=1.0)
  return parser


def main(argv: Sequence[str] | None = None) -> int:
  args = make_parser().parse_args(argv)
  logs.to_console()
  with StopSignals() as stop:   # SIGINT and SIGTERM, from the start on.
    try:
      settings.check()
      timestamp = check_name(args.timestamp) if args.timestamp else new_timestamp()
      points = grid(args.config, args.sets)
      if not args.cpus_per_run > 0:
        raise SweepError(f'--cpus_per_run must be > 0, got {args.cpus_per_run:g}.')
      ray = start_ray(args.ray_address)
      _check_cpus(ray, args.cpus_per_run)
    except (SweepError, UsageError) as error:
      print(f'error: {error}', file=sys.stderr)
      return error.exit_code
    stop.reclaim()   # Ray installs signal handlers of its own.
    logdir = os.path.abspath(args.logdir)
    try:
      if stop.requested:
        raise Interrupted(stop.requested)
      results = _run_grid(ray, args, points, timestamp, logdir, stop)
    except Interrupted as error:
      print(f'Interrupted by {signal_name(error.signum)}; the runs that had started '
            'saved checkpoints. Resume with the same command and '
            f'--timestamp={timestamp}.', file=sys.stderr)
      return error.exit_code
    finally:
      ray.shutdown()
  return _summarize(results, args.config, timestamp, logdir)


def _check_cpus(ray: Any, cpus_per_run: float) -> None:
  """A run that asks for more CPUs than the cluster has would wait for ever."""
  cpus = float(ray.cluster_resources().get('CPU', 0))
  if cpus_per_run > cpus:
    ray.shutdown()
    raise SweepError(f'--cpus_per_run {cpus_per_run:g} is more than the {cpus:g} CPUs '
                     'Ray has here: no run could start. Ask for at most that many.')


def _run_grid(ray: Any, args: argparse.Namespace, points: list[dict],
              timestamp: str, logdir: str, stop: StopSignals) -> list[SweepRow]:
  task = ray.remote(num_cpus=args.cpus_per_run, max_retries=0)(train_one)
  pending, rows = {}, []
  keys = varying(points)
  for point in points:
    for seed in args.seeds:
      run_stamp = run_timestamp(timestamp, label(point, keys), seed)
      run_dir = RunDir(logdir, args.config, run_stamp)
      name = run_dir.name
      row = SweepRow(point, label(point, keys), seed, run_dir.path)
      done = finished(row.run_dir)
      if done:
        print(f'{name}: finished before, skipped.', file=sys.stderr)
        rows.append(dataclasses.replace(row, result=done))
        continue
      command = [sys.executable, '-m', 'agents.scripts.train', f'--logdir={logdir}',
                 f'--config={args.config}', f'--timestamp={run_stamp}',
                 f'--seed={seed}', '--quiet']
      for key, value in point.items():
        command += ['--set', f'{key}={value}']
      pending[task.remote(command, row.run_dir)] = row
  while pending:
    if stop.requested:   # Each cancelled task stops its run as Ctrl-C does.
      for ref in pending:
        ray.cancel(ref)
      ray.wait(list(pending), num_returns=len(pending), timeout=90)
      raise Interrupted(stop.requested)
    # Short waits, so that a stop is never held up.
    ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
    if ready:
      rows.append(_collect(ray, ready[0], pending.pop(ready[0])))
  return rows


def _collect(ray: Any, ref: Any, row: SweepRow) -> SweepRow:
  """The row of a finished task, said in one line."""
  try:
    result = ray.get(ref)
  except Exception as error:  # The task itself failed (e.g. a node died).
    result = RunResult(1, f'{type(error).__name__}: {error}')
  row = dataclasses.replace(row, result=result)
  status = 'done' if row.ok else f'FAILED ({result.error})'
  print(f'{os.path.basename(row.run_dir)}: {status}', file=sys.stderr)
  return row


def _summarize(rows: list[SweepRow], config: str, timestamp: str, logdir: str) -> int:
  table = '\n'.join(_table(rows))
  base = os.path.join(logdir, f'{timestamp}-{config}-sweep')
  write_atomic(f'{base}.md', table + '\n')
  from agents.scripts import plot
  runs = [row.run_dir for row in rows
          if os.path.exists(os.path.join(row.run_dir, METRICS_FILE))]
  if runs:
    names = {row.run_dir: row.name or config for row in rows}
    plot.plot_runs(runs, f'{base}.png', group=lambda run: names[run])
  print(table)
  print(f'Table and curves: {base}.md, {base}.png')
  return EXIT_OK if all(row.ok for row in rows) else EXIT_FAILURE


def _table(rows: list[SweepRow]) -> list[str]:
  """The markdown table of every run, then the median [min, max] per grid point."""
  lines = ['| overrides | seed | final eval | env-steps/s | wall s | status |',
           '| --- | ---: | ---: | ---: | ---: | --- |']
  number = lambda value, spec: '' if value is None else format(value, spec)
  by_point: dict[str, list[float]] = {}
  for row in sorted(rows, key=lambda r: (r.name, r.seed)):
    result = row.result or RunResult(1, 'not run')
    lines.append(
        f"| {row.name or '(config)'} | {row.seed} | {number(result.final_eval, ',.1f')} | "
        f"{number(result.steps_per_s, ',.0f')} | {number(result.wall_s, '.0f')} | "
        f"{'ok' if row.ok else result.error} |")
    if result.final_eval is not None:
      by_point.setdefault(row.name or '(config)', []).append(result.final_eval)
  lines += ['', '| overrides | final eval: median [min, max] |', '| --- | ---: |']
  lines += [f'| {name} | {statistics.median(v):,.1f} [{min(v):,.1f}, {max(v):,.1f}] |'
            for name, v in sorted(by_point.items())]
  return lines


if __name__ == '__main__':
  sys.exit(main())
