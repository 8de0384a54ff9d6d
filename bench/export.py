"""Exported policies against load_policy: returns on the evaluation episodes and
the time of one ONNX step.

    python bench/export.py --logdir=./logdir/<time>-pendulum [--episodes 10]
    python bench/export.py --config=pendulum --steps=131072      # trains first

For each run: the return of each evaluation episode (reset seeds eval_seed + i)
under `agents.load_policy` and under onnxruntime with the exported file, each
policy acting on its own episode (so a difference would show as a different
return), and the median time of one onnxruntime call on one observation.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np

import agents
from agents.scripts import export


def episode_return(act, env, seed: int) -> float:
  observ, _ = env.reset(seed=seed)
  total, done = 0.0, False
  while not done:
    observ, reward, terminated, truncated, _ = env.step(act(observ))
    total, done = total + float(reward), terminated or truncated
  return total


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--logdir', default=None)
  parser.add_argument('--config', default='pendulum')
  parser.add_argument('--steps', type=int, default=131_072)
  parser.add_argument('--episodes', type=int, default=10)
  args = parser.parse_args()
  import onnxruntime
  run_dir = args.logdir or agents.train(
      args.config, logdir=tempfile.mkdtemp(prefix='export-bench-'), steps=args.steps).run_dir
  out = os.path.join(tempfile.mkdtemp(prefix='export-'), 'policy.onnx')
  start = time.perf_counter()
  assert export.main(['--logdir', run_dir, '--format', 'onnx', '--out', out]) == 0
  export_s = time.perf_counter() - start
  policy = agents.load_policy(run_dir)
  options = onnxruntime.SessionOptions()
  options.intra_op_num_threads = 1
  session = onnxruntime.InferenceSession(out, options)

  def onnx_act(observ):
    return session.run(None, {'observation': observ[None].astype(np.float32)})[0][0]

  env = policy.make_env()
  seeds = [policy.config.eval_seed + i for i in range(args.episodes)]
  jax_returns = [episode_return(policy, env, seed) for seed in seeds]
  onnx_returns = [episode_return(onnx_act, env, seed) for seed in seeds]
  observ, _ = env.reset(seed=seeds[0])
  times = []
  for _ in range(2000):
    begin = time.perf_counter()
    onnx_act(observ)
    times.append(time.perf_counter() - begin)
  result = {
      'run_dir': run_dir, 'episodes': args.episodes, 'export_s': export_s,
      'load_policy_returns': jax_returns, 'onnx_returns': onnx_returns,
      'max_relative_difference': max(abs(a - b) / max(abs(a), 1e-9)
                                     for a, b in zip(jax_returns, onnx_returns)),
      'onnx_step_us_median': statistics.median(times) * 1e6,
  }
  for seed, a, b in zip(seeds, jax_returns, onnx_returns):
    print(f'seed {seed}: load_policy {a:10.2f}   onnxruntime {b:10.2f}')
  print(f"one ONNX step (batch 1, one thread): {result['onnx_step_us_median']:.1f} us median")
  print(json.dumps(result))


if __name__ == '__main__':
  main()
