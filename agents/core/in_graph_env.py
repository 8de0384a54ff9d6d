"""The in-graph environment interface shared by host-bridged and JAX-native envs.

An in-graph env is a set of functions over a batch state (`EnvState`):

    init(key) -> state                       every agent marked done (needs a reset)
    reset(state, mask, key) -> state         resets the agents where `mask` is true
    step(state, action, key) -> state        steps every agent

`reset` and `step` are traceable: they run inside `jax.jit` and `lax.scan`.
`init` runs in Python at the start of a phase. The algorithm and `simulate`
cannot tell a host-bridged env (`InGraphBatchEnv`) from a JAX-native one.
An env with invalid-action masks sets `spec.mask_size` and ends every
observation with its mask (1 = valid), so that the mask is part of the state
the algorithm sees.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from agents.errors import UnsupportedActionSpace


@flax.struct.dataclass
class EnvState:
  """The batch's variables, each with a leading batch axis.

  observ: [batch, *observ_shape], the latest observation (after a step, the
    observation the step produced, also when the episode ended there).
  action: [batch, *action_shape], the last action applied.
  reward: [batch], terminated: [batch], truncated: [batch], done: [batch]
    (done = terminated | truncated; init sets it so that every agent resets).
  inner: whatever the env needs internally (a pytree), e.g. gymnax states.
  """
  observ: jax.Array
  action: jax.Array
  reward: jax.Array
  terminated: jax.Array
  truncated: jax.Array
  done: jax.Array
  inner: Any = ()


@dataclasses.dataclass(frozen=True)
class EnvSpec:
  """What an algorithm needs to know of an env: shapes, dtypes, action range."""
  observ_shape: tuple[int, ...]
  action_shape: tuple[int, ...]
  num_actions: int | None = None          # Discrete action spaces only.
  action_low: tuple[float, ...] | None = None
  action_high: tuple[float, ...] | None = None
  action_nvec: tuple[int, ...] | None = None   # MultiDiscrete: categories per dimension.
  binary: bool = False                         # MultiBinary: action_shape bits.
  # The last mask_size entries of a (flat) observation are the env's action
  # mask, 1 = valid (Discrete: one per action; MultiDiscrete: the dimensions'
  # masks concatenated). 0: the env gives none.
  mask_size: int = 0
  # The parts of a flattened Dict observation, ((name, shape), ...) in order.
  observ_parts: tuple[tuple[str, tuple[int, ...]], ...] | None = None
  # 'uint8' for images kept as bytes until the network (scaled to [0, 1] there).
  observ_dtype: str = 'float32'
  # A Dict's image parts (HxWxC) are multiplied by this instead of normalized:
  # 1/255 where their bounds are bytes' (0..255), else 1.
  image_part_scale: float = 1.0
  # uint8 images are multiplied by this: 1/255, or 1/high where the space bounds
  # them lower (symbolic grids such as Navix's, values 0..8), so inputs span [0, 1].
  image_scale: float = 1 / 255

  @property
  def image_entries(self) -> np.ndarray | None:
    """Which entries of a flat Dict observation (mask excluded) belong to image
    parts, bool [size]; None when it has none."""
    flags = [np.full(int(np.prod(shape)), len(shape) == 3)
             for _, shape in self.observ_parts or ()]
    if not flags or not any(flag.any() for flag in flags):
      return None
    return np.concatenate(flags)

  @property
  def image(self) -> bool:
    """Observations are images (HxWxC or CxHxW): a CNN reads them, and they are
    scaled instead of normalized."""
    return len(self.policy_observ_shape) == 3

  @property
  def observ_jnp_dtype(self) -> Any:
    return jnp.uint8 if self.observ_dtype == 'uint8' else jnp.float32

  @property
  def policy_observ_shape(self) -> tuple[int, ...]:
    """The observation the network sees: without the trailing action mask."""
    if not self.mask_size:
      return self.observ_shape
    return self.observ_shape[:-1] + (self.observ_shape[-1] - self.mask_size,)

  def split_observ(self, observ: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    """(observation, action mask as bool or None) of observations [..., *observ_shape]."""
    if not self.mask_size:
      return observ, None
    return observ[..., :-self.mask_size], observ[..., -self.mask_size:] > 0.5

  def observ_dict(self, observ: jax.Array) -> dict[str, jax.Array]:
    """A flattened Dict observation [..., size] split into its parts, each
    [..., *shape] (for networks that treat parts differently)."""
    if not self.observ_parts:
      raise ValueError('The observation has no parts: it was not a Dict observation.')
    parts, start = {}, 0
    for name, shape in self.observ_parts:
      size = int(np.prod(shape))
      parts[name] = observ[..., start:start + size].reshape(observ.shape[:-1] + shape)
      start += size
    return parts

  @property
  def kind(self) -> str:
    """'box', 'discrete', 'multi_discrete' or 'multi_binary'."""
    if self.num_actions is not None:
      return 'discrete'
    if self.action_nvec is not None:
      return 'multi_discrete'
    return 'multi_binary' if self.binary else 'box'

  @property
  def discrete(self) -> bool:
    """Integer actions (Discrete, MultiDiscrete, MultiBinary)."""
    return self.kind != 'box'

  def describe(self) -> str:
    """The action space as Gymnasium writes it, e.g. MultiDiscrete([3 4])."""
    if self.kind == 'discrete':
      return f'Discrete({self.num_actions})'
    if self.kind == 'multi_discrete':
      return f"MultiDiscrete([{' '.join(map(str, self.action_nvec))}])"
    if self.kind == 'multi_binary':
      return f'MultiBinary({int(np.prod(self.action_shape))})'
    return f'Box{self.action_shape}'

  @property
  def action_dtype(self) -> Any:
    return jnp.int32 if self.discrete else jnp.float32

  @classmethod
  def from_spaces(cls, observation_space: Any, action_space: Any) -> 'EnvSpec':
    """From Gymnasium or gymnax spaces (see `action_fields`)."""
    observ_shape = tuple(int(d) for d in observation_space.shape)
    parts = getattr(observation_space, 'parts', None)
    dtype = 'uint8' if np.dtype(getattr(observation_space, 'dtype', None) or np.float32
                                ) == np.uint8 else 'float32'
    return cls(observ_shape, **action_fields(action_space), observ_dtype=dtype,
               mask_size=int(getattr(observation_space, 'mask_size', 0) or 0),
               observ_parts=tuple((n, tuple(s)) for n, s in parts) if parts else None,
               image_part_scale=_image_part_scale(observation_space, parts),
               image_scale=_image_scale(observation_space))


def _image_scale(space: Any) -> float:
  """1/255, or 1/high for uint8 observations bounded below 255."""
  high = np.asarray(getattr(space, 'high', 255), np.float64)
  top = float(high.max()) if high.size else 255.0
  return 1 / top if 0 < top < 255 else 1 / 255


def _image_part_scale(space: Any, parts: Any) -> float:
  """1/255 when a Dict's image parts are bounded by 0..255 (bytes), else 1."""
  high, start = np.ravel(np.asarray(getattr(space, 'high', np.inf), np.float64)), 0
  for _, shape in parts or ():
    size = int(np.prod(shape))
    if len(shape) == 3 and high.size > 1 and np.all(high[start:start + size] == 255):
      return 1 / 255
    start += size
  return 1.0


