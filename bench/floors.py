"""The floors of `pendulum` / `pendulum_jax` training on this machine, in one run.

    python bench/floors.py [--repeats 30] [--cpu_threads 1|none]

Each line times one piece of a `pendulum` / `pendulum_jax` iteration (a rollout
of num_agents x update_every steps and its update) alone, steady state, median
of `--repeats` (compile time excluded):

- update: PPO's whole compiled update (`PPO._train`: values, GAE, the epochs of
  minibatch steps, the closing KL, normalizers, the non-finite check) on a
  rollout of random data, against the bare math of its minibatch loop (the
  same two tanh MLPs, the same clipped loss, global-norm clip and Adam, one
  `lax.scan` over the same pre-shuffled minibatches, nothing else);
- host env: the config's Gymnasium envs stepped in a plain Python loop, and
  through `BatchEnv` (wrappers, contract checks, stacking);
- step in the program: one fused simulate step of PPO (policy, sampling, the
  rollout write), with the host env bridged in (`InGraphBatchEnv`, envs
  replaced by a no-op that returns fixed arrays) and with gymnax's Pendulum;
  the update is not in these.

JAX's CPU backend starts with `--cpu_threads` compute threads, as training's
`cpu_threads` does (default 1; `none`: one per core, JAX's default).

The last lines are the ceilings these imply: training env-steps/s if nothing
but the env stepping and the update ran (host) or nothing but the fused steps
and the update (in the program). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable

import flax.linen as nn
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax

from agents.core import simulate
from agents.run import build, cpu_backend
from agents.scripts import configs


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
  """Median wall time of `fn()` (blocked until its results are ready), in ms."""
  jax.block_until_ready(fn())
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return float(np.median(times)) * 1e3


def _random_like(tree: Any, key: jax.Array) -> Any:
  """Random floats (and rare True flags) of the tree's shapes: a rollout to train on."""
  leaves, treedef = jax.tree_util.tree_flatten(tree)
  keys = jax.random.split(key, len(leaves))
  def fill(x, k):
    if x.dtype == jnp.bool_:
      return jax.random.bernoulli(k, 0.01, x.shape)
    if jnp.issubdtype(x.dtype, jnp.floating):
      return 0.5 * jax.random.normal(k, x.shape, x.dtype)
    return x
  return treedef.unflatten([fill(x, k) for x, k in zip(leaves, keys)])


def ppo_update_ms(config: Any, repeats: int) -> float:
  """PPO's compiled update on a random rollout of the config's shapes."""
  env = build.gymnax_env(config, config.num_agents)
  algorithm = build.algorithm(config, env.spec, configs.catalog())
  state = algorithm.init(jax.random.PRNGKey(0), env.spec, config.num_agents)
  rollout = _random_like(state.rollout, jax.random.PRNGKey(1))
  policy = rollout.policy.replace(std=jnp.abs(rollout.policy.std) + 0.5)
  state = state.replace(rollout=rollout.replace(policy=policy))
  train = jax.jit(algorithm._train)   # The update alone, without its lax.cond.
  return median_ms(lambda: train(state), repeats)


class _MLP(nn.Module):
  layers: tuple[int, ...]
  outputs: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for size in self.layers:
      x = nn.tanh(nn.Dense(size)(x))
    return nn.Dense(self.outputs)(x)


def bare_update_ms(config: Any, observ_size: int, action_size: int,
                   repeats: int) -> float:
  """The minibatch loop's math alone: forward, backward, clip and Adam of the
  config's two MLPs over epochs x minibatches, pre-shuffled, in one scan."""
  policy = _MLP(tuple(config.policy_layers), action_size)
  value = _MLP(tuple(config.value_layers), 1)
  count = config.update_epochs * config.num_minibatches
  size = config.num_agents * config.update_every // config.num_minibatches
  keys = jax.random.split(jax.random.PRNGKey(0), 6)
  observ = jnp.zeros((1, observ_size))
  params = {'policy': policy.init(keys[0], observ), 'value': value.init(keys[1], observ),
            'log_std': jnp.zeros(action_size)}
  optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm or 1e9),
                          optax.adam(config.learning_rate, eps=1e-5))
  data = (jax.random.normal(keys[2], (count, size, observ_size)),
          jax.random.normal(keys[3], (count, size, action_size)),
          jax.random.normal(keys[4], (count, size)),     # Old log-probabilities.
          jax.random.normal(keys[5], (count, size)))     # Advantages (and returns).

  def loss(params, batch):
    observ, action, old_log_prob, advantage = batch
    mean = policy.apply(params['policy'], observ)
    log_std = params['log_std']
    log_prob = jnp.sum(-0.5 * ((action - mean) / jnp.exp(log_std)) ** 2 - log_std, -1)
    ratio = jnp.exp(log_prob - old_log_prob)
    clipped = jnp.clip(ratio, 1 - config.clip_epsilon, 1 + config.clip_epsilon)
    policy_loss = -jnp.minimum(ratio * advantage, clipped * advantage).mean()
    value_loss = jnp.mean((value.apply(params['value'], observ)[:, 0] - advantage) ** 2)
    entropy = jnp.sum(log_std)
    return policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy

  def step(carry, batch):
    params, opt_state = carry
    grads = jax.grad(loss)(params, batch)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  run = jax.jit(lambda carry: jax.lax.scan(step, carry, data)[0])
  carry = (params, optimizer.init(params))
  return median_ms(lambda: run(carry), repeats)


