"""The common JAX env families, each adapted to the protocol of `jax_env`.

Each adapter maps its family's reset, step and time step onto
`reset(key) -> (state, observ)` and `step(state, action, key) -> Transition`,
keeping `terminated` apart from `truncated` by what the family itself says:

| family             | terminated / truncated from                                  |
| ------------------ | ------------------------------------------------------------ |
| gymnax             | `step_env`'s done / `is_truncated` (time >= max_steps)       |
| Craftax            | `done` / the env's step counter at `max_timesteps`           |
| Brax, Playground   | `done` / `info['truncation']` where an EpisodeWrapper set it; |
|                    | the episode length (1000, or the env config's) as a cut     |
| Jumanji            | last step with discount 0 / last step with discount > 0      |
| Navix              | `step_type` 2 / `step_type` 1                                |
| Pgx                | `terminated` / `truncated`, against an opponent policy       |
| XLand-MiniGrid     | `step_type` last with discount 0 / with discount > 0         |

The families' own auto-resets are never used: agents resets explicitly.
"""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from agents.envs.jax_env import Transition

# The module a family's classes live in (the root of `type(env).__module__`),
# in the order they are tried (Craftax's classes come before gymnax's).
FAMILIES = ('craftax', 'gymnax', 'brax', 'mujoco_playground', 'jumanji', 'navix',
            'pgx', 'xminigrid')
DEFAULT_EPISODE_LENGTH = 1000   # Brax's and Playground's default episode length.


def family_of(env: Any) -> str | None:
  """The family whose classes `env` derives from, or None."""
  roots = {cls.__module__.split('.')[0] for cls in type(env).__mro__}
  return next((family for family in FAMILIES if family in roots), None)


def traced_observation_space(reset: Callable[[jax.Array], Any]) -> gym.spaces.Space:
  """A Box (one array) or Dict of Boxes (a pytree) of what `reset` returns."""
  _, observ = jax.eval_shape(reset, jax.ShapeDtypeStruct((2,), np.uint32))
  return space_of(observ)


def space_of(observ: Any) -> gym.spaces.Space:
  leaves = jax.tree_util.tree_leaves_with_path(observ)
  if len(leaves) == 1 and not leaves[0][0]:
    return _box(observ)
  return gym.spaces.Dict({jax.tree_util.keystr(path, simple=True, separator='.'): _box(leaf)
                          for path, leaf in leaves})


def _box(leaf: Any) -> gym.spaces.Box:
  """A Box of one observation array's shape and dtype."""
  dtype, shape = np.dtype(leaf.dtype), tuple(leaf.shape)
  if dtype == np.bool_:
    return gym.spaces.Box(0, 1, shape, np.bool_)
  if np.issubdtype(dtype, np.integer):
    info = np.iinfo(dtype)
    return gym.spaces.Box(info.min, info.max, shape, dtype)
  return gym.spaces.Box(-np.inf, np.inf, shape, dtype)


class GymnaxAdapter:
  """A gymnax env (`gymnax.environments.environment.Environment`, a user's
  subclass included) and its params."""

  def __init__(self, env: Any, params: Any = None) -> None:
    self.env = env
    self.params = env.default_params if params is None else params
    self.action_space = env.action_space(self.params)
    self.max_steps = _int_or_none(getattr(self.params, 'max_steps_in_episode', None))
    self.observation_space = traced_observation_space(self.reset)

  def reset(self, key: jax.Array) -> tuple[Any, Any]:
    observ, state = self.env.reset_env(key, self.params)
    return state, observ

  def step(self, state: Any, action: jax.Array, key: jax.Array) -> Transition:
    result = self.env.step_env(key, state, action, self.params)
    if len(result) == 6:   # (obs, state, reward, terminated, truncated, info)
      observ, state, reward, terminated, truncated, _ = result
      terminated = jnp.asarray(terminated, bool)
      return Transition(state, observ, reward, terminated,
                        jnp.asarray(truncated, bool) & ~terminated)
    observ, state, reward, done, _ = result
    terminated = jnp.asarray(done, bool)   # gymnax >= 1.0: natural ends only.
    return Transition(state, observ, reward, terminated, self._limit(state) & ~terminated)

  def _limit(self, state: Any) -> jax.Array:
    if not hasattr(state, 'time') or self.max_steps is None:
      return jnp.asarray(False)
    return jnp.asarray(self.env.is_truncated(state, self.params), bool)


class CraftaxAdapter(GymnaxAdapter):
  """Craftax: its `done` includes the time limit, which its step counter splits off."""

  def __init__(self, env: Any, params: Any = None) -> None:
    super().__init__(env, params)
    self.max_steps = _int_or_none(getattr(self.params, 'max_timesteps', None))

  def step(self, state: Any, action: jax.Array, key: jax.Array) -> Transition:
    observ, state, reward, done, _ = self.env.step_env(key, state, action, self.params)
    done = jnp.asarray(done, bool)
    limit = jnp.asarray(False) if self.max_steps is None else (
        state.timestep >= self.max_steps)
    return Transition(state, observ, reward, done & ~limit, done & limit)


