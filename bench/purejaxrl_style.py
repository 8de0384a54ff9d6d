"""PureJaxRL-style PPO (its `ppo.py` and `ppo_continuous_action.py` structure) for
bench/jax_envs_peer.py: the peer that agents' fused path is timed against.

Written here in PureJaxRL's shape, not copied: `make_train(settings, env)` returns
a pure `train(key)`; the env steps with its own auto-reset, vmapped over the
batch; one `lax.scan` over updates, each a scan of `env_step` over the rollout,
GAE by a reverse scan, then `update_epoch` / `update_minibatch` scans.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax


@dataclasses.dataclass(frozen=True)
class Settings:
  num_envs: int
  num_steps: int
  total_steps: int
  update_epochs: int
  num_minibatches: int
  learning_rate: float
  gamma: float
  gae_lambda: float
  clip: float
  entropy_coef: float
  value_coef: float
  max_grad_norm: float
  layers: tuple[int, ...]
  discrete: bool

  @property
  def num_updates(self) -> int:
    return self.total_steps // (self.num_envs * self.num_steps)


class Env(NamedTuple):
  """reset(key) -> (obs, state); step(key, state, action) -> (obs, state, reward, done),
  resetting by itself; the action space's size."""
  reset: Callable[..., Any]
  step: Callable[..., Any]
  num_actions: int


def make_env(name: str) -> Env:
  family, _, short = name.partition(':')
  if family == 'navix':
    import navix
    env = navix.make(short)

    def navix_reset(key):
      timestep = env.reset(key)
      return timestep.observation.reshape(-1).astype(jnp.float32), timestep

    def navix_step(key, timestep, action):
      timestep = env.step(timestep, action)   # Resets a done timestep on its next call.
      return (timestep.observation.reshape(-1).astype(jnp.float32), timestep,
              timestep.reward, timestep.is_done())
    return Env(navix_reset, navix_step, int(env.action_space.n))
  if family == 'brax':
    from brax import envs
    from brax.envs.wrappers.training import AutoResetWrapper, EpisodeWrapper
    env = AutoResetWrapper(EpisodeWrapper(envs.get_environment(short), 1000, 1))

    def brax_reset(key):
      state = env.reset(key)
      return state.obs, state

    def brax_step(key, state, action):
      state = env.step(state, jnp.clip(action, -1.0, 1.0))
      return state.obs, state, state.reward, state.done > 0.5
    return Env(brax_reset, brax_step, int(env.action_size))
  raise ValueError(f'no peer env for {name}')


class ActorCritic(nn.Module):
  num_actions: int
  layers: tuple[int, ...]
  discrete: bool

  @nn.compact
  def __call__(self, x):
    init = nn.initializers.orthogonal
    actor, critic = x, x
    for size in self.layers:
      actor = nn.tanh(nn.Dense(size, kernel_init=init(np.sqrt(2)))(actor))
      critic = nn.tanh(nn.Dense(size, kernel_init=init(np.sqrt(2)))(critic))
    out = nn.Dense(self.num_actions, kernel_init=init(0.01))(actor)
    value = nn.Dense(1, kernel_init=init(1.0))(critic)[..., 0]
    log_std = self.param('log_std', nn.initializers.zeros, (self.num_actions,))
    return out, log_std, value


def _log_prob_entropy(settings, out, log_std, action):
  if settings.discrete:
    logp = jax.nn.log_softmax(out)
    chosen = jnp.take_along_axis(logp, action[..., None], -1)[..., 0]
    return chosen, -(jnp.exp(logp) * logp).sum(-1)
  std = jnp.exp(log_std)
  logp = -0.5 * (((action - out) / std) ** 2 + 2 * log_std + jnp.log(2 * jnp.pi))
  return logp.sum(-1), (log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e)).sum() * jnp.ones(
      out.shape[:-1])


def _sample(settings, key, out, log_std):
  if settings.discrete:
    return jax.random.categorical(key, out)
  return out + jnp.exp(log_std) * jax.random.normal(key, out.shape)


class Transition(NamedTuple):
  obs: jax.Array
  action: jax.Array
  reward: jax.Array
  done: jax.Array
  value: jax.Array
  log_prob: jax.Array


