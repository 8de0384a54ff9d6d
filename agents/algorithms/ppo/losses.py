"""PPO's pure math: advantages, returns, objectives and the KL coefficient.

Shapes: rollouts are time-major, `[time, batch]`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def discounted_returns(reward: jax.Array, terminated: jax.Array,
                       truncated: jax.Array, next_value: jax.Array,
                       discount: float) -> jax.Array:
  """Discounted returns [time, batch], bootstrapped where the data stops.

  R_t = r_t + discount * X, where X is 0 if the step terminated, V(s'_t) if it
  was truncated or is the last step of the rollout, and R_{t+1} otherwise.
  """
  not_terminated = 1.0 - terminated.astype(jnp.float32)
  cut = truncated.astype(jnp.float32).at[-1].set(1.0)

  def backward(next_return, inputs):
    reward_t, not_terminated_t, cut_t, next_value_t = inputs
    follow = cut_t * next_value_t + (1.0 - cut_t) * next_return
    return_t = reward_t + discount * not_terminated_t * follow
    return return_t, return_t

  _, returns = jax.lax.scan(
      backward, jnp.zeros_like(reward[0]),
      (reward, not_terminated, cut, next_value), reverse=True)
  return returns


def gae(reward: jax.Array, value: jax.Array, next_value: jax.Array,
        terminated: jax.Array, truncated: jax.Array, discount: float,
        lambda_: float) -> tuple[jax.Array, jax.Array]:
  """Generalized advantage estimation; returns (advantage, return), [time, batch].

  delta_t = r_t + discount * (1 - terminated_t) * V(s'_t) - V(s_t), where s'_t
  is the observation the step produced, so a truncated step bootstraps from
  the value of its last observation and a terminated one does not.
  A_t = delta_t + discount * lambda * (1 - done_t) * A_{t+1}, A_T = 0.
  """
  not_terminated = 1.0 - terminated.astype(jnp.float32)
  not_done = 1.0 - (terminated | truncated).astype(jnp.float32)
  delta = reward + discount * not_terminated * next_value - value

  def backward(advantage, inputs):
    delta_t, not_done_t = inputs
    advantage = delta_t + discount * lambda_ * not_done_t * advantage
    return advantage, advantage

  _, advantage = jax.lax.scan(backward, jnp.zeros_like(delta[0]),
                              (delta, not_done), reverse=True)
  return advantage, advantage + value


def clip_objective(log_prob: jax.Array, old_log_prob: jax.Array,
                   advantage: jax.Array, epsilon: float) -> jax.Array:
  """Clipped surrogate loss (to minimize): -mean(min(r A, clip(r) A))."""
  ratio = jnp.exp(log_prob - old_log_prob)
  clipped = jnp.clip(ratio, 1.0 - epsilon, 1.0 + epsilon)
  return -jnp.minimum(ratio * advantage, clipped * advantage).mean()


def kl_penalty_objective(log_prob: jax.Array, old_log_prob: jax.Array,
                         advantage: jax.Array, kl: jax.Array, kl_coef: jax.Array,
                         kl_target: float, cutoff_factor: float,
                         cutoff_coef: float) -> jax.Array:
  """BatchPPO's loss (to minimize): surrogate, adaptive KL penalty and cutoff.

  -mean(r A) + kl_coef * mean(KL) + cutoff_coef * mean(max(0, KL - cutoff_factor
  * kl_target)^2). The cutoff term stops updates that move the policy far.
  """
  ratio = jnp.exp(log_prob - old_log_prob)
  surrogate = -(ratio * advantage).mean()
  penalty = kl_coef * kl.mean()
  excess = jnp.maximum(0.0, kl - cutoff_factor * kl_target)
  return surrogate + penalty + cutoff_coef * (excess ** 2).mean()


def adapt_kl_coef(kl_coef: jax.Array, kl: jax.Array, kl_target: float,
                  kl_min_coef: float, kl_max_coef: float = 1e4) -> jax.Array:
  """Raise the coefficient when KL overshoots the target, lower it when it
  undershoots (by 1.5x outside [0.7, 1.3] x target); never below the floor
  `kl_min_coef`, so it cannot collapse to 0 and stay there."""
  kl_coef = jnp.where(kl > 1.3 * kl_target, kl_coef * 1.5, kl_coef)
  kl_coef = jnp.where(kl < 0.7 * kl_target, kl_coef / 1.5, kl_coef)
  return jnp.clip(kl_coef, kl_min_coef, kl_max_coef)


def value_loss(value: jax.Array, target: jax.Array) -> jax.Array:
  return 0.5 * ((value - target) ** 2).mean()
