"""The locomotion suite: each config x seed trained as the training program does.

    python bench/locomotion.py [--configs reacher cheetah hopper walker ant] \\
        [--seeds 0 1 2] [--steps N] [--logdir bench/runs] [--set KEY=V ...]

Runs `python -m agents.scripts.train` once per config and seed (one at a
time: each run uses both cores), then writes `bench/locomotion.md` (median
and range of the final eval over seeds, every seed shown, training
env-steps/s, compile seconds, wall seconds) and one learning-curve PNG per
config, `bench/curves-<config>.png` (the plot program's bands over seeds).
Runs already finished in --logdir are reused, so an interrupted suite resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(config: str, seed: int, logdir: str, steps: int | None,
        overrides: list[str]) -> dict:
  run_dir = os.path.join(logdir, f'seed{seed}-{config}')
  result_path = os.path.join(run_dir, 'bench.json')
  if os.path.exists(result_path):
    with open(result_path) as stream:
      return json.load(stream)
  command = [sys.executable, '-m', 'agents.scripts.train', f'--logdir={logdir}',
             f'--config={config}', f'--timestamp=seed{seed}', f'--seed={seed}', '--quiet']
  if steps:
    command += ['--set', f'steps={steps}']
  for override in overrides:
    command += ['--set', override]
  start = time.time()
  subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
  wall = time.time() - start
  with open(os.path.join(run_dir, 'metrics.jsonl')) as stream:
    reports = [json.loads(line) for line in stream]
  evals = [r for r in reports if r['phase'] == 'eval' and r['mean_score'] is not None]
  train = [r for r in reports if r['phase'] == 'train']
  result = {
      'config': config, 'seed': seed, 'final_eval': evals[-1]['mean_score'],
      'best_eval': max(r['mean_score'] for r in evals),
      'steps': train[-1]['step'],
      'steps_per_s': train[-1]['step'] / train[-1]['train_time'],
      'compile_s': reports[-1]['compile_time'], 'wall_s': wall,
  }
  with open(result_path, 'w') as stream:
    json.dump(result, stream)
  return result


def table(results: list[dict], configs: list[str]) -> str:
  lines = ['| config | final eval: median [min, max] | per seed | best eval (median) | '
           'train env-steps/s | compile s | wall s |',
           '| --- | ---: | --- | ---: | ---: | ---: | ---: |']
  for config in configs:
    mine = [r for r in results if r['config'] == config]
    if not mine:
      continue
    finals = [r['final_eval'] for r in mine]
    median = lambda key: statistics.median(r[key] for r in mine)
    per_seed = ' '.join(f"{r['final_eval']:,.1f}" for r in mine)
    lines.append(
        f"| `{config}` | {statistics.median(finals):,.1f} [{min(finals):,.1f}, "
        f"{max(finals):,.1f}] | {per_seed} | {median('best_eval'):,.1f} | "
        f"{median('steps_per_s'):,.0f} | {median('compile_s'):.1f} | "
        f"{median('wall_s'):.0f} |")
  return '\n'.join(lines)


def _without_paths(argv: list[str]) -> list[str]:
  """The arguments without the options that name local paths."""
  kept, skip = [], False
  for arg in argv:
    if skip:
      skip = False
      continue
    if arg in ('--logdir', '--out', '--combined'):
      skip = True
      continue
    if not arg.startswith(('--logdir=', '--out=', '--combined=')):
      kept.append(arg)
  return kept


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--configs', nargs='+',
                      default=['reacher', 'cheetah', 'hopper', 'walker', 'ant'])
  parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
  parser.add_argument('--steps', type=int, default=None)
  parser.add_argument('--logdir', default=os.path.join(HERE, 'runs'))
  parser.add_argument('--out', default=HERE, help='Where the table and PNGs go.')
  parser.add_argument('--set', dest='overrides', action='append', default=[])
  parser.add_argument('--combined', default=None,
                      help='Also draw every config into this one PNG (e.g. to '
                           'compare a feed-forward and a recurrent config).')
  parser.add_argument('--name', default='locomotion',
                      help='The table is written to <out>/<name>.md.')
  args = parser.parse_args()
  sys.path.insert(0, os.path.dirname(HERE))
  from agents.scripts import plot
  results = []
  for config in args.configs:
    for seed in args.seeds:
      result = run(config, seed, args.logdir, args.steps, args.overrides)
      results.append(result)
      print(f"{config:10s} seed {seed}: final eval {result['final_eval']:9,.1f} "
            f"(best {result['best_eval']:,.1f}) at {result['steps']:,} steps, "
            f"{result['steps_per_s']:,.0f} env-steps/s, compile "
            f"{result['compile_s']:.1f} s, wall {result['wall_s']:.0f} s", flush=True)
    runs = os.path.join(args.logdir, f'{config}-curves')
    os.makedirs(runs, exist_ok=True)
    for seed in args.seeds:  # The plot program groups the runs found below a folder.
      link = os.path.join(runs, f'seed{seed}')
      if not os.path.exists(link):
        os.symlink(os.path.join(args.logdir, f'seed{seed}-{config}'), link)
    plot.plot(runs, os.path.join(args.out, f'curves-{config}.png'))
  if args.combined:
    together = os.path.join(args.logdir, '-'.join(args.configs) + '-curves')
    os.makedirs(together, exist_ok=True)
    for config in args.configs:
      for seed in args.seeds:
        link = os.path.join(together, f'{config}-seed{seed}')
        if not os.path.exists(link):
          os.symlink(os.path.join(args.logdir, f'seed{seed}-{config}'), link)
    plot.plot(together, args.combined)
  markdown = table(results, args.configs)
  command = 'python bench/locomotion.py ' + ' '.join(_without_paths(sys.argv[1:]))
  with open(os.path.join(args.out, f'{args.name}.md'), 'w') as stream:
    stream.write(f'Made by `{command.strip()}`.\n\n{markdown}\n')
  print(markdown)


if __name__ == '__main__':
  main()
