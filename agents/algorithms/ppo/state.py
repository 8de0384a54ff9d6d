"""PPO's records: the learner (checkpointed), the rollout, and the per-agent state.

The learner holds only what a policy and its training need to continue; the
update's metrics live in `PPOState.metrics`, outside the checkpoint, so adding
one changes no checkpoint.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from agents.core.in_graph_env import EnvSpec
from agents.parts import normalize

# Bits of Learner.failure: what was not finite after an update.
FAILURES = {1: 'the loss', 2: 'the gradients', 4: 'the parameters',
            8: 'the normalizer statistics'}


@flax.struct.dataclass
class Learner:
  """Shared by all agents, saved in checkpoints: the policy and its training."""
  params: Any
  opt_state: Any
  observ_norm: normalize.NormalizerState
  reward_norm: normalize.NormalizerState
  kl_coef: jax.Array
  updates: jax.Array        # Updates applied; x the rollout size = env-steps trained.
  lr_scale: jax.Array       # The learning rate is learning_rate x lr_scale.
  failure: jax.Array        # Bits of FAILURES; 0 while everything is finite.
  key: jax.Array


@flax.struct.dataclass
class Rollout:
  """Time-major experience [time, batch, ...] of the current rollout."""
  observ: jax.Array
  action: jax.Array         # As sampled (in [-1, 1] scale, before clipping).
  log_prob: jax.Array
  policy: Any               # The distribution that sampled the action.
  reward: jax.Array
  terminated: jax.Array
  truncated: jax.Array
  next_observ: jax.Array
  first: jax.Array          # The step starts an episode.
  net_state: jax.Array      # [time, batch, state_size]: the recurrent state the
                            # step's choice started from (chunks start there).


@flax.struct.dataclass
class Choice:
  """What `perform` chose, kept for `experience` to store; [batch, ...]."""
  action: jax.Array
  log_prob: jax.Array
  policy: Any
  net_state: jax.Array      # The recurrent state the choice started from.


@flax.struct.dataclass
class Batch:
  """A rollout prepared for the loss: time-major [time, batch, ...] arrays,
  normalized observations, advantages and returns; `start_state` [batch,
  state_size] is each sequence's recurrent state at its first step."""
  observ: jax.Array
  first: jax.Array
  action: jax.Array
  log_prob: jax.Array
  policy: Any
  advantage: jax.Array
  returns: jax.Array
  start_state: jax.Array
  net_state: jax.Array      # [time, batch, state_size], as collected.
  mask: Any = None          # [time, batch, mask_size] bool: the env's action
                            # mask of each step (None: the env gives none).


@flax.struct.dataclass
class PPOState:
  learner: Learner
  rollout: Rollout
  index: jax.Array          # Steps stored in the current rollout.
  net_state: jax.Array      # [batch, state_size], recurrent state now.
  first: jax.Array          # [batch], the next step starts an episode.
  last: Choice              # What perform chose on this step.
  metrics: dict             # Of the last update (logged, never checkpointed).
  spec: EnvSpec = flax.struct.field(pytree_node=False, default=None)


def all_finite(tree: Any) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
            if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def failure_bits(epoch_metrics: dict, learner: Learner) -> jax.Array:
  """FAILURES bits of what is not finite after an update (0: all finite)."""
  checks = [
      (1, all_finite((epoch_metrics['loss'], epoch_metrics['policy_loss'],
                       epoch_metrics['value_loss']))),
      (2, all_finite(epoch_metrics['grad_norm'])),
      (4, all_finite(learner.params)),
      (8, all_finite((learner.observ_norm, learner.reward_norm))),
  ]
  bits = jnp.zeros((), jnp.int32)
  for bit, finite in checks:
    bits = bits | jnp.where(finite, 0, bit).astype(jnp.int32)
  return bits


METRICS = ('loss', 'policy_loss', 'value_loss', 'grad_norm', 'kl', 'kl_coef',
           'entropy', 'mean_return', 'mean_reward', 'learning_rate')


def empty_metrics() -> dict:
  return {name: jnp.zeros((), jnp.float32) for name in METRICS}


def chunk(data: Batch, length: int) -> tuple[Batch, jax.Array]:
  """Split a rollout [time, batch] into sequences of `length` steps.

  Returns the sequences, time-major [length, time / length x batch] (chunk i
  of agent b at column i x batch + b), with `start_state` and `net_state`
  left out, and their start states [time / length x batch, state_size]: the
  recurrent states recorded when each chunk's first step was collected.
  `length=1` gives single steps, as feed-forward networks train on.
  """
  steps, batch = data.advantage.shape
  chunks = steps // length
  sequences = jax.tree_util.tree_map(
      lambda x: x.reshape((chunks, length, batch) + x.shape[2:]).swapaxes(
          0, 1).reshape((length, chunks * batch) + x.shape[2:]),
      data.replace(start_state=None, net_state=None))
  start_state = data.net_state[::length].reshape(chunks * batch, -1)
  return sequences, start_state