def action_fields(action_space: Any) -> dict[str, Any]:
  """EnvSpec's action fields of a Box, Discrete, MultiDiscrete or MultiBinary
  space; UnsupportedActionSpace naming any other."""
  nvec = getattr(action_space, 'nvec', None)
  if nvec is not None:   # MultiDiscrete
    nvec = np.asarray(nvec)
    if nvec.ndim != 1 or np.any(np.asarray(getattr(action_space, 'start', 0)) != 0):
      raise UnsupportedActionSpace(
          f'Unsupported action space {action_space}: MultiDiscrete actions need one '
          'dimension of categories that start at 0 (flatten or shift them in a '
          'gymnasium.ActionWrapper).')
    return dict(action_shape=(len(nvec),), action_nvec=tuple(int(n) for n in nvec))
  if type(action_space).__name__ == 'MultiBinary':
    shape = tuple(int(d) for d in action_space.shape)
    if len(shape) != 1:
      raise UnsupportedActionSpace(
          f'Unsupported action space {action_space}: MultiBinary actions need one '
          'dimension of bits (flatten them in a gymnasium.ActionWrapper).')
    return dict(action_shape=shape, binary=True)
  num = getattr(action_space, 'num_categories', getattr(action_space, 'n', None))
  scalar = tuple(getattr(action_space, 'shape', None) or ()) == ()
  if num is not None and scalar and not hasattr(action_space, 'nvec'):
    if int(getattr(action_space, 'start', 0)) != 0:
      raise UnsupportedActionSpace(
          f'Unsupported action space {action_space}: Discrete actions must start '
          'at 0; shift them in the env (or a gymnasium.ActionWrapper).')
    return dict(action_shape=(), num_actions=int(num))
  if not hasattr(action_space, 'low'):
    raise UnsupportedActionSpace(
        f'Unsupported action space {action_space} ({type(action_space).__name__}): '
        'the policies here act in Box, Discrete, MultiDiscrete and MultiBinary spaces.')
  shape = tuple(int(d) for d in action_space.shape)
  low = np.broadcast_to(np.asarray(action_space.low, np.float64), shape)
  high = np.broadcast_to(np.asarray(action_space.high, np.float64), shape)
  return dict(action_shape=shape, action_low=tuple(float(x) for x in low.ravel()),
              action_high=tuple(float(x) for x in high.ravel()))


