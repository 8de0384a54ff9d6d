"""Flat observations that remember what they were made of.

The host path hands the algorithm one flat float32 vector per env. Two things
ride in it and must not be lost on the way (through worker processes and Ray,
whose spaces are pickled):

- the parts of a Dict observation (`parts`: name and shape of each, in the
  order they were flattened), so that a network can split them again;
- the env's invalid-action mask (`mask_size` trailing entries, 1 = valid), from
  `info['action_mask']` (Gymnasium's convention, e.g. Taxi) or an
  `action_masks()` method (sb3-contrib's MaskablePPO convention).

`FlatBox` is a Box that carries both; `EnvSpec.from_spaces` reads them.
"""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
import numpy as np

from agents.errors import EnvContractError

MASK_KEY = 'action_mask'
MASK_METHOD = 'action_masks'


class FlatBox(gym.spaces.Box):
  """A flat Box with its layout: Dict `parts` ((name, shape), ...) or None, and
  `mask_size` trailing entries that are the action mask (0: none)."""

  def __init__(self, low: Any, high: Any, shape: Any = None, dtype: Any = np.float32,
               parts: tuple | None = None, mask_size: int = 0) -> None:
    super().__init__(low, high, shape, dtype)
    self.parts = parts
    self.mask_size = int(mask_size)

  @classmethod
  def like(cls, space: gym.spaces.Box, **layout: Any) -> 'FlatBox':
    """`space` as a FlatBox, its layout (if any) updated by `layout`."""
    fields = dict(parts=getattr(space, 'parts', None),
                  mask_size=getattr(space, 'mask_size', 0))
    fields.update(layout)
    return cls(space.low, space.high, space.shape, space.dtype, **fields)

  def __eq__(self, other: Any) -> bool:
    return (super().__eq__(other) and getattr(other, 'parts', None) == self.parts and
            getattr(other, 'mask_size', 0) == self.mask_size)

  __hash__ = None

  def __repr__(self) -> str:
    layout = f', mask_size={self.mask_size}' if self.mask_size else ''
    if self.parts:
      layout += ', parts=' + ', '.join(f'{name}{shape}' for name, shape in self.parts)
    return super().__repr__()[:-1] + layout + ')'


class FlattenDict(gym.wrappers.FlattenObservation):
  """Gymnasium's FlattenObservation of a Dict space, remembering its parts."""

  def __init__(self, env: gym.Env) -> None:
    super().__init__(env)
    space = env.observation_space
    parts = tuple((str(name), _part_shape(part)) for name, part in space.spaces.items())
    self.observation_space = FlatBox.like(self.observation_space, parts=parts)


def _part_shape(space: gym.Space) -> tuple[int, ...]:
  """A Box part keeps its shape (an image stays HxWxC); others are flat."""
  shape = space.shape if isinstance(space, gym.spaces.Box) else (
      gym.spaces.flatten_space(space).shape)
  return tuple(int(d) for d in shape)


def mask_size(action_space: Any) -> int | None:
  """Entries of an action mask for the space (n for Discrete(n), sum(nvec) for
  MultiDiscrete, concatenated as sb3-contrib does), or None if it has none."""
  nvec = getattr(action_space, 'nvec', None)
  if nvec is not None:
    return int(np.sum(nvec))
  if isinstance(action_space, gym.spaces.Discrete):
    return int(action_space.n)
  return None


def mask_source(env: gym.Env, info: dict) -> Callable[[dict], Any] | None:
  """How to read the env's mask after a reset or step, or None when it has none."""
  if MASK_KEY in info:
    return lambda info: info.get(MASK_KEY)
  try:
    method = env.get_wrapper_attr(MASK_METHOD)
  except AttributeError:
    return None
  return (lambda info: method()) if callable(method) else None


class ActionMaskObservation(gym.Wrapper):
  """Appends the env's action mask (as 0/1 float32) to its flat observation.

  The mask is read after every reset and step, from `info['action_mask']`
  where the env puts it there, else from `env.action_masks()`. A mask of the
  wrong size raises EnvContractError; one with no valid action is found by the
  batch (which knows the env's index).
  """

  def __init__(self, env: gym.Env, name: str) -> None:
    super().__init__(env)
    self._name = name
    self._size = mask_size(env.action_space)
    space = env.observation_space
    if self._size is None or len(space.shape) != 1:
      raise EnvContractError(
          f"the env '{name}' gives an action mask, but masks need Discrete or "
          f'MultiDiscrete actions and a flat observation (found {env.action_space} '
          f'and {space}).')
    low = np.concatenate([space.low, np.zeros(self._size, space.dtype)])
    high = np.concatenate([space.high, np.ones(self._size, space.dtype)])
    self.observation_space = FlatBox(low, high, low.shape, space.dtype,
                                     parts=getattr(space, 'parts', None),
                                     mask_size=self._size)
    self._read: Callable[[dict], Any] | None = None

  def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
    observ, info = self.env.reset(**kwargs)
    if self._read is None:
      self._read = mask_source(self.env, info)
    return self._with_mask(observ, info, 'reset'), info

  def step(self, action: Any) -> tuple[np.ndarray, Any, bool, bool, dict]:
    observ, reward, terminated, truncated, info = self.env.step(action)
    return self._with_mask(observ, info, 'step'), reward, terminated, truncated, info

  def action_masks(self) -> np.ndarray:
    """The mask of the latest observation (sb3-contrib's name)."""
    return self._mask

  def _with_mask(self, observ: Any, info: dict, where: str) -> np.ndarray:
    mask = None if self._read is None else self._read(info)
    if mask is None:
      raise EnvContractError(
          f"the env '{self._name}' gave an action mask before but none from this "
          f"{where}: return info['{MASK_KEY}'] from every reset and step (or define "
          f'{MASK_METHOD}()).')
    mask = np.asarray(mask).reshape(-1) if np.ndim(mask) else np.asarray(mask)
    if mask.shape != (self._size,):
      raise EnvContractError(
          f"the env '{self._name}' gave an action mask of shape {np.shape(mask)} from "
          f'{where}; its action space {self.env.action_space} needs {self._size} '
          'entries (1 = valid; MultiDiscrete: the dimensions\' masks concatenated).')
    self._mask = mask.astype(bool)
    observ = np.asarray(observ, self.observation_space.dtype)
    return np.concatenate([observ, self._mask.astype(observ.dtype)])


def provides_mask(env: gym.Env, seed: int = 0) -> bool:
  """Whether `env` gives action masks: an `action_masks` method, or
  `info['action_mask']` from a reset (one reset, only where no method tells)."""
  if mask_size(env.action_space) is None:
    return False
  try:
    if callable(env.get_wrapper_attr(MASK_METHOD)):
      return True
  except AttributeError:
    pass
  _, info = env.reset(seed=seed)
  return isinstance(info, dict) and MASK_KEY in info
