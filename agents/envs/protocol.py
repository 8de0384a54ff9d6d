"""The host batch-env protocol that every host backend satisfies.

`BatchEnv` (in-process or `ExternalProcess` envs), `WorkerBatchEnv`,
`RayBatchEnv` and `EnvPoolBatchEnv` are interchangeable behind it, and
`InGraphBatchEnv` bridges any of them into the compiled program:

    len(env)                                   the batch size n
    env.observation_space, env.action_space    of one env (Gymnasium spaces)
    env.step(actions [n, ...]) -> BatchStep    every env steps; nothing resets on its own
    env.reset(indices=None, seeds=None)        resets those envs (all: None), returns
                                               their observations [len(indices), ...]
    env.close()                                always returns, leaves no process

`BatchStep.infos` is always a sequence of n dicts, one per env (empty where an
env said nothing), whatever the backend.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Protocol, Sequence, runtime_checkable

import numpy as np


class BatchStep(NamedTuple):
  """What one step of the batch returns; unpacks like Gymnasium's 5-tuple."""
  observ: np.ndarray        # [n, *observ_shape]
  reward: np.ndarray        # [n] float32
  terminated: np.ndarray    # [n] bool: the task ended (no bootstrap)
  truncated: np.ndarray     # [n] bool: a time limit cut the episode (bootstrap)
  infos: Sequence[dict]     # n dicts


@runtime_checkable
class HostBatchEnv(Protocol):
  """See the module docstring."""
  observation_space: Any
  action_space: Any

  def __len__(self) -> int: ...
  def step(self, actions: Any) -> BatchStep: ...
  def reset(self, indices: Sequence[int] | None = None,
            seeds: Sequence[int | None] | None = None) -> np.ndarray: ...
  def close(self) -> None: ...


class ColumnInfos(Sequence):
  """n per-env dicts over one dict of batched columns (as EnvPool returns its
  info), built only for the envs that are looked at."""

  def __init__(self, columns: Mapping[str, Any], order: Any, size: int) -> None:
    self._columns, self._order, self._size = columns, order, size

  def __len__(self) -> int:
    return self._size

  def __getitem__(self, index: Any) -> Any:
    if isinstance(index, slice):
      return [self[i] for i in range(*index.indices(self._size))]
    if not -self._size <= index < self._size:
      raise IndexError(index)
    position = np.arange(self._size)[self._order][index]
    return {key: _pick(value, position, self._size) for key, value in self._columns.items()}


def _pick(value: Any, position: int, size: int) -> Any:
  """Env `position`'s entry of a column; nested dicts likewise; others as they are."""
  if isinstance(value, Mapping):
    return {key: _pick(inner, position, size) for key, inner in value.items()}
  array = np.asarray(value)
  return array[position] if array.ndim and array.shape[0] == size else value


def empty_infos(size: int) -> list[dict]:
  return [{} for _ in range(size)]
