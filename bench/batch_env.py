"""Env-steps/s of the host batch backends on Pendulum-v1, all in one run.

    python bench/batch_env.py [--seconds 2]

Prints a table, then one JSON line with inprocess_N, process_N, worker_N,
gymnasium_sync_N and gymnasium_async_N for N in 8 and 32.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np

from agents.tools import make_batch_env


def pendulum() -> gym.Env:
  return gym.make('Pendulum-v1')


def rate(step, num_envs: int, seconds: float) -> float:
  actions = np.random.RandomState(0).uniform(-2, 2, (64, num_envs, 1)).astype(np.float32)
  for i in range(20):
    step(actions[i % 64])
  count, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    for _ in range(20):
      step(actions[count % 64])
      count += 1
  return count * num_envs / (time.perf_counter() - start)


def measure(num_envs: int, seconds: float) -> dict[str, float]:
  results = {}
  for backend in ('inprocess', 'process', 'worker'):
    env = make_batch_env(pendulum, num_envs, backend)
    try:
      env.reset(seeds=list(range(num_envs)))
      results[f'{backend}_{num_envs}'] = rate(env.step, num_envs, seconds)
    finally:
      env.close()
  for name, cls in (('gymnasium_sync', gym.vector.SyncVectorEnv),
                    ('gymnasium_async', gym.vector.AsyncVectorEnv)):
    env = cls([pendulum] * num_envs)
    try:
      env.reset(seed=0)
      results[f'{name}_{num_envs}'] = rate(env.step, num_envs, seconds)
    finally:
      env.close()
  return results


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--seconds', type=float, default=2.0)
  args = parser.parse_args()
  results = {}
  for num_envs in (8, 32):
    results.update(measure(num_envs, args.seconds))
  print(f"{'backend':20s} {'8 envs':>12s} {'32 envs':>12s}")
  for name in ('inprocess', 'process', 'worker', 'gymnasium_sync', 'gymnasium_async'):
    print(f'{name:20s} {results[f"{name}_8"]:12,.0f} {results[f"{name}_32"]:12,.0f}')
  ratio = results['worker_8'] / results['gymnasium_async_8']
  print(f'worker_8 / gymnasium_async_8 = {ratio:.2f}')
  print(json.dumps({k: round(v) for k, v in results.items()}))


if __name__ == '__main__':
  main()
