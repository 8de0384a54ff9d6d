"""Throughput of simulate with MockAlgorithm: fully in-graph (gymnax) and host path.

    python bench/simulate.py

The host path is compared with Gymnasium's SyncVectorEnv measured in the same
run (raw env steps, no policy). Last line: one JSON object.
"""

from __future__ import annotations

import json
import time

import gymnasium as gym
import jax
import numpy as np

from agents.envs import GymnaxEnv
from agents.envs import InGraphBatchEnv, make_batch_env
from agents.testing.mock_algorithm import MockAlgorithm
from agents.core.simulate import init_state, make_run


def simulate_rate(env, steps: int, repeats: int = 3) -> float:
  algorithm = MockAlgorithm()
  key = jax.random.PRNGKey(0)
  state = init_state(env, algorithm.init(key, env.spec, env.num_agents), key)
  run = make_run(env, algorithm, training=True)
  keys = jax.random.split(key, steps)
  state, output = run(state, keys)
  jax.block_until_ready(output)
  best = 0.0
  for _ in range(repeats):
    start = time.perf_counter()
    state, output = run(state, keys)
    jax.block_until_ready(output)
    best = max(best, steps * env.num_agents / (time.perf_counter() - start))
  return best


def sync_rate(num_envs: int, steps: int) -> float:
  env = gym.vector.SyncVectorEnv([lambda: gym.make('Pendulum-v1')] * num_envs)
  env.reset(seed=0)
  actions = np.zeros((num_envs, 1), np.float32)
  start = time.perf_counter()
  for _ in range(steps):
    env.step(actions)
  return steps * num_envs / (time.perf_counter() - start)


def main() -> None:
  results = {}
  for num_envs in (32, 256, 1024):
    env = GymnaxEnv('Pendulum-v1', num_envs)
    results[f'gymnax_{num_envs}'] = simulate_rate(env, 2000)
  for num_envs in (8, 32):
    batch = make_batch_env(lambda: gym.make('Pendulum-v1'), num_envs, 'inprocess')
    results[f'host_{num_envs}'] = simulate_rate(InGraphBatchEnv(batch), 1000)
    results[f'sync_{num_envs}'] = sync_rate(num_envs, 2000)
    results[f'host_over_sync_{num_envs}'] = (
        results[f'host_{num_envs}'] / results[f'sync_{num_envs}'])
  for name, value in results.items():
    text = f'{value:.2f}' if 'over' in name else f'{value:,.0f} env-steps/s'
    print(f'{name:22s} {text}')
  print(json.dumps({k: round(v, 3) for k, v in results.items()}))


if __name__ == '__main__':
  main()
