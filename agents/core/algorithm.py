"""The algorithm protocol: pure functions over an explicit state.

`simulate` (agents/core/simulate.py) calls these in this order on every
step, for the whole batch at once; the original's lists of agent indices are
boolean masks over the batch here, so every shape is fixed and the whole step
compiles into one program:

1. `begin_episode(state, mask)` -- the agents in `mask` start a new episode
   (their env was just reset). Reset per-agent memory here (recurrent state).
2. `perform(state, observ, key, training) -> state, action` -- choose an
   action for every agent. `observ: [batch, *observ_shape]`. May record what
   the update needs later (log-probabilities, values).
3. (the env steps)
4. `experience(state, transition, training)` -- see what the action did.
   Store the transition for learning (only when `training`).
5. `end_episode(state, mask, training)` -- the agents in `mask` just ended
   their episode (terminated or truncated). Called on every step, with a mask
   that is often all false; the place to train, e.g. when enough experience
   has been collected.

`init(key, env_spec, num_agents)` builds the state. The state is a pytree
with a field `learner` that holds everything shared by all agents
(parameters, optimizer, normalizers, counters): the Loop moves `learner`
between phases (train, eval) that run different batches, and saves it in
checkpoints. Everything else in the state is per agent.

`metrics(state)` returns arrays to log: scalars are logged as scalars,
larger arrays as histograms. Nothing is printed inside compiled code.
`diagnose(learner)` (host side) names what went non-finite, or None.
"""

from __future__ import annotations

import abc
from typing import Any

import flax.struct
import jax

from agents.core.in_graph_env import EnvSpec


@flax.struct.dataclass
class Transition:
  """What one step did, for every agent. All arrays have a leading batch axis.

  terminated: the task ended (do not bootstrap the value).
  truncated: a time limit cut the episode (bootstrap from `next_observ`).
  """
  observ: jax.Array
  action: jax.Array
  reward: jax.Array
  terminated: jax.Array
  truncated: jax.Array
  next_observ: jax.Array


class Algorithm(abc.ABC):
  """Base class of algorithms; see the module docstring for the flow."""

  @abc.abstractmethod
  def init(self, key: jax.Array, env_spec: EnvSpec, num_agents: int) -> Any:
    """init(key, env_spec, num_agents) -> state, with a `learner` field."""

  @abc.abstractmethod
  def begin_episode(self, state: Any, mask: jax.Array) -> Any:
    """begin_episode(state, mask: [batch] bool) -> state."""

  @abc.abstractmethod
  def perform(self, state: Any, observ: jax.Array, key: jax.Array,
              training: bool) -> tuple[Any, jax.Array]:
    """perform(state, observ, key, training) -> state, action: [batch, ...]."""

  @abc.abstractmethod
  def experience(self, state: Any, transition: Transition, training: bool) -> Any:
    """experience(state, transition, training) -> state."""

  @abc.abstractmethod
  def end_episode(self, state: Any, mask: jax.Array, training: bool) -> Any:
    """end_episode(state, mask: [batch] bool, training) -> state."""

  def metrics(self, state: Any) -> dict[str, jax.Array]:
    """Arrays to log (scalars and histograms); none by default."""
    return {}

  def seed_axes(self, state: Any) -> Any:
    """For several seeds in one program (vmapped): a pytree like `state` with 0
    for leaves that differ per seed and None for leaves that all seeds share
    because they step in lockstep (e.g. a counter that decides a `lax.cond`:
    under vmap a per-seed predicate would run both branches on every step).
    By default nothing is shared."""
    return jax.tree_util.tree_map(lambda _: 0, state)

  def diagnose(self, learner: Any) -> str | None:
    """Host side, after training calls: what went wrong in the learner (e.g.
    'the gradients' became non-finite), or None while it is healthy."""
    return None
