"""A batch of envs spread over Ray actors, possibly on other machines.

Same interface as `BatchEnv`. Each actor builds and steps a contiguous share
of the batch in one call (a Ray round trip costs milliseconds, so an actor
steps many envs per call; this pays for envs that cost milliseconds a step,
or for more envs than one machine has cores). The guarantees of the process
workers hold: an env that raises gives its index and traceback
(`WorkerError`); an actor that dies gives `WorkerDiedError`, and one that does
not answer within `timeout` seconds `WorkerTimeoutError`, never a hang;
`close()` kills the actors and, when this batch started Ray, shuts it down.

Without `address`, a local Ray instance is started (node address 127.0.0.1,
dashboard off; Ray >= 2.59 turns its token authentication on by default).
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, Callable, Sequence

import cloudpickle
import numpy as np

from agents.tools import batch_env as batch_env_lib
from agents.tools.process import (WorkerDiedError, WorkerError, WorkerTimeoutError,
                                  serialize_constructor)

INSTALL = "pip install -e '.[ray]'"


class _EnvActor:
  """Holds envs [first, first + n) of the batch (runs inside a Ray actor)."""

  def __init__(self, payload: list[bytes], first: int) -> None:
    self._first = first
    self._envs: list[Any] = []
    self._error: str | None = None
    try:
      for index, constructor in enumerate(payload, first):
        self._current = index
        self._envs.append(cloudpickle.loads(constructor)())
    except Exception:
      self._error = f'(in env {self._current})\n' + traceback.format_exc()

  def spaces(self) -> tuple:
    if self._error:
      return ('error', self._error)
    env = self._envs[0]
    batch_env_lib.check_same_spaces([(e.observation_space, e.action_space)
                                     for e in self._envs])
    return ('ok', (env.observation_space, env.action_space))

  def step(self, actions: np.ndarray) -> tuple:
    try:
      results = []
      for local, (env, action) in enumerate(zip(self._envs, actions)):
        self._current = self._first + local
        results.append(env.step(action)[:4])
      observ, reward, terminated, truncated = zip(*results)
      return ('ok', (batch_env_lib.stack_observs(observ),
                     np.asarray(reward, np.float32), np.asarray(terminated, bool),
                     np.asarray(truncated, bool)))
    except Exception:
      return ('error', f'(in env {self._current})\n' + traceback.format_exc())

  def reset(self, requests: list[tuple[int, int | None]]) -> tuple:
    try:
      observs = []
      for index, seed in requests:
        self._current = index
        observs.append(self._envs[index - self._first].reset(seed=seed)[0])
      return ('ok', batch_env_lib.stack_observs(observs))
    except Exception:
      return ('error', f'(in env {self._current})\n' + traceback.format_exc())

  def pid(self) -> int:
    return os.getpid()


class RayBatchEnv:
  """`len(constructors)` envs over `num_actors` Ray actors; see the module doc."""

  def __init__(self, constructors: Sequence[Callable[[], Any]],
               num_actors: int | None = None, address: str | None = None,
               timeout: float = 10.0, cpus_per_actor: float = 1.0) -> None:
    try:
      import ray
    except ImportError:
      raise ImportError(f"process_backend=ray needs Ray: {INSTALL}") from None
    self._ray = ray
    self._started_ray = False
    if not ray.is_initialized():
      if address:
        ray.init(address=address, log_to_driver=False)
      else:
        ray.init(_node_ip_address='127.0.0.1', include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
      self._started_ray = True
    self._size = len(constructors)
    self._timeout = timeout
    num_actors = max(1, min(num_actors or (os.cpu_count() or 1), self._size))
    bounds = np.linspace(0, self._size, num_actors + 1).astype(int)
    self._slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    actor_class = ray.remote(num_cpus=cpus_per_actor, max_restarts=0)(_EnvActor)
    self._actors: list[Any] = []
    try:
      for part in self._slices:
        payload = [serialize_constructor(constructors[i], f'RayBatchEnv(env {i})')
                   for i in range(part.start, part.stop)]
        self._actors.append(actor_class.remote(payload, part.start))
      spaces = self._gather([actor.spaces.remote() for actor in self._actors],
                            'start-up', timeout=max(timeout, 60.0))
      batch_env_lib.check_same_spaces(spaces)
      self.observation_space, self.action_space = spaces[0]
    except BaseException:
      self.close()
      raise

  def __len__(self) -> int:
    return self._size

  def _gather(self, refs: list[Any], action: str, timeout: float | None = None,
              parts: Sequence[slice] | None = None) -> list[Any]:
    """Results of one call per actor, or the error that names the env."""
    ray = self._ray
    parts = parts or self._slices
    try:
      answers = ray.get(refs, timeout=timeout or self._timeout)
    except ray.exceptions.GetTimeoutError:
      raise WorkerTimeoutError(
          f'A Ray env actor did not answer {action} within '
          f'{timeout or self._timeout:.0f} s.') from None
    except ray.exceptions.RayActorError as error:
      dead = next((i for i, ref in enumerate(refs) if _failed(ray, ref)), 0)
      part = parts[dead]
      raise WorkerDiedError(
          f'The Ray actor of envs {part.start}..{part.stop - 1} died during '
          f'{action}: {str(error).splitlines()[0]}') from None
    results = []
    for kind, value in answers:
      if kind == 'error':
        raise WorkerError(f'An env raised in a Ray actor during {action} {value}')
      results.append(value)
    return results

  def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                         np.ndarray, list[dict]]:
    """Step every env; returns observ, reward, terminated, truncated, infos."""
    actions = batch_env_lib.check_actions(actions, self._size, self.action_space)
    refs = [actor.step.remote(actions[part])
            for actor, part in zip(self._actors, self._slices)]
    parts = self._gather(refs, 'step()')
    observ, reward, terminated, truncated = (np.concatenate(x) for x in zip(*parts))
    return observ, reward, terminated, truncated, [{}] * self._size

  def reset(self, indices: Sequence[int] | None = None,
            seeds: Sequence[int | None] | None = None) -> np.ndarray:
    """Reset the envs at `indices` (all when None); returns their observations."""
    indices, seeds = batch_env_lib.reset_requests(indices, seeds, self._size)
    if not indices:
      space = self.observation_space
      return np.zeros((0,) + tuple(space.shape), space.dtype)
    refs, order, parts = [], [], []
    for actor, part in zip(self._actors, self._slices):
      mine = [(i, s) for i, s in zip(indices, seeds) if part.start <= i < part.stop]
      if mine:
        refs.append(actor.reset.remote(mine))
        order.extend(i for i, _ in mine)
        parts.append(part)
    observ = np.concatenate(self._gather(refs, 'reset()', parts=parts))
    position = {index: n for n, index in enumerate(order)}
    return observ[[position[i] for i in indices]]

  def close(self) -> None:
    """Kill the actors (and shut Ray down if this batch started it); returns always."""
    ray = self._ray
    for actor in getattr(self, '_actors', []):
      try:
        ray.kill(actor, no_restart=True)
      except Exception:
        pass
    self._actors = []
    if self._started_ray and ray.is_initialized():
      try:
        ray.shutdown()
      except Exception as error:  # Never raise from close().
        print(f'warning: ray.shutdown() failed: {error}', file=sys.stderr)
      self._started_ray = False

  def __enter__(self) -> 'RayBatchEnv':
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()


def _failed(ray: Any, ref: Any) -> bool:
  try:
    ray.get(ref, timeout=0)
    return False
  except Exception:
    return True
