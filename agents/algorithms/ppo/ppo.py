"""Batched PPO under the algorithm protocol (agents/core/algorithm.py).

Each agent collects `update_every` steps into a time-major rollout [time,
batch]; when the rollout is full, `end_episode` trains for `update_epochs`
epochs over minibatches, inside the compiled program. Observations are
normalized with streaming statistics and rewards scaled by their running
std; the statistics stay fixed during a rollout and its update (so the
stored log-probabilities match the policy being improved) and absorb the
rollout afterwards. Actions live in [-1, 1] inside the algorithm and are
mapped to the env's finite Box bounds. Where the env gives an action mask (the
last `spec.mask_size` entries of its observation), the network sees the rest,
and the mask of each step excludes invalid actions when acting and in the
loss (log-probabilities, entropy, KL).

The learning rate is `learning_rate x learner.lr_scale`. With
`anneal_steps` (the run's budget when annealing) the scale falls linearly to 0,
computed from the env-steps the learner has trained on, so a resumed run that
extends `steps` stretches the rest of the decay from the current rate (no
jump). An update whose loss, gradients, parameters or normalizer statistics
are not finite is not applied: the learner keeps its last finite values and
records what went wrong in `failure` (see FAILURES); `diagnose` names it.
"""

from __future__ import annotations

import math

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from agents.algorithms.ppo import losses
from agents.algorithms.ppo.config import OBJECTIVES, PPOConfig
from agents.algorithms.ppo.next_values import next_values
from agents.algorithms.ppo.state import (FAILURES, Batch, Choice, Learner, PPOState,
                                         Rollout, chunk, empty_metrics, failure_bits)
from agents.core.algorithm import Algorithm, Transition
from agents.core.in_graph_env import EnvSpec
from agents.parts import distributions, normalize, shuffle

__all__ = ['PPO', 'PPOConfig', 'PPOState', 'Learner', 'OBJECTIVES', 'FAILURES']

