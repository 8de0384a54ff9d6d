"""A hard kill never loses a run: SIGKILL training at random moments, resume each time.

    python bench/kill_test.py [--kills 24] [--config pendulum_jax] [--seed 0]

Starts `agents.scripts.train` with a checkpoint after every call, kills it
with SIGKILL (every other kill after a random delay, the others the moment a
checkpoint's temporary file appears, i.e. inside a checkpoint write), and
starts it again with the same --timestamp. Each start that got as
far as resuming must resume from the newest intact checkpoint on disk before
it started (digests verified here, independently of the program). At the end
the run trains to completion, and its metrics.jsonl must be strict JSON with
one train report per step. Prints a summary and exits non-zero on any miss.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

from agents.run import checkpoint

RESUMED = re.compile(r'Resuming .* from step ([\d,]+) ')


def newest_intact(directory: str) -> int:
  """Step of the newest checkpoint whose digest matches (0: none)."""
  for step, path in reversed(checkpoint.list_checkpoints(directory)):
    try:
      checkpoint.read_payload(path)
      return step
    except checkpoint.CorruptCheckpoint:
      continue
  return 0


def wait_until(process: subprocess.Popen, deadline: float) -> None:
  try:
    process.wait(timeout=max(0.0, deadline - time.time()))
  except subprocess.TimeoutExpired:
    pass


def wait_for_write(directory: str, process: subprocess.Popen, start: float,
                   deadline: float) -> None:
  """Return as soon as a checkpoint's temporary file exists (after `start`)."""
  wait_until(process, start)
  while time.time() < deadline and process.poll() is None:
    if os.path.isdir(directory) and any(
        '.tmp-' in name for name in os.listdir(directory)):
      return
    time.sleep(0.0002)


def command(logdir: str, config: str, seed: int, steps: int) -> list[str]:
  return [sys.executable, '-m', 'agents.scripts.train', f'--logdir={logdir}',
          f'--config={config}', '--timestamp=kill', f'--seed={seed}', '--quiet',
          '--set', f'steps={steps}', '--set', 'checkpoint_every=1',
          '--set', 'eval_every=32768']


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--kills', type=int, default=24)
  parser.add_argument('--config', default='pendulum_jax')
  parser.add_argument('--steps', type=int, default=4_194_304)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--min_delay', type=float, default=3.0)
  parser.add_argument('--max_delay', type=float, default=9.0)
  args = parser.parse_args()
  rng = random.Random(args.seed)
  logdir = tempfile.mkdtemp(prefix='kill-test-')
  run_dir = os.path.join(logdir, f'kill-{args.config}')
  checkpoints = os.path.join(run_dir, 'checkpoints')
  cmd = command(logdir, args.config, args.seed, args.steps)
  verified = not_reached = mid_write = misses = finished_early = 0
  for kill in range(args.kills):
    expected = newest_intact(checkpoints)
    log_path = os.path.join(logdir, f'stderr-{kill}.txt')
    with open(log_path, 'w') as log:
      process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
      started = time.time()
      if kill == 0:  # The first start may compile for long: wait for a checkpoint.
        while not checkpoint.list_checkpoints(checkpoints) and process.poll() is None:
          time.sleep(0.05)
      delay = rng.uniform(args.min_delay, args.max_delay)
      if kill % 2:  # Aim at a checkpoint write: kill when a temporary file shows.
        wait_for_write(checkpoints, process, started + args.min_delay,
                       started + args.max_delay)
      else:
        wait_until(process, started + delay if kill else time.time() + rng.uniform(0, 3))
      delay = time.time() - started
      if process.poll() is not None:
        finished_early += 1
        print(f'kill {kill:2d}: the run finished before the kill; stopping.')
        break
      process.send_signal(signal.SIGKILL)
      process.wait()
    leftovers = [n for n in os.listdir(checkpoints) if '.tmp-' in n] if (
        os.path.isdir(checkpoints)) else []
    mid_write += bool(leftovers)
    text = open(log_path).read()
    match = RESUMED.search(text)
    if match is None:
      not_reached += 1
      outcome = 'killed before resuming' if expected else 'killed on the first start'
    else:
      resumed = int(match.group(1).replace(',', ''))
      ok = resumed == expected
      verified += ok
      misses += not ok
      outcome = f"resumed from {resumed:,} (newest intact {expected:,}): " + (
          'ok' if ok else 'MISS')
    print(f'kill {kill:2d} after {delay:4.1f} s: {outcome}; newest intact now '
          f'{newest_intact(checkpoints):,}' + ('; killed mid-write' if leftovers else ''),
          flush=True)
  final = subprocess.run(cmd, capture_output=True, text=True)
  done = final.returncode == 0 and f'Done at step {args.steps:,}' in final.stdout
  match = RESUMED.search(final.stderr)
  reports = []
  with open(os.path.join(run_dir, 'metrics.jsonl')) as stream:
    for line in stream:
      reports.append(json.loads(line, parse_constant=lambda c: 1 / 0))
  train_steps = [r['step'] for r in reports if r['phase'] == 'train']
  complete = (done and train_steps == sorted(set(train_steps)) and
              train_steps[-1] == args.steps)
  print(f'\n{args.kills} kills ({mid_write} during a checkpoint write, '
        f'{not_reached} before the program reached its resume): '
        f'{verified} resumes verified from the newest intact checkpoint, '
        f'{misses} misses.')
  print(f"final run: exit {final.returncode}, resumed from "
        f"{match.group(1) if match else '-'}, "
        f"{'complete' if complete else 'INCOMPLETE'} "
        f'({len(train_steps)} train reports, strictly increasing, last at '
        f'{train_steps[-1] if train_steps else 0:,}).')
  print(f'logs in {logdir}')
  return 0 if complete and not misses and not finished_early else 1


if __name__ == '__main__':
  start = time.time()
  code = main()
  print(f'{time.time() - start:.0f} s')
  sys.exit(code)
