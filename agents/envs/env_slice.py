"""A contiguous share of a batch, served where its envs run.

`WorkerBatchEnv`'s processes and `RayBatchEnv`'s actors each hold envs
[first, first + n) of the batch. `EnvSlice` is what both run there: it builds
the envs from their pickled constructors, steps them all, resets the ones
asked for, and remembers which env it was working on, so that an exception
travels back with that env's index (`failure()`). The transport (shared
memory and a pipe, or a socket) stays with each backend.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

import cloudpickle
import numpy as np

from agents.envs import batch_env as batch_env_lib
from agents.envs import contract


class EnvSlice:
  """Envs [first, first + n) of a batch; see the module docstring."""

  def __init__(self, first: int) -> None:
    self.first = first
    self.current = first              # The env being built, stepped or reset.
    self.envs: list[Any] = []

  def build(self, payload: Sequence[bytes]) -> 'EnvSlice':
    """Build the envs from their pickled constructors (all the same spaces)."""
    for index, constructor in enumerate(payload, self.first):
      self.current = index
      self.envs.append(cloudpickle.loads(constructor)())
    batch_env_lib.check_same_spaces(
        [(env.observation_space, env.action_space) for env in self.envs])
    return self

  @property
  def spaces(self) -> tuple[Any, Any]:
    return self.envs[0].observation_space, self.envs[0].action_space

  def failure(self) -> str:
    """The exception being handled, with the index of the env that raised it."""
    return contract.failure_text(sys.exc_info()[1], self.current)

  def step(self, actions: Any, out: dict[str, np.ndarray] | None = None
           ) -> tuple[dict[str, np.ndarray], list[dict] | None]:
    """Step every env of the slice; results go into `out` (arrays of the slice's
    length: observ, reward, terminated, truncated) or new arrays. Returns them
    and the infos (None when every env's info was empty)."""
    transitions = []
    for local, env in enumerate(self.envs):
      self.current = self.first + local
      transitions.append(env.step(actions[local]))
    space = self.envs[0].observation_space
    *columns, infos = contract.stack_step(
        transitions, self.first, contract.observation_shape(space), space)
    arrays = dict(zip(('observ', 'reward', 'terminated', 'truncated'), columns))
    if out is not None:
      for name, value in arrays.items():
        out[name][:] = value
      arrays = out
    return arrays, infos if any(infos) else None

  def reset(self, requests: Sequence[tuple[int, int | None]]) -> np.ndarray:
    """Reset env `index` with `seed` for each (index, seed); their observations."""
    results = []
    for index, seed in requests:
      self.current = index
      results.append(self.envs[index - self.first].reset(seed=seed))
    space = self.envs[0].observation_space
    return contract.stack_reset(results, [index for index, _ in requests],
                                contract.observation_shape(space), space)

  def render(self, index: int) -> Any:
    self.current = index
    return self.envs[index - self.first].render()

  def close(self) -> None:
    batch_env_lib.close_all(self.envs)