def host_env_ms(config: Any, repeats: int) -> tuple[float, float]:
  """One batch step of the config's Gymnasium envs: a plain loop, and BatchEnv."""
  env = build.train_env(config)
  batch = env.batch_env
  envs = [gym.make(config.env) for _ in range(config.num_agents)]
  for index, single in enumerate(envs):
    single.reset(seed=index)
  actions = np.zeros((config.num_agents,) + env.spec.action_shape, np.float32)
  def plain():
    for single, action in zip(envs, actions):
      _, _, terminated, truncated, _ = single.step(action)
      if terminated or truncated:
        single.reset()
  batch.reset(np.arange(config.num_agents))
  steps = 100
  plain_ms = median_ms(lambda: [plain() for _ in range(steps)], repeats) / steps
  batch_ms = median_ms(lambda: [batch.step(actions) for _ in range(steps)],
                       repeats) / steps
  batch.close()
  return plain_ms, batch_ms


def program_step_ms(config: Any, repeats: int, noop_host: bool) -> float:
  """One fused simulate step of PPO in a scan of update_every - 1 steps (so no
  update runs): the host bridge with a no-op env, or gymnax's env."""
  env = build.train_env(config)
  if noop_host:
    batch = env.batch_env
    observ = np.zeros((config.num_agents,) + env.spec.observ_shape, np.float32)
    flags = np.zeros(config.num_agents, bool)
    result = (observ, np.zeros(config.num_agents, np.float32), flags, flags,
              [{}] * config.num_agents)
    batch.step = lambda actions: result
    batch.reset = lambda indices, seeds=None: observ[:len(indices)]
  algorithm = build.algorithm(config, env.spec, configs.catalog())
  algo_state = algorithm.init(jax.random.PRNGKey(0), env.spec, config.num_agents)
  run = simulate.make_run(env, algorithm, training=True)
  state = simulate.init_state(env, algo_state, jax.random.PRNGKey(1))
  steps = config.update_every - 1
  keys = jax.random.split(jax.random.PRNGKey(2), steps)
  return median_ms(lambda: run(state, keys), repeats) / steps


_LINES = [
    ('update_ms', 'PPO update (values, GAE, minibatch loop, KL, normalizers)', 'ms'),
    ('bare_update_ms', 'bare minibatch loop (same networks, loss, clip, Adam)', 'ms'),
    ('host_plain_step_ms', 'host envs, plain Python loop, per batch step', 'ms'),
    ('host_batch_step_ms', 'host envs through BatchEnv, per batch step', 'ms'),
    ('host_program_step_ms', 'fused PPO step, host bridge with a no-op env', 'ms'),
    ('gymnax_program_step_ms', 'fused PPO step, gymnax env', 'ms'),
    ('host_cap', 'ceiling, host: plain env loop + update', 'env-steps/s'),
    ('in_graph_cap', 'ceiling, in the program: fused steps + update', 'env-steps/s'),
    ('bare_cap', 'ceiling of the bare update alone', 'env-steps/s'),
]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--repeats', type=int, default=30)
  parser.add_argument('--cpu_threads', default='1',
                      help="XLA:CPU compute threads; 'none': one per core")
  args = parser.parse_args()
  cpu_backend.start(threads=None if args.cpu_threads == 'none' else int(args.cpu_threads))
  catalog = configs.catalog()
  config, in_graph = catalog.config('pendulum'), catalog.config('pendulum_jax')
  spec = build.gymnax_env(in_graph, 1).spec
  observ_size, action_size = int(np.prod(spec.observ_shape)), int(np.prod(spec.action_shape))
  rollout = config.num_agents * config.update_every
  row = {}
  row['update_ms'] = ppo_update_ms(in_graph, args.repeats)
  row['bare_update_ms'] = bare_update_ms(in_graph, observ_size, action_size, args.repeats)
  row['host_plain_step_ms'], row['host_batch_step_ms'] = host_env_ms(config, args.repeats)
  row['host_program_step_ms'] = program_step_ms(config, args.repeats, noop_host=True)
  row['gymnax_program_step_ms'] = program_step_ms(in_graph, args.repeats, noop_host=False)
  steps = config.update_every
  row['host_cap'] = rollout / (steps * row['host_plain_step_ms'] + row['update_ms']) * 1e3
  row['in_graph_cap'] = rollout / (steps * row['gymnax_program_step_ms'] +
                                   row['update_ms']) * 1e3
  row['bare_cap'] = rollout / row['bare_update_ms'] * 1e3
  print(f'rollout: {config.num_agents} envs x {steps} steps; update: '
        f'{config.update_epochs} epochs x {config.num_minibatches} minibatches')
  for key, label, unit in _LINES:
    number = f'{row[key]:,.0f}' if unit == 'env-steps/s' else f'{row[key]:.3f}'
    print(f'{label:<62} {number:>9} {unit}')
  print(json.dumps({key: round(value, 4) for key, value in row.items()}))


if __name__ == '__main__':
  main()
