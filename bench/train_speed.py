"""Training speed and time to solve Pendulum (eval mean >= -200), per config.

    python bench/train_speed.py [--configs pendulum pendulum_jax] [--seeds 0 1 2]
    python bench/train_speed.py --configs pendulum_jax --together 4   # 4 seeds, one program
    python bench/train_speed.py --configs cheetah --set steps=131072 \
        --variant worker:env_backend=gymnasium,env_processes=true \
        --variant envpool:env_backend=envpool        # backends side by side
    git worktree add /tmp/before HEAD~5 && python bench/train_speed.py --code before=/tmp/before

Each run is `python -m agents.scripts.train` in its own process. Reported per
run: training env-steps/s (updates included; eval and JAX compile time
excluded, as the Loop reports them; also the rate without the first report
interval, as a check of that accounting), compile seconds, train seconds and
steps until the first eval >= -200, wall seconds until then (process start,
compile and evals included), the final eval score and the whole process's
wall time. Evaluation uses the reset seeds
10000..10009, the episodes the Stable-Baselines3 peer in bench/README.md was
evaluated on. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run(config: str, seed: int, logdir: str, extra: list[str],
        label: str = '', code: str | None = None) -> dict:
  """One training process; `code`: a checkout whose `agents` it runs (PYTHONPATH)."""
  start = time.time()
  timestamp = f"{label.replace(':', '-')}seed{seed}"
  env = dict(os.environ, PYTHONPATH=os.path.abspath(code)) if code else None
  subprocess.run([sys.executable, '-m', 'agents.scripts.train', '--logdir', logdir,
                  '--config', config, '--timestamp', timestamp, '--seed', str(seed),
                  '--quiet', *extra], check=True, stdout=subprocess.DEVNULL, env=env,
                 # Not from the checkout: `python -m` puts the working directory
                 # first on sys.path, ahead of PYTHONPATH, and its `agents` would win.
                 cwd=logdir)
  wall = time.time() - start
  with open(os.path.join(logdir, f'{timestamp}-{config}', 'metrics.jsonl')) as stream:
    reports = [json.loads(line) for line in stream]
  evals = [r for r in reports if r['phase'] == 'eval']
  train = [r for r in reports if r['phase'] == 'train']
  solved = next((r for r in evals if r['mean_score'] >= -200), None)
  if len(train) < 2:
    raise SystemExit(f'{config}: one training report only, so no rate after the first '
                     'one (which holds the compile); set report_every below steps, '
                     'e.g. --set report_every=1024.')
  first_train, last_train = train[0], train[-1]
  return {
      'config': f'{config}[{label}]' if label else config, 'seed': seed,
      'steps_per_s': last_train['step'] / last_train['train_time'],
      # A check on the compile accounting: the rate without the first report
      # interval, which holds the one-time compile.
      'steady_steps_per_s': (last_train['step'] - first_train['step']) / (
          last_train['train_time'] - first_train['train_time']),
      'compile_s': reports[-1]['compile_time'],
      'train_s_to_m200': solved['train_time'] if solved else None,
      'steps_to_m200': solved['step'] if solved else None,
      'wall_s_to_m200': solved['time'] if solved else None,
      'final_eval': evals[-1]['mean_score'], 'process_wall_s': wall,
  }


def run_together(config: str, seeds: int, logdir: str, extra: list[str]) -> dict:
  """`--seeds 0..n-1` in one process: the total env-steps/s of all seeds."""
  start = time.time()
  subprocess.run([sys.executable, '-m', 'agents.scripts.train', '--logdir', logdir,
                  '--config', config, '--timestamp', 'together', '--seeds',
                  *map(str, range(seeds)), '--quiet', *extra], check=True,
                 stdout=subprocess.DEVNULL)
  wall = time.time() - start
  finals, rates, steady = [], [], []
  for seed in range(seeds):
    path = os.path.join(logdir, f'together-{config}-seed{seed}', 'metrics.jsonl')
    with open(path) as stream:
      reports = [json.loads(line) for line in stream]
    train = [r for r in reports if r['phase'] == 'train']
    rates.append(train[-1]['step'] / train[-1]['train_time'])
    steady.append((train[-1]['step'] - train[0]['step']) /
                  (train[-1]['train_time'] - train[0]['train_time']))
    finals.append([r for r in reports if r['phase'] == 'eval'][-1]['mean_score'])
  return {'config': f'{config}[{seeds} seeds in one program]',
          'total_steps_per_s': sum(rates), 'total_steady_steps_per_s': sum(steady),
          'final_evals': finals,
          'compile_s': reports[-1]['compile_time'], 'process_wall_s': wall}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--configs', nargs='+', default=['pendulum', 'pendulum_jax'])
  parser.add_argument('--seeds', nargs='+', type=int, default=[0])
  parser.add_argument('--set', dest='overrides', action='append', default=[])
  parser.add_argument('--together', type=int, default=0, metavar='N',
                      help='Also train seeds 0..N-1 of each config in one program '
                           '(--seeds) and compare its total rate with one seed.')
  parser.add_argument('--variant', action='append', default=[],
                      metavar='LABEL:KEY=V,KEY=V',
                      help='Run each config once per variant, with these overrides.')
  parser.add_argument('--code', action='append', default=[], metavar='LABEL=DIR',
                      help='Also run the `agents` of another checkout (e.g. a git '
                           'worktree of an older commit), interleaved run by run.')
  args = parser.parse_args()
  extra = [item for override in args.overrides for item in ('--set', override)]
  variants = [(label, [item for pair in sets.split(',') if pair
                       for item in ('--set', pair)])
              for label, _, sets in (v.partition(':') for v in args.variant)]
  variants = variants or [('', [])]
  codes = [('', None)] + [tuple(item.split('=', 1)) for item in args.code]
  if args.code:
    codes[0] = ('this', None)
  results = []
  names = []
  with tempfile.TemporaryDirectory() as logdir:
    for config in args.configs:
      for label, sets in variants:
        for seed, (code_label, code) in ((s, c) for s in args.seeds for c in codes):
          name = f'{code_label}:{label}' if code_label else label
          result = run(config, seed, logdir, extra + sets, name, code)
          results.append(result)
          names.append(result['config'])
          print(f"{result['config']:14s} seed {seed}: {result['steps_per_s']:8,.0f} "
                f"env-steps/s ({result['steady_steps_per_s']:,.0f} after the first "
                f"report; compile {result['compile_s']:.1f} s), -200 after "
                f"{result['train_s_to_m200'] or float('nan'):.1f} s train / "
                f"{result['wall_s_to_m200'] or float('nan'):.1f} s wall "
                f"({result['steps_to_m200']} steps); final eval "
                f"{result['final_eval']:.1f}; whole run {result['process_wall_s']:.1f} s",
                flush=True)
    for config in args.configs if args.together else []:
      together = run_together(config, args.together, logdir, extra)
      single = statistics.median(r['steps_per_s'] for r in results
                                 if r['config'] == config)
      single_steady = statistics.median(r['steady_steps_per_s'] for r in results
                                        if r['config'] == config)
      together['ratio_to_one_seed'] = together['total_steps_per_s'] / single
      together['steady_ratio_to_one_seed'] = (
          together['total_steady_steps_per_s'] / single_steady)
      print(f"{together['config']}: {together['total_steps_per_s']:,.0f} env-steps/s "
            f"in total = {together['ratio_to_one_seed']:.2f} x one seed's "
            f"{single:,.0f} ({together['total_steady_steps_per_s']:,.0f} after the "
            f"first report = {together['steady_ratio_to_one_seed']:.2f} x "
            f"{single_steady:,.0f}); final evals "
            f"{' '.join(f'{x:.1f}' for x in together['final_evals'])}; compile "
            f"{together['compile_s']:.1f} s; whole run {together['process_wall_s']:.1f} s",
            flush=True)
  summary = {}
  for config in dict.fromkeys(names):
    mine = [r for r in results if r['config'] == config]
    for key in ('steps_per_s', 'steady_steps_per_s', 'compile_s', 'train_s_to_m200', 'wall_s_to_m200', 'final_eval',
                'process_wall_s'):
      values = [r[key] for r in mine if r[key] is not None]
      summary[f'{config}_{key}_median'] = statistics.median(values) if values else None
  print(json.dumps(summary))


if __name__ == '__main__':
  main()
