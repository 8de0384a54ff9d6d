"""An algorithm that acts uniformly at random and never learns."""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from agents.core.algorithm import Algorithm, Transition
from agents.core.in_graph_env import EnvSpec


@flax.struct.dataclass
class MockState:
  learner: jax.Array          # Counts the steps experienced while training.
  episodes: jax.Array         # [batch], episodes begun per agent.
  spec: EnvSpec = flax.struct.field(pytree_node=False, default=None)


class MockAlgorithm(Algorithm):
  """Uniform random actions in the action space, to test the plumbing.

  Box actions are uniform within finite bounds (standard normal where a bound
  is infinite); Discrete actions are uniform over the categories.
  """

  def init(self, key: jax.Array, env_spec: EnvSpec, num_agents: int) -> MockState:
    del key
    return MockState(learner=jnp.zeros((), jnp.int32),
                     episodes=jnp.zeros(num_agents, jnp.int32), spec=env_spec)

  def begin_episode(self, state: MockState, mask: jax.Array) -> MockState:
    return state.replace(episodes=state.episodes + mask.astype(jnp.int32))

  def perform(self, state: MockState, observ: jax.Array, key: jax.Array,
              training: bool) -> tuple[MockState, jax.Array]:
    spec, batch = state.spec, observ.shape[0]
    if spec.kind == 'discrete':
      logits = jnp.zeros((batch, spec.num_actions))
      return state, jax.random.categorical(key, logits).astype(jnp.int32)
    if spec.discrete:   # Uniform over each dimension's categories.
      counts = {'discrete': (spec.num_actions,), 'multi_discrete': spec.action_nvec,
                'multi_binary': (2,) * int(np.prod(spec.action_shape))}[spec.kind]
      uniform = jax.random.uniform(key, (batch,) + spec.action_shape)
      action = jnp.floor(uniform * np.asarray(counts, np.float32).reshape(spec.action_shape))
      return state, action.astype(jnp.int32)
    low = np.asarray(spec.action_low, np.float32).reshape(spec.action_shape)
    high = np.asarray(spec.action_high, np.float32).reshape(spec.action_shape)
    finite = np.isfinite(low) & np.isfinite(high)
    shape = (batch,) + spec.action_shape
    uniform = jax.random.uniform(key, shape, minval=np.where(finite, low, 0),
                                 maxval=np.where(finite, high, 1))
    normal = jax.random.normal(jax.random.fold_in(key, 1), shape)
    return state, jnp.where(finite, uniform, normal)

  def experience(self, state: MockState, transition: Transition,
                 training: bool) -> MockState:
    if training:
      state = state.replace(learner=state.learner + transition.reward.shape[0])
    return state

  def end_episode(self, state: MockState, mask: jax.Array,
                  training: bool) -> MockState:
    return state

  def metrics(self, state: MockState) -> dict[str, jax.Array]:
    return {'experienced_steps': state.learner}