class PPO(Algorithm):
  """PPO with both objectives of `config.objective`: 'clip' or 'kl_penalty'."""

  def __init__(self, config: PPOConfig | Any, network: nn.Module) -> None:
    if not isinstance(config, PPOConfig):   # A run config: take PPO's part of it.
      config = PPOConfig.from_run_config(config)
    if network.recurrent and config.update_every % config.chunk_length:
      raise ValueError(f'chunk_length ({config.chunk_length}) must divide '
                       f'update_every ({config.update_every}).')
    self._config = config
    self._network = network
    # The same optimizer state whatever the clip and schedule, so that both can
    # change when a run resumes; the schedule scales the updates (lr_scale).
    clip = config.max_grad_norm or float('inf')
    def part(learning_rate):
      return optax.chain(optax.clip_by_global_norm(clip),
                         optax.scale_by_adam(eps=1e-5),
                         optax.scale(-learning_rate))
    value_learning_rate = config.value_learning_rate or config.learning_rate
    self._optimizer = optax.multi_transform(
        {'policy': part(config.learning_rate), 'value': part(value_learning_rate)},
        _param_labels)

  @property
  def network(self) -> nn.Module:
    return self._network

  # Protocol ---------------------------------------------------------------

  def init(self, key: jax.Array, env_spec: EnvSpec, num_agents: int) -> PPOState:
    params_key, learner_key, sample_key = jax.random.split(key, 3)
    observ = jnp.zeros((1, num_agents) + env_spec.observ_shape, env_spec.observ_jnp_dtype)
    seen = self._normalize_observ(None, env_spec, env_spec.split_observ(observ)[0])
    first = jnp.ones((1, num_agents), bool)
    state = jnp.zeros((num_agents, self._network.state_size), jnp.float32)
    params = self._network.init(params_key, seen, first, state)
    policy, _, _ = self._network.apply(params, seen, first, state)
    policy = jax.tree_util.tree_map(lambda x: x[0], policy)
    action = policy.sample(sample_key)
    learner = Learner(
        params=params, opt_state=self._optimizer.init(params),
        observ_norm=normalize.init(env_spec.policy_observ_shape),
        reward_norm=normalize.init(()),
        kl_coef=jnp.asarray(self._config.kl_init_coef, jnp.float32),
        updates=jnp.zeros((), jnp.int32),
        lr_scale=jnp.ones((), jnp.float32), failure=jnp.zeros((), jnp.int32),
        key=learner_key)
    steps = self._config.update_every
    time_major = lambda x: jnp.zeros((steps,) + x.shape, x.dtype)
    rollout = Rollout(
        observ=time_major(observ[0]), action=time_major(action),
        log_prob=time_major(policy.log_prob(action)),
        policy=jax.tree_util.tree_map(time_major, policy),
        reward=time_major(jnp.zeros(num_agents)),
        terminated=time_major(jnp.zeros(num_agents, bool)),
        truncated=time_major(jnp.zeros(num_agents, bool)),
        next_observ=time_major(observ[0]), first=time_major(first[0]),
        net_state=time_major(state))
    last = Choice(action=action, log_prob=policy.log_prob(action),
                  policy=policy, net_state=state)
    return PPOState(learner=learner, rollout=rollout,
                    index=jnp.zeros((), jnp.int32), net_state=state,
                    first=first[0], last=last, metrics=empty_metrics(),
                    spec=env_spec)

  def begin_episode(self, state: PPOState, mask: jax.Array) -> PPOState:
    net_state = jnp.where(mask[:, None], 0.0, state.net_state)
    return state.replace(net_state=net_state, first=state.first | mask)

  def perform(self, state: PPOState, observ: jax.Array, key: jax.Array,
              training: bool) -> tuple[PPOState, jax.Array]:
    policy, net_state = self._policy(state.learner, state.spec, observ, state.first,
                                     state.net_state)
    action = policy.sample(key) if training else policy.mode()
    last = Choice(action=action, log_prob=policy.log_prob(action),
                  policy=policy, net_state=state.net_state)
    state = state.replace(net_state=net_state, last=last)
    return state, self._env_action(state.spec, action)

  def experience(self, state: PPOState, transition: Transition,
                 training: bool) -> PPOState:
    if not training:
      return state.replace(first=jnp.zeros_like(state.first))
    index, last = state.index, state.last
    step = Rollout(
        observ=transition.observ, action=last.action,
        log_prob=last.log_prob, policy=last.policy,
        reward=transition.reward, terminated=transition.terminated,
        truncated=transition.truncated, next_observ=transition.next_observ,
        first=state.first, net_state=last.net_state)
    rollout = jax.tree_util.tree_map(
        lambda buffer, value: buffer.at[index].set(value), state.rollout, step)
    return state.replace(rollout=rollout, index=index + 1,
                         first=jnp.zeros_like(state.first))

  def end_episode(self, state: PPOState, mask: jax.Array,
                  training: bool) -> PPOState:
    if not training:
      return state
    return jax.lax.cond(state.index >= self._config.update_every,
                        self._update, lambda s: s, state)

  def seed_axes(self, state: PPOState) -> Any:
    """Seeds step in lockstep, so the rollout index is shared: the update's
    `lax.cond` then stays a branch instead of running on every step."""
    axes = jax.tree_util.tree_map(lambda _: 0, state)
    return axes.replace(index=None)

  def metrics(self, state: PPOState) -> dict[str, jax.Array]:
    metrics = dict(state.metrics)
    rollout = state.rollout
    metrics['action'] = rollout.action
    metrics['log_prob'] = rollout.log_prob
    metrics['mode'] = rollout.policy.mode()
    return metrics

  def act(self, learner: Learner, spec: EnvSpec, observ: jax.Array,
          net_state: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The deterministic action (the mode, in the env's bounds) of `observ`
    [batch, *observ_shape] and the next recurrent state: the policy alone, as
    evaluation runs it, for export. A zero `net_state` starts an episode."""
    first = jnp.zeros(observ.shape[:1], bool)
    policy, net_state = self._policy(learner, spec, observ, first, net_state)
    return self._env_action(spec, policy.mode()), net_state

  # Helpers ----------------------------------------------------------------

  def _policy(self, learner: Learner, spec: EnvSpec, observ: jax.Array,
              first: jax.Array, net_state: jax.Array) -> tuple[Any, jax.Array]:
    """The masked action distribution [batch] of one step, and the next state."""
    observ, mask = spec.split_observ(observ)
    normalized = self._normalize_observ(learner, spec, observ)
    policy, _, net_state = self._network.apply(
        learner.params, normalized[None], first[None], net_state)
    policy = jax.tree_util.tree_map(lambda x: x[0], policy)
    return _masked(policy, mask, spec), net_state

  def _normalize_observ(self, learner: Learner | None, spec: EnvSpec,
                        observ: jax.Array) -> jax.Array:
    """Streaming normalization; images are scaled to [0, 1] (bytes) instead."""
    if spec.image:
      scale = spec.image_scale if spec.observ_dtype == 'uint8' else 1.0
      return observ.astype(jnp.float32) * scale
    if not self._config.normalize_observ or learner is None:
      normalized = observ.astype(jnp.float32)
    else:
      normalized = normalize.normalize(learner.observ_norm, observ,
                                       clip=self._config.observ_clip)
    images = spec.image_entries   # A Dict's image parts: scaled, not normalized.
    if images is None:
      return normalized
    return jnp.where(images, observ.astype(jnp.float32) * spec.image_part_scale,
                     normalized)

  def _scale_reward(self, learner: Learner, reward: jax.Array) -> jax.Array:
    if not self._config.normalize_reward:
      return reward
    return normalize.normalize(learner.reward_norm, reward, center=False,
                               clip=self._config.reward_clip)

  @staticmethod
  def _env_action(spec: EnvSpec, action: jax.Array) -> jax.Array:
    """Map [-1, 1] to the env's finite bounds (clipped); unbounded dims pass."""
    if spec.discrete:
      return action
    low = np.asarray(spec.action_low, np.float32).reshape(spec.action_shape)
    high = np.asarray(spec.action_high, np.float32).reshape(spec.action_shape)
    finite = np.isfinite(low) & np.isfinite(high)
    scale = np.where(finite, (high - low) / 2, 1.0).astype(np.float32)
    center = np.where(finite, (high + low) / 2, 0.0).astype(np.float32)
    bounded = jnp.where(finite, jnp.clip(action, -1.0, 1.0), action)
    return bounded * scale + center

  # Training ---------------------------------------------------------------

  def _update(self, state: PPOState) -> PPOState:
    """Train on the full rollout unless an earlier update failed; a new rollout
    starts either way (the index is a constant, so it stays shared by seeds)."""
    state = jax.lax.cond(state.learner.failure == 0, self._train, lambda s: s, state)
    return state.replace(index=jnp.zeros((), jnp.int32))

  def _train(self, state: PPOState) -> PPOState:
    """Train on the full rollout, then let the normalizers absorb it."""
    config, learner, rollout = self._config, state.learner, state.rollout
    data = self._prepare(learner, rollout, state.spec)
    key, epochs_key = jax.random.split(learner.key)
    lr_scale, next_lr_scale = self._lr_scales(learner, rollout.reward.size)

    def update_epoch(carry, epoch_key):
      return self._update_epoch(carry, data, epoch_key, learner.kl_coef, lr_scale,
                                state.spec)

    (params, opt_state), epoch_metrics = jax.lax.scan(
        update_epoch, (learner.params, learner.opt_state),
        jax.random.split(epochs_key, config.update_epochs))
    # The last epoch's means; its kl and entropy are each minibatch's before
    # its step (CleanRL's approx_kl). The KL penalty adapts on the true KL
    # after the update instead: one more pass over the rollout.
    metrics = jax.tree_util.tree_map(lambda x: x[-1].mean(), epoch_metrics)
    kl_coef = learner.kl_coef
    if config.objective == 'kl_penalty':
      policy, _, _ = self._network.apply(params, data.observ, data.first,
                                         data.start_state)
      policy = _masked(policy, data.mask, state.spec)
      metrics.update(kl=data.policy.kl(policy).mean(),
                     entropy=policy.entropy().mean())
      kl_coef = losses.adapt_kl_coef(kl_coef, metrics['kl'], config.kl_target,
                                     config.kl_min_coef)
    metrics.update(kl_coef=kl_coef, mean_return=data.returns.mean(),
                   mean_reward=rollout.reward.mean(),
                   learning_rate=config.learning_rate * lr_scale)
    trained = learner.replace(
        params=params, opt_state=opt_state, kl_coef=kl_coef,
        updates=learner.updates + 1, key=key,
        lr_scale=next_lr_scale,
        observ_norm=learner.observ_norm if state.spec.image else normalize.update(
            learner.observ_norm, state.spec.split_observ(rollout.observ)[0]),
        reward_norm=normalize.update(learner.reward_norm, rollout.reward))
    failure = failure_bits(epoch_metrics, trained)
    learner = jax.tree_util.tree_map(
        lambda new, old: jnp.where(failure == 0, new, old), trained, learner)
    learner = learner.replace(failure=failure)
    return state.replace(learner=learner, metrics=metrics)

  def _lr_scales(self, learner: Learner, rollout_steps: int
                 ) -> tuple[jax.Array, jax.Array]:
    """The learning-rate scale for this update and the next.

    Annealed: the scale falls linearly from where it is to 0 at anneal_steps
    (the updates left are counted from the env-steps trained so far).
    """
    if self._config.anneal_steps is None:
      return jnp.ones((), jnp.float32), learner.lr_scale
    # Counted in updates (exact in Python, int32 in the program), so that
    # budgets past 2**31 env-steps neither overflow nor round.
    total = math.ceil(self._config.anneal_steps / rollout_steps)
    left = jnp.float32(total) - learner.updates.astype(jnp.float32)
    left = jnp.maximum(left, 1.0)
    return learner.lr_scale, learner.lr_scale * (left - 1.0) / left

  def diagnose(self, learner: Learner) -> str | None:
    """What went non-finite in an update (host side), or None."""
    failure = int(jax.device_get(learner.failure))
    if not failure:
      return None
    parts = [name for bit, name in FAILURES.items() if failure & bit]
    return ' and '.join(parts)

  def _prepare(self, learner: Learner, rollout: Rollout, spec: EnvSpec) -> Batch:
    """Normalized inputs, advantages and returns, time-major [time, batch].

    Values come from whole sequences that start from the rollout's first
    recurrent state; a feed-forward network's V(s'_t) mostly from the next
    step's (next_values.py).
    """
    config = self._config
    start_state = rollout.net_state[0]
    observ, mask = spec.split_observ(rollout.observ)
    observ = self._normalize_observ(learner, spec, observ)
    next_observ = spec.split_observ(rollout.next_observ)[0]
    apply = lambda o: self._network.apply(
        learner.params, o, rollout.first, start_state)[1]
    value = apply(observ)
    if self._network.recurrent:   # Values depend on the sequence: a second pass.
      next_value = apply(self._normalize_observ(learner, spec, next_observ))
    else:
      first, state = jnp.ones_like(rollout.first[:1]), jnp.zeros_like(start_state)
      next_value = next_values(lambda o: self._network.apply(
          learner.params, self._normalize_observ(learner, spec, o), first, state)[1],
          value, next_observ, rollout.truncated)
    reward = self._scale_reward(learner, rollout.reward)
    advantage, returns = losses.gae(
        reward, value, next_value, rollout.terminated, rollout.truncated,
        config.discount, config.lambda_)
    advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
    return Batch(observ=observ, first=rollout.first, action=rollout.action,
                 log_prob=rollout.log_prob, policy=rollout.policy,
                 advantage=advantage, returns=returns, start_state=start_state,
                 net_state=rollout.net_state, mask=mask)

  def _update_epoch(self, carry: tuple, data: Batch, key: jax.Array,
                    kl_coef: jax.Array, lr_scale: jax.Array, spec: EnvSpec
                    ) -> tuple[tuple, dict]:
    """One pass over the rollout in `num_minibatches` shuffled minibatches.

    Feed-forward networks shuffle single steps (the rollout flattened to one
    time step of steps x batch sequences); recurrent networks shuffle chunks
    of `chunk_length` steps of each agent's sequence, each starting from the
    recurrent state recorded when the chunk's first step was collected.
    """
    num = self._config.num_minibatches
    length = self._config.chunk_length if self._network.recurrent else 1
    sequences, start_state = chunk(data, length)
    size = sequences.advantage.shape[1]
    per_minibatch = size // num
    order = shuffle.permutation(key, size)[:per_minibatch * num]
    order = order.reshape(num, per_minibatch)

    def update_minibatch(carry, indices):
      params, opt_state = carry
      minibatch = jax.tree_util.tree_map(lambda x: x[:, indices], sequences)
      minibatch = minibatch.replace(start_state=start_state[indices])
      grads, metrics = jax.grad(self._loss, has_aux=True)(
          params, minibatch, kl_coef, spec)
      metrics['grad_norm'] = optax.tree.norm(grads)
      updates, opt_state = self._optimizer.update(grads, opt_state, params)
      updates = jax.tree_util.tree_map(lambda u: u * lr_scale, updates)
      return (optax.apply_updates(params, updates), opt_state), metrics

    return jax.lax.scan(update_minibatch, carry, order)

  def _loss(self, params: Any, batch: Batch, kl_coef: jax.Array, spec: EnvSpec
            ) -> tuple[jax.Array, dict]:
    config = self._config
    policy, value, _ = self._network.apply(
        params, batch.observ, batch.first, batch.start_state)
    policy = _masked(policy, batch.mask, spec)
    log_prob = policy.log_prob(batch.action)
    kl = batch.policy.kl(policy)
    if config.objective == 'clip':
      policy_loss = losses.clip_objective(
          log_prob, batch.log_prob, batch.advantage, config.clip_epsilon)
    else:
      policy_loss = losses.kl_penalty_objective(
          log_prob, batch.log_prob, batch.advantage, kl, kl_coef,
          config.kl_target, config.kl_cutoff_factor, config.kl_cutoff_coef)
    value_loss = losses.value_loss(value, batch.returns)
    entropy = policy.entropy().mean()
    loss = (policy_loss + config.value_coef * value_loss -
            config.entropy_coef * entropy)
    return loss, {'loss': loss, 'policy_loss': policy_loss,
                  'value_loss': value_loss, 'kl': jnp.mean(jnp.expm1(log_prob - batch.log_prob) - (log_prob - batch.log_prob)), 'entropy': entropy}


def _masked(policy: Any, mask: jax.Array | None, spec: EnvSpec) -> Any:
  """The policy with the actions the env's mask forbids excluded."""
  return distributions.masked(policy, mask, spec.action_nvec)


def _param_labels(params: Any) -> Any:
  """'value' for the value network's parameters, 'policy' for the rest."""
  def label(path, _):
    names = [getattr(entry, 'key', '') for entry in path]
    return 'value' if any(str(n).startswith('value') for n in names) else 'policy'
  return jax.tree_util.tree_map_with_path(label, params)
