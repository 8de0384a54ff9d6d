"""Env-steps/s of the host batch backends, all in one run.

    python bench/batch_env.py [--seconds 2]                              # Pendulum-v1, 8 and 32 envs
    python bench/batch_env.py --env HalfCheetah-v5 --sizes 16            # + EnvPool rows

Random actions. Prints a table, then one JSON line with inprocess_N,
process_N, worker_N, gymnasium_sync_N, gymnasium_async_N and, where EnvPool
is installed and has the task, envpool_1thread_N and envpool_2threads_N, and
where Ray is installed ray_N (2 actors on a local Ray instance).
"""

from __future__ import annotations

import argparse
import json
import time

import functools

import gymnasium as gym
import numpy as np

from agents.envs import make_batch_env


def make_env(env_id: str) -> gym.Env:
  from agents.envs import mujoco_noise
  if 'Cheetah' in env_id or 'v5' in env_id:
    mujoco_noise.install_warning_handler()
  return gym.make(env_id)


def rate(step, num_envs: int, seconds: float, space: gym.Space) -> float:
  low, high = np.maximum(space.low, -1), np.minimum(space.high, 1)
  actions = np.random.RandomState(0).uniform(
      low, high, (64, num_envs) + space.shape).astype(np.float32)
  for i in range(20):
    step(actions[i % 64])
  count, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    for _ in range(20):
      step(actions[count % 64])
      count += 1
  return count * num_envs / (time.perf_counter() - start)


def measure(env_id: str, num_envs: int, seconds: float) -> dict[str, float]:
  results = {}
  constructor = functools.partial(make_env, env_id)
  space = constructor().action_space
  for backend in ('inprocess', 'process', 'worker'):
    env = make_batch_env(constructor, num_envs, backend)
    try:
      env.reset(seeds=list(range(num_envs)))
      results[f'{backend}_{num_envs}'] = rate(env.step, num_envs, seconds, space)
    finally:
      env.close()
  for name, cls in (('gymnasium_sync', gym.vector.SyncVectorEnv),
                    ('gymnasium_async', gym.vector.AsyncVectorEnv)):
    env = cls([constructor] * num_envs)
    try:
      env.reset(seed=0)
      results[f'{name}_{num_envs}'] = rate(env.step, num_envs, seconds, space)
    finally:
      env.close()
  try:
    import ray  # noqa: F401
    env = make_batch_env(constructor, num_envs, 'ray')
    try:
      env.reset(seeds=list(range(num_envs)))
      results[f'ray_{num_envs}'] = rate(env.step, num_envs, seconds, space)
    finally:
      env.close()
  except ImportError:
    pass
  from agents.envs import envpool_env
  if envpool_env.available() and envpool_env.supports(env_id):
    for threads, name in ((1, 'envpool_1thread'), (2, 'envpool_2threads')):
      env = envpool_env.EnvPoolBatchEnv(env_id, num_envs, num_threads=threads)
      try:
        env.reset()
        results[f'{name}_{num_envs}'] = rate(env.step, num_envs, seconds, space)
      finally:
        env.close()
  return results


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--seconds', type=float, default=2.0)
  parser.add_argument('--env', default='Pendulum-v1')
  parser.add_argument('--sizes', nargs='+', type=int, default=[8, 32])
  args = parser.parse_args()
  results = {}
  for num_envs in args.sizes:
    results.update(measure(args.env, num_envs, args.seconds))
  print(f'{args.env}, env-steps/s')
  print(f"{'backend':20s}" + ''.join(f'{f"{n} envs":>12s}' for n in args.sizes))
  names = dict.fromkeys(key.rsplit('_', 1)[0] for key in results)
  for name in names:
    print(f'{name:20s}' + ''.join(f'{results.get(f"{name}_{n}", float("nan")):12,.0f}'
                                  for n in args.sizes))
  n = args.sizes[0]
  print(f'worker_{n} / gymnasium_async_{n} = '
        f'{results[f"worker_{n}"] / results[f"gymnasium_async_{n}"]:.2f}')
  if f'ray_{n}' in results:
    print(f'ray_{n} / worker_{n} = {results[f"ray_{n}"] / results[f"worker_{n}"]:.2f}')
  if f'envpool_2threads_{n}' in results:
    print(f'envpool_2threads_{n} / worker_{n} = '
          f'{results[f"envpool_2threads_{n}"] / results[f"worker_{n}"]:.2f}')
  print(json.dumps({k: round(v) for k, v in results.items()}))


if __name__ == '__main__':
  main()
