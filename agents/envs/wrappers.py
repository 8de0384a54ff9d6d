"""Environment wrappers with the original BatchPPO's names, on Gymnasium's API.

Where Gymnasium already has the exact behaviour (time limits, action clipping,
rescaling, auto-reset) the wrapper builds on Gymnasium's implementation.
"""

from __future__ import annotations

import collections
from typing import Any, Sequence

import gymnasium as gym
import numpy as np

from agents.envs import observation_layout


class LimitDuration(gym.wrappers.TimeLimit):
  """Ends episodes after `duration` steps with `truncated=True` (not terminated)."""

  def __init__(self, env: gym.Env, duration: int) -> None:
    if duration < 1:
      raise ValueError(f'LimitDuration needs duration >= 1, got {duration}.')
    super().__init__(env, max_episode_steps=duration)


def _is_finite_box(space: gym.Space) -> bool:
  return (isinstance(space, gym.spaces.Box) and
          bool(np.all(np.isfinite(space.low))) and
          bool(np.all(np.isfinite(space.high))))


class RangeNormalize(gym.Wrapper):
  """Maps finite Box observations and/or actions to the range [-1, 1].

  `observ` and `action` are True (normalize; the space must be a finite Box),
  False (leave alone) or None (normalize when the space is a finite Box).
  Discrete spaces are always left alone. The agent then acts in [-1, 1] and
  the wrapper maps actions to the environment's own range.
  """

  def __init__(self, env: gym.Env, observ: bool | None = None,
               action: bool | None = None) -> None:
    inner = env
    if self._should_normalize(env.observation_space, observ, 'observ'):
      inner = gym.wrappers.RescaleObservation(inner, -1.0, 1.0)
    if self._should_normalize(env.action_space, action, 'action'):
      inner = gym.wrappers.RescaleAction(inner, -1.0, 1.0)
    super().__init__(inner)

  @staticmethod
  def _should_normalize(space: gym.Space, flag: bool | None, name: str) -> bool:
    if isinstance(space, gym.spaces.Discrete) or flag is False:
      return False
    finite = _is_finite_box(space)
    if flag and not finite:
      raise ValueError(
          f'RangeNormalize: the {name} space {space} has no finite bounds; '
          f'pass {name}=False or None.')
    return finite


class ClipAction(gym.wrappers.ClipAction):
  """Clips continuous actions to the bounds of the Box action space."""


class AutoReset(gym.wrappers.Autoreset):
  """Resets the env on the step after an episode ended.

  That step returns the first observation of the new episode with reward 0
  and both flags False, as the original's AutoReset did.
  """


class ConvertTo32Bit(gym.Wrapper):
  """Converts 64-bit observations to 32 bits and rewards to float32."""

  def __init__(self, env: gym.Env) -> None:
    super().__init__(env)
    self.observation_space = self._convert_space(env.observation_space)

  @staticmethod
  def _convert_space(space: gym.Space) -> gym.Space:
    if isinstance(space, observation_layout.FlatBox):   # Keep its layout.
      dtype = _to_32bit(space.dtype)
      return observation_layout.FlatBox(
          space.low.astype(dtype), space.high.astype(dtype), space.shape, dtype,
          parts=space.parts, mask_size=space.mask_size)
    if isinstance(space, gym.spaces.Box):
      dtype = _to_32bit(space.dtype)
      return gym.spaces.Box(space.low.astype(dtype), space.high.astype(dtype),
                            space.shape, dtype)
    return space

  def reset(self, **kwargs: Any) -> tuple[Any, dict]:
    observ, info = self.env.reset(**kwargs)
    return self._convert_observ(observ), info

  def step(self, action: Any) -> tuple[Any, np.float32, bool, bool, dict]:
    observ, reward, terminated, truncated, info = self.env.step(action)
    return (self._convert_observ(observ), np.float32(reward),
            bool(terminated), bool(truncated), info)

  @staticmethod
  def _convert_observ(observ: Any) -> Any:
    observ = np.asarray(observ)
    return observ.astype(_to_32bit(observ.dtype), copy=False)


def _to_32bit(dtype: np.dtype) -> np.dtype:
  dtype = np.dtype(dtype)
  if dtype == np.float64:
    return np.dtype(np.float32)
  if dtype == np.int64:
    return np.dtype(np.int32)
  if dtype == np.uint64:
    return np.dtype(np.uint32)
  return dtype


class CacheSpaces(gym.Wrapper):
  """Reads the spaces once, so that remote envs answer them without a round trip."""

  def __init__(self, env: gym.Env) -> None:
    super().__init__(env)
    self.observation_space = env.observation_space
    self.action_space = env.action_space


class ActionRepeat(gym.Wrapper):
  """Repeats each action `amount` times, summing rewards; stops at episode end."""

  def __init__(self, env: gym.Env, amount: int) -> None:
    if amount < 1:
      raise ValueError(f'ActionRepeat needs amount >= 1, got {amount}.')
    super().__init__(env)
    self._amount = amount

  def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
    total = 0.0
    for _ in range(self._amount):
      observ, reward, terminated, truncated, info = self.env.step(action)
      total += float(reward)
      if terminated or truncated:
        break
    return observ, total, terminated, truncated, info


