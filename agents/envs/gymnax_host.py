"""One gymnax env behind Gymnasium's API, for names Gymnasium does not know.

The MinAtar games live only in gymnax. Training compiles them into the
program (`env_backend=gymnax`, envs/gymnax_env.py); this host twin lets the
rest of the package reach them as any Gymnasium env: `visualize` renders
their episodes, `agents.load_policy(run).make_env()` plays them, and
`env_backend=host` trains on them. Steps are gymnax's own, jitted once per
process; natural ends are `terminated`, gymnax's time limit is `truncated`.

gymnax renders no frames of its own, so image observations (HxWxC, one
channel per kind of object, as MinAtar's) are drawn as MinAtar's GUI draws
them: each cell in the colour of its last lit channel, black where none is,
scaled up to at least 160 pixels a side.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
import numpy as np

from agents.errors import ConfigError

MIN_FRAME_SIDE = 160


def knows(env_id: str) -> bool:
  """Whether `env_id` is a gymnax env that Gymnasium's registry lacks."""
  if env_id in gym.registry:
    return False
  try:
    import gymnax
  except ImportError:
    return False
  return env_id in gymnax.registered_envs


class GymnaxHostEnv(gym.Env):
  """A single gymnax env stepped from Python (see the module docstring)."""

  metadata = {'render_modes': ['rgb_array']}

  def __init__(self, env_id: str, render_mode: str | None = None) -> None:
    import gymnax
    import jax
    self._env, self._params = gymnax.make(env_id)
    self.env_id = env_id
    self.render_mode = render_mode
    self.observation_space = _gymnasium_space(self._env.observation_space(self._params), env_id)
    self.action_space = _gymnasium_space(self._env.action_space(self._params), env_id)
    self._reset = jax.jit(self._env.reset_env)
    self._step = jax.jit(self._env.step_env)
    self._truncated = jax.jit(self._env.is_truncated)
    limit = getattr(self._params, 'max_steps_in_episode', None)
    self.spec = gym.envs.registration.EnvSpec(   # Its time limit, as registered envs declare.
        env_id, entry_point=f'{__name__}:GymnaxHostEnv',
        max_episode_steps=int(limit) if limit else None)
    self._key = jax.random.PRNGKey(0)
    self._state = None
    self._observ = None

  def reset(self, *, seed: int | None = None, options: Any = None
            ) -> tuple[np.ndarray, dict]:
    import jax
    super().reset(seed=seed)
    if seed is not None:
      self._key = jax.random.PRNGKey(seed)
    self._key, key = jax.random.split(self._key)
    observ, self._state = self._reset(key, self._params)
    self._observ = np.asarray(observ, np.float32)
    return self._observ, {}

  def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
    import jax
    if self._state is None:
      raise RuntimeError(f"Call reset() on '{self.env_id}' before step().")
    self._key, key = jax.random.split(self._key)
    observ, self._state, reward, done, _ = self._step(
        key, self._state, np.asarray(action), self._params)
    terminated = bool(done)
    truncated = bool(self._truncated(self._state, self._params)) and not terminated
    self._observ = np.asarray(observ, np.float32)
    return self._observ, float(reward), terminated, truncated, {}

  def render(self) -> np.ndarray:
    if self._observ is None:
      raise RuntimeError(f"Call reset() on '{self.env_id}' before render().")
    if self._observ.ndim != 3:
      raise ConfigError(
          f"gymnax's '{self.env_id}' renders no frames and its observations "
          f'{self._observ.shape} are not an image to draw.')
    return channel_frame(self._observ)


def channel_frame(observ: np.ndarray) -> np.ndarray:
  """An HxWxC observation of object channels as an RGB uint8 frame."""
  height, width, channels = observ.shape
  lit = observ > 0.5
  index = np.where(lit.any(-1), channels - np.argmax(lit[..., ::-1], -1), 0)
  frame = _palette(channels)[index]
  scale = max(1, -(-MIN_FRAME_SIDE // min(height, width)))
  return np.repeat(np.repeat(frame, scale, 0), scale, 1)


@functools.lru_cache(maxsize=None)
def _palette(channels: int) -> np.ndarray:
  """Black, then one colour per channel (cubehelix, as MinAtar's GUI)."""
  from matplotlib import colormaps
  colours = colormaps['cubehelix'](np.linspace(0.35, 0.95, channels))[:, :3]
  return (255 * np.concatenate([np.zeros((1, 3)), colours])).astype(np.uint8)


def _gymnasium_space(space: Any, env_id: str) -> gym.Space:
  from gymnax.environments import spaces
  if isinstance(space, spaces.Discrete):
    return gym.spaces.Discrete(int(space.n))
  if isinstance(space, spaces.Box):
    low = np.broadcast_to(np.asarray(space.low, np.float32), space.shape)
    high = np.broadcast_to(np.asarray(space.high, np.float32), space.shape)
    return gym.spaces.Box(low, high, tuple(space.shape), np.float32)
  raise ConfigError(f"gymnax's '{env_id}' has a {type(space).__name__} space, which "
                    'only the compiled path reads: use env_backend=gymnax.')
