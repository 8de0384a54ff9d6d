"""Many environments as one batch: actions in, batched arrays out."""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np

from agents.envs import contract
from agents.envs.protocol import BatchStep


def check_same_spaces(spaces: Sequence[tuple[gym.Space, gym.Space]]) -> None:
  """Raise if envs of a batch disagree on their spaces."""
  observ_space, action_space = spaces[0]
  for index, (observ, action) in enumerate(spaces[1:], 1):
    if observ != observ_space:
      raise ValueError(
          f'All envs of a batch need the same observation space: env 0 has '
          f'{observ_space}, env {index} has {observ}.')
    if action != action_space:
      raise ValueError(
          f'All envs of a batch need the same action space: env 0 has '
          f'{action_space}, env {index} has {action}.')


def common_spaces(spaces: Sequence[tuple[gym.Space, gym.Space]]
                  ) -> tuple[gym.Space, gym.Space]:
  """The (observation, action) spaces that every env of a batch shares, or raise."""
  check_same_spaces(spaces)
  return spaces[0]


def close_all(envs: Sequence[Any]) -> None:
  """Close every env; one that raises on close does not stop the others."""
  for env in envs:
    try:
      env.close()
    except Exception:
      pass


def check_actions(actions: Any, batch_size: int, action_space: gym.Space) -> np.ndarray:
  """Convert to an array of shape [batch, *action_shape] or raise clearly."""
  actions = np.asarray(actions)
  expected = (batch_size,) + tuple(action_space.shape or ())
  if actions.shape != expected:
    raise ValueError(
        f'Expected a batch of actions of shape {expected} (batch of '
        f'{batch_size} for action space {action_space}), got shape '
        f'{actions.shape}.')
  return actions


def reset_requests(indices: Sequence[int] | None, seeds: Sequence[int | None] | None,
                   size: int) -> tuple[list[int], list[int | None]]:
  """The envs to reset (all when None) and their seeds (None each when None)."""
  indices = list(range(size)) if indices is None else [int(i) for i in indices]
  seeds = [None] * len(indices) if seeds is None else list(seeds)
  if len(seeds) != len(indices):
    raise ValueError(f'Got {len(seeds)} seeds for {len(indices)} envs.')
  return indices, seeds


class BatchEnv:
  """Steps several envs as one batch (the original's BatchEnv, Gymnasium API).

  `envs` are Gymnasium envs or `ExternalProcess` instances. With
  `blocking=False`, external envs receive all actions before any result is
  awaited, so they step in parallel. Resets are explicit: `reset(indices)`
  resets those envs and returns their observations; nothing resets on its own.
  """

  def __init__(self, envs: Sequence[Any], blocking: bool) -> None:
    if not envs:
      raise ValueError('BatchEnv needs at least one env.')
    self._envs = list(envs)
    self._blocking = blocking
    check_same_spaces([(env.observation_space, env.action_space)
                       for env in self._envs])
    self.observation_space = self._envs[0].observation_space
    self.action_space = self._envs[0].action_space
    self._observ_shape = contract.observation_shape(self.observation_space)

  def __len__(self) -> int:
    return len(self._envs)

  def __getitem__(self, index: int) -> Any:
    return self._envs[index]

  def step(self, actions: Any) -> BatchStep:
    """Step every env; returns observ, reward, terminated, truncated, infos."""
    actions = check_actions(actions, len(self), self.action_space)
    if self._blocking:
      transitions = []
      for index, (env, action) in enumerate(zip(self._envs, actions)):
        transitions.append(contract.call(env.step, 'step', f'env {index}', action))
    else:
      promises = [env.step(action, blocking=False)
                  for env, action in zip(self._envs, actions)]
      transitions = [promise() for promise in promises]
    return BatchStep(*contract.stack_step(transitions, 0, self._observ_shape,
                                          self.observation_space))

  def reset(self, indices: Sequence[int] | None = None,
            seeds: Sequence[int | None] | None = None) -> np.ndarray:
    """Reset the envs at `indices` (all when None); returns their observations."""
    indices, seeds = reset_requests(indices, seeds, len(self))
    if not indices:
      space = self.observation_space
      return np.zeros((0,) + tuple(space.shape), space.dtype)
    if self._blocking:
      results = [contract.call(self._envs[i].reset, 'reset', f'env {i}', seed=seed)
                 for i, seed in zip(indices, seeds)]
    else:
      promises = [self._envs[i].reset(blocking=False, seed=seed)
                  for i, seed in zip(indices, seeds)]
      results = [promise() for promise in promises]
    return contract.stack_reset(results, indices, self._observ_shape,
                                self.observation_space)

  def render(self, index: int = 0) -> Any:
    return self._envs[index].render()

  def close(self) -> None:
    close_all(self._envs)

  def __enter__(self) -> 'BatchEnv':
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()