def make_train(settings: Settings, env: Env) -> Callable[[jax.Array], jax.Array]:
  network = ActorCritic(env.num_actions, settings.layers, settings.discrete)
  batch = settings.num_envs * settings.num_steps
  minibatch = batch // settings.num_minibatches

  def schedule(count):
    updates = settings.num_minibatches * settings.update_epochs
    return settings.learning_rate * (1.0 - count // updates / settings.num_updates)

  optimizer = optax.chain(optax.clip_by_global_norm(settings.max_grad_norm),
                          optax.adam(schedule, eps=1e-5))

  def train(key):
    key, init_key, reset_key = jax.random.split(key, 3)
    obs, env_state = jax.vmap(env.reset)(jax.random.split(reset_key, settings.num_envs))
    params = network.init(init_key, obs[0])
    opt_state = optimizer.init(params)

    def env_step(carry, _):
      params, env_state, obs, key = carry
      key, act_key, step_key = jax.random.split(key, 3)
      out, log_std, value = network.apply(params, obs)
      action = _sample(settings, act_key, out, log_std)
      log_prob, _ = _log_prob_entropy(settings, out, log_std, action)
      next_obs, env_state, reward, done = jax.vmap(env.step)(
          jax.random.split(step_key, settings.num_envs), env_state, action)
      return (params, env_state, next_obs, key), Transition(
          obs, action, reward, done, value, log_prob)

    def gae(transitions, last_value):
      def backward(carry, t):
        advantage, next_value = carry
        delta = t.reward + settings.gamma * next_value * (1 - t.done) - t.value
        advantage = delta + settings.gamma * settings.gae_lambda * (1 - t.done) * advantage
        return (advantage, t.value), advantage
      _, advantages = jax.lax.scan(backward, (jnp.zeros_like(last_value), last_value),
                                   transitions, reverse=True)
      return advantages, advantages + transitions.value

    def loss(params, t, advantages, targets):
      out, log_std, value = network.apply(params, t.obs)
      log_prob, entropy = _log_prob_entropy(settings, out, log_std, t.action)
      ratio = jnp.exp(log_prob - t.log_prob)
      advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
      actor = -jnp.minimum(ratio * advantages, jnp.clip(
          ratio, 1 - settings.clip, 1 + settings.clip) * advantages).mean()
      clipped = t.value + jnp.clip(value - t.value, -settings.clip, settings.clip)
      critic = 0.5 * jnp.maximum((value - targets) ** 2, (clipped - targets) ** 2).mean()
      return actor + settings.value_coef * critic - settings.entropy_coef * entropy.mean()

    def update_minibatch(carry, data):
      params, opt_state = carry
      grads = jax.grad(loss)(params, *data)
      updates, opt_state = optimizer.update(grads, opt_state)
      return (optax.apply_updates(params, updates), opt_state), None

    def update_epoch(carry, _):
      params, opt_state, data, key = carry
      key, perm_key = jax.random.split(key)
      permutation = jax.random.permutation(perm_key, batch)
      flat = jax.tree_util.tree_map(lambda x: x.reshape((batch,) + x.shape[2:]), data)
      shuffled = jax.tree_util.tree_map(
          lambda x: x[permutation].reshape((settings.num_minibatches, minibatch)
                                           + x.shape[1:]), flat)
      (params, opt_state), _ = jax.lax.scan(update_minibatch, (params, opt_state), shuffled)
      return (params, opt_state, data, key), None

    def update(carry, _):
      params, opt_state, env_state, obs, key = carry
      (params, env_state, obs, key), transitions = jax.lax.scan(
          env_step, (params, env_state, obs, key), None, settings.num_steps)
      _, _, last_value = network.apply(params, obs)
      advantages, targets = gae(transitions, last_value)
      (params, opt_state, _, key), _ = jax.lax.scan(
          update_epoch, (params, opt_state, (transitions, advantages, targets), key), None,
          settings.update_epochs)
      return (params, opt_state, env_state, obs, key), transitions.reward.mean()

    (params, *_), rewards = jax.lax.scan(
        update, (params, opt_state, env_state, obs, key), None, settings.num_updates)
    # The parameters in the result, so that XLA keeps the whole training (a
    # constant reward, as inverted_pendulum's, would let it drop everything).
    checksum = sum(leaf.sum() for leaf in jax.tree_util.tree_leaves(params))
    return rewards[-1] + 0.0 * checksum

  return train
