"""EnvPool as a host batch env: MuJoCo (and other) envs stepped in C++ threads.

`EnvPoolBatchEnv` has the interface of `agents.envs.BatchEnv` (explicit
`reset(indices)`, `step(actions)` returning observ, reward, terminated,
truncated, infos), so `InGraphBatchEnv` bridges it into the compiled program
like any host batch env.

EnvPool resets an env on its own on the step *after* its episode ended (that
step ignores the action and returns the first observation with reward 0). The
simulation resets every ended env explicitly before the next step, so such a
step never happens: the step that ends an episode returns the true final
observation (for bootstrapping a truncated episode) and the next observation
comes from `reset`. Observations are float32, images (Atari's uint8 frames)
stay bytes; actions reach EnvPool as
float64, as its MuJoCo envs want. Env i is seeded with `seed + i` when the
pool is made; EnvPool cannot re-seed at reset, so `reset`'s seeds are ignored
(evaluation therefore stays on Gymnasium envs with their fixed reset seeds).
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np

from agents.envs import mujoco_noise
from agents.envs.protocol import BatchStep, ColumnInfos

INSTALL = "pip install -e '.[envpool]'"


def available() -> bool:
  try:
    import envpool  # noqa: F401
  except ImportError:
    return False
  return True


def supports(env_id: str) -> bool:
  """Whether EnvPool knows this task id."""
  import envpool
  return env_id in envpool.list_all_envs()


class EnvPoolBatchEnv:
  """`num_envs` copies of an EnvPool task as one synchronous batch.

  max_length: cap on episode length (EnvPool's max_episode_steps); None: the
    task's own. stagger: cut each env's first episode after a random number
    of steps in [1, episode limit] (as `wrappers.StaggerStart`), drawn from
    `seed`. num_threads: EnvPool's worker threads (0: its default).
    options: more of EnvPool's task options (e.g. Atari's `episodic_life`).
  """

  def __init__(self, env_id: str, num_envs: int, seed: int = 0,
               max_length: int | None = None, stagger: bool = False,
               num_threads: int = 0, options: dict | None = None) -> None:
    import envpool
    kwargs = dict(num_envs=num_envs, batch_size=num_envs, seed=int(seed),
                  num_threads=int(num_threads), **(options or {}))
    if max_length:
      kwargs['max_episode_steps'] = int(max_length)
    with mujoco_noise.quiet_output():
      self._pool = envpool.make_gymnasium(env_id, **kwargs)
    self.env_id = env_id
    self._num_envs = num_envs
    self.observation_space = _float32_space(self._pool.observation_space)
    self.action_space = self._pool.action_space
    if not isinstance(self.observation_space, gym.spaces.Box):
      raise ValueError(f"EnvPool's '{env_id}' observes {self.observation_space}; "
                       'only Box observations are supported.')
    self._observ_dtype = self.observation_space.dtype
    self._action_dtype = (np.float64 if isinstance(self.action_space, gym.spaces.Box)
                          else np.int32)
    limit = int(self._pool.spec.config.max_episode_steps)
    rng = np.random.RandomState(seed)
    self._first_limits = (rng.randint(1, limit + 1, num_envs) if stagger
                          else np.zeros(num_envs, np.int64))
    self._episodes = np.zeros(num_envs, np.int64)
    self._steps = np.zeros(num_envs, np.int64)

  def __len__(self) -> int:
    return self._num_envs

  def reset(self, indices: Sequence[int] | None = None,
            seeds: Sequence[int | None] | None = None) -> np.ndarray:
    """Reset the envs at `indices` (all when None); `seeds` are ignored."""
    del seeds  # EnvPool seeds its envs once, when the pool is made.
    indices = np.arange(self._num_envs) if indices is None else np.asarray(
        list(indices), np.int32)
    if not len(indices):
      return np.zeros((0,) + self.observation_space.shape, self._observ_dtype)
    observ, info = self._pool.reset(indices.astype(np.int32))
    observ = np.asarray(observ, self._observ_dtype)[_reorder(info, indices)]
    self._episodes[indices] += 1
    self._steps[indices] = 0
    return observ

  def step(self, actions: Any) -> BatchStep:
    """Step every env; returns observ, reward, terminated, truncated, infos."""
    actions = np.asarray(actions, self._action_dtype)
    expected = (self._num_envs,) + tuple(self.action_space.shape or ())
    if actions.shape != expected:
      raise ValueError(f'Expected a batch of actions of shape {expected}, got '
                       f'shape {actions.shape}.')
    observ, reward, terminated, truncated, info = self._pool.step(actions)
    order = _reorder(info, np.arange(self._num_envs))
    observ = np.asarray(observ, self._observ_dtype)[order]
    reward = np.asarray(reward, np.float32)[order]
    terminated = np.asarray(terminated, bool)[order]
    truncated = np.asarray(truncated, bool)[order]
    self._steps += 1
    first = (self._episodes == 1) & (self._first_limits > 0)
    truncated |= first & (self._steps >= self._first_limits) & ~terminated
    return BatchStep(observ, reward, terminated, truncated,
                     ColumnInfos(info, order, self._num_envs))

  def close(self) -> None:
    close = getattr(self._pool, 'close', None)
    if close:
      close()


def _reorder(info: dict, indices: np.ndarray) -> np.ndarray:
  """Positions in EnvPool's output of the envs in `indices`, in that order."""
  env_id = np.asarray(info['env_id'])
  if np.array_equal(env_id, indices):
    return slice(None)
  position = {int(e): p for p, e in enumerate(env_id)}
  return np.asarray([position[int(i)] for i in indices])


def _float32_space(space: gym.Space) -> gym.Space:
  if isinstance(space, gym.spaces.Box) and space.dtype == np.float64:
    return gym.spaces.Box(space.low.astype(np.float32), space.high.astype(np.float32),
                          space.shape, np.float32)
  return space
