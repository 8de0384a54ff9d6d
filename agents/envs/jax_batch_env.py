"""A JAX env (`jax_env`'s protocol) as an in-graph batch env: vmapped, compiled.

The batch state keeps, beside the env's own states, each agent's steps in its
episode and the step at which the episode is cut (`max_length`, else the env's
declared `max_steps`, or the staggered first episode), so time limits need
nothing from the env. The
observation the algorithm sees is the env's own array (dtype kept: uint8
images stay bytes) or, for a pytree, its leaves flattened into one float32
vector whose parts `EnvSpec.observ_parts` names; an action mask (an
`action_mask` leaf, or the env's `action_mask(state)`) ends the vector.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import flax.struct
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from agents.core import in_graph_env
from agents.core.in_graph_env import EnvSpec, EnvState
from agents.envs.jax_env import as_transition
from agents.envs.observation_layout import FlatBox

MASK_LEAF = 'action_mask'


@flax.struct.dataclass
class JaxInner:
  """The envs' states [batch], steps into each episode, the step each is cut at
  (0: not cut here), episodes started per agent, fixed first keys."""
  env_state: Any
  elapsed: jax.Array
  limit: jax.Array
  episodes: jax.Array
  first_keys: jax.Array


@dataclasses.dataclass(frozen=True)
class ObservLayout:
  """How the env's observation becomes the algorithm's array."""
  flat: bool                            # Leaves flattened into one vector.
  parts: tuple[tuple[str, tuple[int, ...]], ...]
  mask_leaf: bool                       # The pytree has an `action_mask` leaf.
  mask_method: bool                     # The env has `action_mask(state)`.
  mask_size: int
  dtype: str                            # 'uint8' or 'float32'.

  @classmethod
  def of(cls, env: Any, observ: Any, state: Any) -> 'ObservLayout':
    leaves = jax.tree_util.tree_leaves_with_path(observ)
    names = [_leaf_name(path) for path, _ in leaves]
    mask_leaf = MASK_LEAF in names
    mask_method = not mask_leaf and callable(getattr(env, 'action_mask', None))
    parts = tuple((name, tuple(leaf.shape)) for name, (_, leaf) in zip(names, leaves)
                  if name != MASK_LEAF)
    mask_size = 0
    if mask_leaf:
      mask_size = int(np.prod(leaves[names.index(MASK_LEAF)][1].shape))
    elif mask_method:
      mask_size = int(np.prod(jax.eval_shape(env.action_mask, state).shape))
    flat = len(leaves) > 1 or bool(mask_size)
    single = leaves[0][1] if len(leaves) == 1 else None
    dtype = 'uint8' if single is not None and not flat and (
        np.dtype(single.dtype) == np.uint8) else 'float32'
    return cls(flat, parts if flat else (), mask_leaf, mask_method, mask_size, dtype)

  def space(self, single_shape: tuple[int, ...], declared: Any) -> gym.spaces.Box:
    """The observation space EnvSpec reads (shape, dtype, bounds, parts, mask);
    a single array keeps the bounds the env declares for it."""
    if not self.flat:
      if self.dtype != 'uint8':
        return gym.spaces.Box(-np.inf, np.inf, single_shape, np.float32)
      high = getattr(declared, 'high', None)
      if high is None or np.shape(high) not in ((), single_shape):
        high = 255
      return gym.spaces.Box(0, np.asarray(high, np.uint8), single_shape, np.uint8)
    size = sum(int(np.prod(shape)) for _, shape in self.parts) + self.mask_size
    return FlatBox(-np.inf, np.inf, (size,), np.float32,
                   parts=self.parts if len(self.parts) > 1 or any(
                       len(shape) == 3 for _, shape in self.parts) else None,
                   mask_size=self.mask_size)

  def apply(self, env: Any, observ: Any, state: Any) -> jax.Array:
    """One env's observation (unbatched) as the algorithm's array."""
    if not self.flat:
      return jnp.asarray(jax.tree_util.tree_leaves(observ)[0]).astype(self.dtype)
    leaves = jax.tree_util.tree_leaves_with_path(observ)
    pieces, mask = [], None
    for path, leaf in leaves:
      if _leaf_name(path) == MASK_LEAF:
        mask = leaf
        continue
      pieces.append(jnp.ravel(leaf).astype(jnp.float32))
    if self.mask_method:
      mask = env.action_mask(state)
    if mask is not None:
      pieces.append(jnp.ravel(mask).astype(jnp.float32))
    return jnp.concatenate(pieces)


def _leaf_name(path: Any) -> str:
  return jax.tree_util.keystr(path, simple=True, separator='.') or 'observ'


class JaxBatchEnv:
  """`num_agents` copies of a JAX env, compiled into the program.

  max_length: cut episodes after this many steps (the env's own limit still
    applies where shorter); None: at the env's `max_steps` where it declares one
    (Brax and Playground envs have no limit of their own: their adapters declare
    the episode length).
  stagger: the first episode of each agent is cut after a random fraction of
    the time limit (max_length, else the env's `max_steps`), so the batch's
    episodes do not all end on the same step.
  seeds: each agent's first episode after `init` starts from `PRNGKey(seed)`,
    so evaluations replay the same episodes.
  observ_keep: indices of a flat observation's entries the agents see.
  """

  def __init__(self, env: Any, num_agents: int, seeds: Sequence[int] | None = None,
               stagger: bool = False, max_length: int | None = None,
               observ_keep: Sequence[int] | None = None, name: str = 'env') -> None:
    self.env = env
    self.name = name
    self.num_agents = num_agents
    key = jax.ShapeDtypeStruct((2,), np.uint32)
    state, observ = jax.eval_shape(env.reset, key)
    self.layout = ObservLayout.of(env, observ, state)
    leaves = jax.tree_util.tree_leaves(observ)
    space = self.layout.space(tuple(leaves[0].shape), env.observation_space)
    self.spec = EnvSpec.from_spaces(space, env.action_space)
    self._keep = None
    if observ_keep is not None:
      shape = self.spec.observ_shape
      if len(shape) != 1 or self.spec.mask_size or self.spec.observ_parts:
        raise ValueError(f'observ_keep needs flat vector observations without parts or '
                         f'mask; {name} gives {space}.')
      if max(observ_keep) >= shape[0]:
        raise ValueError(f'observ_keep={list(observ_keep)} names entries beyond the '
                         f'{shape[0]} of the observation of {name}.')
      self._keep = jnp.asarray(list(observ_keep), jnp.int32)
      self.spec = dataclasses.replace(self.spec, observ_shape=(len(observ_keep),))
    if seeds is not None and len(seeds) != num_agents:
      raise ValueError(f'Got {len(seeds)} seeds for {num_agents} agents.')
    self._seeds = None if seeds is None else jnp.asarray(seeds, jnp.uint32)
    self._stagger = stagger
    self.max_length = int(max_length) if max_length else None
    own = getattr(env, 'max_steps', None)
    self.time_limit = self.max_length or (int(own) if own else None)

  def init(self, key: jax.Array) -> EnvState:
    keys = in_graph_env.first_keys(key, self.num_agents, self._seeds)
    env_state, _ = jax.vmap(self.env.reset)(keys)
    zeros = jnp.zeros(self.num_agents, jnp.int32)
    inner = JaxInner(env_state, zeros, zeros, zeros, keys)
    return in_graph_env.initial_state(self.spec, self.num_agents, inner)

  def reset(self, state: EnvState, mask: jax.Array, key: jax.Array) -> EnvState:
    inner = state.inner
    keys = in_graph_env.reset_keys(key, inner.episodes, inner.first_keys,
                                   self._seeds is not None)
    first = inner.episodes == 0
    env_state, observ = jax.vmap(self.env.reset)(keys)
    limit = jnp.full(self.num_agents, self.time_limit or 0, jnp.int32)
    if self._stagger and self.time_limit:
      fraction = in_graph_env.stagger_fraction(key, self.num_agents)   # First lengths.
      short = self.time_limit - jnp.floor(fraction * self.time_limit).astype(jnp.int32)
      limit = jnp.where(first, short, limit)
    new_inner = JaxInner(env_state, jnp.zeros(self.num_agents, jnp.int32), limit,
                         inner.episodes + 1, inner.first_keys)
    return in_graph_env.after_reset(
        state, mask, self._observ(observ, env_state), new_inner)

  def step(self, state: EnvState, action: jax.Array, key: jax.Array) -> EnvState:
    keys = jax.random.split(key, self.num_agents)
    step = lambda s, a, k: as_transition(self.env.step(s, a, k), self.name)  # noqa: E731
    result = jax.vmap(step)(state.inner.env_state, action, keys)
    inner = state.inner
    elapsed = inner.elapsed + 1
    cut = (inner.limit > 0) & (elapsed >= inner.limit)
    terminated = jnp.asarray(result.terminated, bool).reshape(self.num_agents)
    truncated = (jnp.asarray(result.truncated, bool).reshape(self.num_agents) | cut) & (
        ~terminated)
    return state.replace(
        observ=self._observ(result.observ, result.state), action=action,
        reward=jnp.asarray(result.reward).reshape(self.num_agents).astype(jnp.float32),
        terminated=terminated, truncated=truncated, done=terminated | truncated,
        inner=inner.replace(env_state=result.state, elapsed=elapsed))

  def _observ(self, observ: Any, env_state: Any) -> jax.Array:
    """The batch's observations as the algorithm's array [batch, *observ_shape]."""
    array = jax.vmap(lambda o, s: self.layout.apply(self.env, o, s))(observ, env_state)
    if self._keep is not None:
      array = array[..., self._keep]
    return array
