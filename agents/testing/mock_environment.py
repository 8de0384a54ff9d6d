"""A Gymnasium environment with random observations and episodes of random length."""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np


class MockEnvironment(gym.Env):
  """Random observations and rewards; each episode lasts a random duration.

  Used to test the plumbing (batching, processes, simulate, the Loop) without
  learning. `durations` records the length drawn for every episode at reset,
  `steps` the number of steps each episode actually ran. Every episode ends
  with `terminated=True` after its drawn duration; stepping an episode that
  has ended (or was never started) raises.
  """

  metadata = {'render_modes': ['rgb_array']}

  def __init__(self, observ_shape: Sequence[int] = (2,),
               action_shape: Sequence[int] = (1,), min_duration: int = 5,
               max_duration: int = 10, seed: int | None = None) -> None:
    if not 1 <= min_duration <= max_duration:
      raise ValueError(
          f'Need 1 <= min_duration <= max_duration, got {min_duration}, {max_duration}.')
    self.observation_space = gym.spaces.Box(
        -np.inf, np.inf, tuple(observ_shape), np.float32)
    self.action_space = gym.spaces.Box(-1, 1, tuple(action_shape), np.float32)
    self.render_mode = 'rgb_array'
    self._min_duration = min_duration
    self._max_duration = max_duration
    self._random = np.random.RandomState(seed)
    self._duration: int | None = None
    self.steps: list[int] = []
    self.durations: list[int] = []

  def reset(self, *, seed: int | None = None,
            options: dict | None = None) -> tuple[np.ndarray, dict]:
    if seed is not None:
      self._random = np.random.RandomState(seed)
    self._duration = int(self._random.randint(
        self._min_duration, self._max_duration + 1))
    self.durations.append(self._duration)
    self.steps.append(0)
    return self._observ(), {}

  def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
    if self._duration is None:
      raise RuntimeError('MockEnvironment: call reset() before step().')
    if self.steps[-1] >= self._duration:
      raise RuntimeError(
          'MockEnvironment: the episode has ended; call reset() first.')
    action = np.asarray(action)
    if action.shape != self.action_space.shape:
      raise ValueError(
          f'MockEnvironment: action shape {action.shape}, expected '
          f'{self.action_space.shape}.')
    self.steps[-1] += 1
    terminated = self.steps[-1] >= self._duration
    reward = float(self._random.uniform(-1, 1))
    return self._observ(), reward, terminated, False, {}

  def render(self) -> np.ndarray:
    return np.zeros((16, 16, 3), np.uint8)

  def _observ(self) -> np.ndarray:
    return self._random.uniform(
        -1, 1, self.observation_space.shape).astype(np.float32)