class InGraphEnv(Protocol):
  """The interface that `simulate` steps; see the module docstring."""
  spec: EnvSpec
  num_agents: int

  def init(self, key: jax.Array) -> EnvState: ...
  def reset(self, state: EnvState, mask: jax.Array, key: jax.Array) -> EnvState: ...
  def step(self, state: EnvState, action: jax.Array, key: jax.Array) -> EnvState: ...


def initial_state(spec: EnvSpec, num_agents: int, inner: Any = ()) -> EnvState:
  """A state in which every agent is done, so that the first step resets all."""
  batch = (num_agents,)
  return EnvState(
      observ=jnp.zeros(batch + spec.observ_shape, spec.observ_jnp_dtype),
      action=jnp.zeros(batch + spec.action_shape, spec.action_dtype),
      reward=jnp.zeros(batch, jnp.float32),
      terminated=jnp.zeros(batch, bool),
      truncated=jnp.zeros(batch, bool),
      done=jnp.ones(batch, bool),
      inner=inner)


def first_keys(key: jax.Array, num_agents: int, seeds: jax.Array | None) -> jax.Array:
  """Each agent's key for its first reset, [num_agents, 2]: `PRNGKey(seed)` per
  agent where `seeds` are given (evaluations replay the same first episodes),
  else split from `key`."""
  if seeds is not None:
    return jax.vmap(jax.random.PRNGKey)(seeds)
  return jax.random.split(key, num_agents)


def reset_keys(key: jax.Array, episodes: jax.Array, first: jax.Array,
               seeded: bool) -> jax.Array:
  """The agents' reset keys: fresh from `key`, but an agent's first episode
  (`episodes == 0`) starts from its key in `first` where the env is `seeded`."""
  keys = jax.random.split(key, episodes.shape[0])
  if seeded:
    keys = jnp.where((episodes == 0)[:, None], first, keys)
  return keys


def stagger_fraction(key: jax.Array, num_agents: int) -> jax.Array:
  """A uniform fraction [num_agents] of the time limit at which each agent's
  first episode is cut (without jax.random.randint: seen to hang in jit+vmap)."""
  return jax.random.uniform(jax.random.fold_in(key, 1), (num_agents,))


def after_reset(state: EnvState, mask: jax.Array, observ: jax.Array,
                inner: Any = ()) -> EnvState:
  """The state with fresh episodes where `mask`: new observ, flags cleared."""
  def select(new: jax.Array, old: jax.Array) -> jax.Array:
    where = mask.reshape(mask.shape + (1,) * (new.ndim - 1))
    return jnp.where(where, new, old)
  return state.replace(
      observ=select(observ, state.observ),
      reward=jnp.where(mask, 0.0, state.reward),
      terminated=state.terminated & ~mask,
      truncated=state.truncated & ~mask,
      done=state.done & ~mask,
      inner=jax.tree_util.tree_map(select, inner, state.inner))