class RandomStart(gym.Wrapper):
  """Starts each episode with a random number (0..max_steps) of random actions.

  Diversifies start states and staggers the episodes of a batch. If the
  episode ends during the random steps, the env is reset and the count drawn
  again.
  """

  def __init__(self, env: gym.Env, max_steps: int) -> None:
    super().__init__(env)
    self._max_steps = max_steps
    self._random = np.random.RandomState()

  def reset(self, *, seed: int | None = None,
            options: dict | None = None) -> tuple[Any, dict]:
    if seed is not None:
      self._random = np.random.RandomState(seed)
      self.env.action_space.seed(seed)
    observ, info = self.env.reset(seed=seed, options=options)
    for _ in range(self._random.randint(0, self._max_steps + 1)):
      observ, _, terminated, truncated, info = self.env.step(
          self.env.action_space.sample())
      if terminated or truncated:
        observ, info = self.env.reset()
    return observ, info


class FrameHistory(gym.Wrapper):
  """Observations stacked from past frames at the offsets in `steps`.

  `steps=[0, 1, 4]` gives the current frame, the one before, and the one four
  steps back (the first frame repeats at the episode start). The stack axis
  comes first, or frames are concatenated along the last axis if `flatten`.
  """

  def __init__(self, env: gym.Env, steps: Sequence[int],
               flatten: bool = False) -> None:
    super().__init__(env)
    if not steps or min(steps) < 0:
      raise ValueError(f'FrameHistory needs offsets >= 0, got {steps}.')
    self._steps = list(steps)
    self._flatten = flatten
    self._buffer: collections.deque = collections.deque(maxlen=max(steps) + 1)
    space = env.observation_space
    low = self._stack([space.low] * (max(steps) + 1))
    high = self._stack([space.high] * (max(steps) + 1))
    self.observation_space = gym.spaces.Box(low, high, low.shape, space.dtype)

  def reset(self, **kwargs: Any) -> tuple[Any, dict]:
    observ, info = self.env.reset(**kwargs)
    self._buffer.clear()
    self._buffer.extend([observ] * self._buffer.maxlen)
    return self._stack(self._buffer), info

  def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
    observ, reward, terminated, truncated, info = self.env.step(action)
    self._buffer.append(observ)
    return self._stack(self._buffer), reward, terminated, truncated, info

  def _stack(self, frames: Sequence[np.ndarray]) -> np.ndarray:
    frames = list(frames)
    selected = [frames[-1 - step] for step in self._steps]
    if self._flatten:
      return np.concatenate(selected, axis=-1)
    return np.stack(selected, axis=0)


class FrameDelta(gym.Wrapper):
  """Observations as the difference to the previous frame (zero at reset).

  With `concat`, the frame and its delta are concatenated along the last axis.
  """

  def __init__(self, env: gym.Env, concat: bool = False) -> None:
    super().__init__(env)
    self._concat = concat
    self._last: np.ndarray | None = None
    space = env.observation_space
    low, high = space.low - space.high, space.high - space.low
    if concat:
      low = np.concatenate([space.low, low], axis=-1)
      high = np.concatenate([space.high, high], axis=-1)
    self.observation_space = gym.spaces.Box(low, high, low.shape, space.dtype)

  def reset(self, **kwargs: Any) -> tuple[Any, dict]:
    observ, info = self.env.reset(**kwargs)
    self._last = np.asarray(observ)
    return self._output(self._last, np.zeros_like(self._last)), info

  def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
    observ, reward, terminated, truncated, info = self.env.step(action)
    observ = np.asarray(observ)
    delta = observ - self._last
    self._last = observ
    return self._output(observ, delta), reward, terminated, truncated, info

  def _output(self, observ: np.ndarray, delta: np.ndarray) -> np.ndarray:
    if self._concat:
      return np.concatenate([observ, delta], axis=-1)
    return delta


class StaggerStart(gym.Wrapper):
  """Truncates the first episode after a random number of steps in [1, duration].

  The envs of a batch then end their episodes on different steps, which
  decorrelates the rollouts of time-limited tasks. Later episodes are untouched.
  The number of steps is drawn from the seed of the first reset.
  """

  def __init__(self, env: gym.Env, duration: int) -> None:
    super().__init__(env)
    self._duration = duration
    self._limit: int | None = None
    self._steps = 0
    self._episodes = 0

  def reset(self, *, seed: int | None = None,
            options: dict | None = None) -> tuple[Any, dict]:
    self._episodes += 1
    if self._episodes == 1:
      self._limit = int(np.random.RandomState(seed).randint(1, self._duration + 1))
    else:
      self._limit = None
    self._steps = 0
    return self.env.reset(seed=seed, options=options)

  def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
    observ, reward, terminated, truncated, info = self.env.step(action)
    self._steps += 1
    if self._limit is not None and self._steps >= self._limit:
      truncated = True
    return observ, reward, terminated, truncated, info


class SelectObservation(gym.ObservationWrapper):
  """Keeps the entries `indices` of a flat Box observation (hides the rest).

  Makes a task partially observed, e.g. Pendulum without its angular velocity
  (`indices=[0, 1]`), as recurrent-policy benchmarks do.
  """

  def __init__(self, env: gym.Env, indices: Sequence[int]) -> None:
    super().__init__(env)
    space = env.observation_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
      raise ValueError(f'SelectObservation needs a flat Box, got {space}.')
    self._indices = np.asarray(list(indices), np.int64)
    if self._indices.size == 0 or self._indices.min() < 0 or (
        self._indices.max() >= space.shape[0]):
      raise ValueError(f'Observation indices {list(indices)} are out of range for '
                       f'{space.shape[0]} entries.')
    self.observation_space = gym.spaces.Box(
        space.low[self._indices], space.high[self._indices],
        (len(self._indices),), space.dtype)

  def observation(self, observ: Any) -> Any:
    return np.asarray(observ)[self._indices]
