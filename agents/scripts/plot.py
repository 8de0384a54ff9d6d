r"""Learning curves: `python -m agents.scripts.plot --logdir=<dir of runs> --out=curves.png`.

Reads metrics.jsonl of every run below --logdir and draws the mean score
against training steps, train and eval side by side: one line per run, and a
shaded band (min to max) across the runs that share a config.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from typing import Callable, Sequence

import numpy as np
from agents.run.metrics_file import read_reports
from agents.errors import EXIT_FAILURE, EXIT_USAGE, StorageError
from agents.run.run_dir import METRICS_FILE, config_name_of


def find_runs(logdir: str) -> list[str]:
  """Every directory below `logdir` (itself included) with a metrics.jsonl."""
  runs, seen = [], set()
  for root, dirs, files in os.walk(logdir, followlinks=True):
    real = os.path.realpath(root)
    if real in seen:   # A symlink to a run already found, or a loop.
      dirs[:] = []
      continue
    seen.add(real)
    if METRICS_FILE in files:
      runs.append(root)
  return sorted(runs)


def config_name(run_dir: str) -> str:
  return config_name_of(run_dir)


def read_curves(run_dir: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """phase -> (steps, mean scores) of one run; later lines win on resume."""
  points: dict[str, dict[int, float]] = collections.defaultdict(dict)
  for report in read_reports(os.path.join(run_dir, METRICS_FILE)):
    if report.mean_score is not None:
      points[report.phase][report.step] = float(report.mean_score)
  return {phase: (np.array(sorted(p)), np.array([p[s] for s in sorted(p)]))
          for phase, p in points.items()}


def plot(logdir: str, out: str) -> int:
  """Draw the curves of every run below `logdir` into `out`, a band per config;
  returns the number of runs drawn."""
  runs = find_runs(logdir)
  if not runs:
    raise FileNotFoundError(f"No run with a metrics.jsonl below '{logdir}'.")
  return plot_runs(runs, out, group=config_name)


def plot_runs(runs: Sequence[str], out: str,
              group: Callable[[str], str] = config_name) -> int:
  """Draw these runs into `out`, one band per `group(run)`."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  phases = ('train', 'eval')
  figure, axes = plt.subplots(1, len(phases), figsize=(11, 4), squeeze=False)
  groups: dict[str, list[str]] = collections.defaultdict(list)
  for run in runs:
    groups[group(run)].append(run)
  colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
  for index, (name, members) in enumerate(sorted(groups.items())):
    color = colors[index % len(colors)]
    for axis, phase in zip(axes[0], phases):
      curves = [read_curves(run).get(phase) for run in members]
      curves = [c for c in curves if c is not None and len(c[0])]
      for number, (steps, scores) in enumerate(curves):
        label = f'{name} ({len(members)} runs)' if number == 0 and len(members) > 1 else (
            name if number == 0 else None)
        axis.plot(steps, scores, color=color, linewidth=1.2, label=label)
      if len(curves) > 1:
        grid = np.unique(np.concatenate([steps for steps, _ in curves]))
        grid = grid[(grid >= max(s[0] for s, _ in curves)) &
                    (grid <= min(s[-1] for s, _ in curves))]
        if len(grid):
          values = np.stack([np.interp(grid, s, v) for s, v in curves])
          axis.fill_between(grid, values.min(0), values.max(0), color=color,
                            alpha=0.2, linewidth=0)
  for axis, phase in zip(axes[0], phases):
    axis.set_title(f'{phase} mean score')
    axis.set_xlabel('training env-steps')
    axis.grid(alpha=0.3)
    if axis.get_legend_handles_labels()[0]:
      axis.legend(fontsize=8)
  figure.tight_layout()
  try:
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    figure.savefig(out, dpi=100)
  except OSError as error:
    raise StorageError(f'cannot write {out}: {error.strerror or error}') from None
  finally:
    plt.close(figure)
  return len(runs)


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m agents.scripts.plot',
                                   description=__doc__)
  parser.add_argument('--logdir', required=True, help='Directory of runs.')
  parser.add_argument('--out', default='curves.png', help='PNG to write.')
  args = parser.parse_args(argv)
  if os.path.isdir(args.out):
    print(f"error: --out '{args.out}' is a directory; give a file name such as "
          f"{os.path.join(args.out, 'curves.png')}.", file=sys.stderr)
    return EXIT_USAGE
  out = args.out if os.path.splitext(args.out)[1] else args.out + '.png'

  try:
    count = plot(args.logdir, out)
  except StorageError as error:
    print(f'error: {error}.', file=sys.stderr)
    return EXIT_FAILURE
  except FileNotFoundError as error:
    print(f'error: {error}', file=sys.stderr)
    return EXIT_USAGE
  except ValueError as error:   # matplotlib: an extension it cannot write.
    print(f'error: --out {out}: {error} (e.g. .png, .pdf, .svg).', file=sys.stderr)
    return EXIT_USAGE
  print(f'Wrote {out} ({count} runs).')
  return 0


if __name__ == '__main__':
  sys.exit(main())