class BraxAdapter:
  """Brax (`brax.envs.base.Env`) and MuJoCo Playground (`MjxEnv`) envs: a
  `State` with obs, reward, done and info; actions in [-1, 1]."""

  def __init__(self, env: Any, episode_length: int | None = None) -> None:
    self.env = env
    config = getattr(env, '_config', None)
    length = episode_length or getattr(config, 'episode_length', None)
    self.max_steps = int(length or DEFAULT_EPISODE_LENGTH)
    self.action_space = gym.spaces.Box(-1.0, 1.0, (int(env.action_size),), np.float32)
    self.observation_space = traced_observation_space(self.reset)

  def reset(self, key: jax.Array) -> tuple[Any, Any]:
    state = self.env.reset(key)
    return state, state.obs

  def step(self, state: Any, action: jax.Array, key: jax.Array) -> Transition:
    state = self.env.step(state, action)
    done = jnp.asarray(state.done > 0.5)
    cut = state.info.get('truncation') if isinstance(state.info, dict) else None
    truncated = done & (jnp.asarray(cut) > 0.5) if cut is not None else jnp.asarray(False)
    return Transition(state, state.obs, state.reward, done & ~truncated, truncated)

  def render(self, states: list[Any]) -> list[np.ndarray]:
    """Frames of a trajectory through MuJoCo's renderer (needs EGL or OSMesa
    headless): Brax renders its pipeline states, Playground its env states."""
    if family_of(self.env) == 'brax':
      states = [state.pipeline_state for state in states]
    return list(self.env.render(states))


class JumanjiAdapter:
  """Jumanji (`jumanji.env.Environment`): `TimeStep`s whose last step's discount
  says termination (0) or truncation (> 0); `observation.action_mask` is the mask."""

  def __init__(self, env: Any) -> None:
    self.env = env
    self.max_steps = _int_or_none(getattr(env, 'time_limit', None))
    self.action_space = _space_of_spec(env.action_spec)
    self.observation_space = traced_observation_space(self.reset)

  def reset(self, key: jax.Array) -> tuple[Any, Any]:
    state, timestep = self.env.reset(key)
    return state, _observ_fields(timestep.observation)

  def step(self, state: Any, action: jax.Array, key: jax.Array) -> Transition:
    state, timestep = self.env.step(state, action)
    last = timestep.step_type == 2   # dm_env's StepType.LAST
    discount = jnp.asarray(timestep.discount)
    return Transition(state, _observ_fields(timestep.observation), timestep.reward,
                      last & (discount == 0), last & (discount > 0))


class NavixAdapter:
  """Navix (`navix.Environment`): `Timestep.step_type` 1 truncation, 2 termination.
  Its `step` resets a done timestep on the next call; the adapter steps with
  `_step` (no reset) where the env has it, as every ended episode is reset first."""

  def __init__(self, env: Any) -> None:
    self.env = env
    self.max_steps = _int_or_none(getattr(env, 'max_steps', None))
    self.action_space = gym.spaces.Discrete(int(env.action_space.n))
    self.observation_space = _bounded(traced_observation_space(self.reset),
                                      getattr(env.observation_space, 'maximum', None))

  def reset(self, key: jax.Array) -> tuple[Any, Any]:
    timestep = self.env.reset(key)
    return timestep, timestep.observation

  def step(self, state: Any, action: jax.Array, key: jax.Array) -> Transition:
    step = getattr(self.env, '_step', self.env.step)
    timestep = step(state, action)
    return Transition(timestep, timestep.observation, timestep.reward,
                      timestep.step_type == 2, timestep.step_type == 1)


class XMinigridAdapter:
  """XLand-MiniGrid (`xminigrid.environment.Environment`, params first)."""

  def __init__(self, env: Any, params: Any = None) -> None:
    self.env = env
    self.params = env.default_params() if params is None else params
    self.max_steps = _int_or_none(getattr(self.params, 'max_steps', None))
    self.action_space = gym.spaces.Discrete(int(env.num_actions(self.params)))
    from xminigrid.core import constants   # Tile and colour ids, the grid's values.
    self.observation_space = _bounded(traced_observation_space(self.reset),
                                      max(constants.NUM_TILES, constants.NUM_COLORS))

  def reset(self, key: jax.Array) -> tuple[Any, Any]:
    timestep = self.env.reset(self.params, key)
    return timestep, timestep.observation

  def step(self, state: Any, action: jax.Array, key: jax.Array) -> Transition:
    timestep = self.env.step(self.params, state, action)
    last = timestep.step_type == 2
    return Transition(timestep, timestep.observation, timestep.reward,
                      last & (timestep.discount == 0), last & (timestep.discount > 0))

  def render(self, state: Any) -> np.ndarray:
    """The grid as XLand-MiniGrid draws it (NumPy, for visualize)."""
    return self.env.render(self.params.replace(render_mode='rgb_array'), state)


class PgxAdapter:
  """A Pgx game (`pgx.Env`) played by one agent against an opponent policy.

  The agent takes a random seat each episode; the opponent moves until it is
  the agent's turn again (or the game ends), so a step is one move of the
  agent and the replies to it. The reward is the agent's over those moves;
  `legal_action_mask` is the action mask.

  opponent: 'random' (uniform over legal moves), or a pure JAX function
    `opponent(observation, legal_action_mask, key) -> action` for one game.
  """

  def __init__(self, env: Any, opponent: Callable[..., Any] | str = 'random') -> None:
    self.env = env
    self.opponent = _random_move if opponent == 'random' else opponent
    self.max_steps = None
    self.action_space = gym.spaces.Discrete(int(env.num_actions))
    self.observation_space = traced_observation_space(self.reset)

  def reset(self, key: jax.Array) -> tuple[Any, Any]:
    init_key, seat_key, reply_key = jax.random.split(key, 3)
    game = self.env.init(init_key)
    seat = jax.random.bernoulli(seat_key).astype(game.current_player.dtype)
    state = (game, seat)
    game, _ = self._replies(state, reply_key)
    return (game, seat), game.observation

  def step(self, state: Any, action: jax.Array, key: jax.Array) -> Transition:
    game, seat = state
    move_key, reply_key = jax.random.split(key)
    game = self.env.step(game, action, move_key)
    reward = game.rewards[seat]
    game, replies = self._replies((game, seat), reply_key)
    return Transition((game, seat), game.observation, reward + replies,
                      jnp.asarray(game.terminated, bool), jnp.asarray(game.truncated, bool))

  def action_mask(self, state: Any) -> jax.Array:
    return state[0].legal_action_mask

  def _replies(self, state: Any, key: jax.Array) -> tuple[Any, jax.Array]:
    """The opponent's moves until the agent's turn or the game's end, and the
    agent's reward over them."""
    _, seat = state

    def waiting(carry: Any) -> jax.Array:
      game = carry[0]
      return ~(game.terminated | game.truncated) & (game.current_player != seat)

    def reply(carry: Any) -> Any:
      game, reward, key = carry
      key, choose_key, move_key = jax.random.split(key, 3)
      move = self.opponent(game.observation, game.legal_action_mask, choose_key)
      game = self.env.step(game, move, move_key)
      return game, reward + game.rewards[seat], key

    game, reward, _ = jax.lax.while_loop(
        waiting, reply, (state[0], jnp.zeros((), jnp.float32), key))
    return game, reward


def _random_move(observ: Any, legal: jax.Array, key: jax.Array) -> jax.Array:
  del observ
  return jax.random.categorical(key, jnp.where(legal, 0.0, -jnp.inf))


def _bounded(space: gym.spaces.Space, high: Any) -> gym.spaces.Space:
  """A uint8 Box bounded by the symbolic values' maximum (scaled by 1/high in
  the network instead of 1/255)."""
  if high is None or not isinstance(space, gym.spaces.Box) or space.dtype != np.uint8:
    return space
  return gym.spaces.Box(0, int(np.max(np.asarray(high))), space.shape, np.uint8)


def _space_of_spec(spec: Any) -> gym.spaces.Space:
  """A Gymnasium space of a Jumanji action spec."""
  name = type(spec).__name__
  if name == 'DiscreteArray':
    return gym.spaces.Discrete(int(spec.num_values))
  if name == 'MultiDiscreteArray':
    nvec = np.asarray(spec.num_values).ravel()
    return gym.spaces.MultiDiscrete(nvec.astype(np.int64))
  low = np.broadcast_to(np.asarray(spec.minimum, np.float32), spec.shape)
  high = np.broadcast_to(np.asarray(spec.maximum, np.float32), spec.shape)
  return gym.spaces.Box(low, high, tuple(spec.shape), np.float32)


def _observ_fields(observ: Any) -> Any:
  """A Jumanji observation (a NamedTuple or dataclass) as a dict of its fields,
  so that its parts keep their names."""
  if hasattr(observ, '_asdict'):
    return dict(observ._asdict())
  return observ


def _int_or_none(value: Any) -> int | None:
  try:
    return int(value) if value is not None else None
  except (TypeError, ValueError):   # A traced or symbolic value: no static limit.
    return None
