"""A batch env whose envs live in a few worker processes, sharing memory.

For cheap envs one pipe round trip per env and step costs more than the env
itself. Here each worker steps a slice of the batch; actions and results pass
through shared memory, and each step costs one short message per worker.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np

from agents.envs import batch_env as batch_env_lib
from agents.envs import process
from agents.envs.env_slice import EnvSlice
from agents.envs.protocol import BatchStep, empty_infos

_ATTACH = 'attach'
_STEP = 'step'
_RESET = 'reset'
_RENDER = 'render'


def _buffer_layout(observ_space: gym.Space, action_space: gym.Space,
                   batch_size: int) -> dict[str, tuple[tuple[int, ...], str]]:
  """Shapes and dtypes of the shared arrays."""
  observ_dtype = np.dtype(observ_space.dtype)
  if observ_dtype == np.float64:
    observ_dtype = np.dtype(np.float32)
  return {
      'observ': ((batch_size,) + tuple(observ_space.shape), observ_dtype.str),
      'action': ((batch_size,) + tuple(action_space.shape or ()),
                 np.dtype(action_space.dtype).str),
      'reward': ((batch_size,), np.dtype(np.float32).str),
      'terminated': ((batch_size,), np.dtype(bool).str),
      'truncated': ((batch_size,), np.dtype(bool).str),
  }


def _map_arrays(path: str, layout: dict, mode: str) -> dict[str, np.ndarray]:
  arrays, offset = {}, 0
  for name, (shape, dtype) in layout.items():
    arrays[name] = np.memmap(path, dtype=np.dtype(dtype), mode=mode,
                             offset=offset, shape=shape)
    offset += int(np.prod(shape)) * np.dtype(dtype).itemsize
    offset = (offset + 63) // 64 * 64
  return arrays


def _layout_bytes(layout: dict) -> int:
  total = 0
  for shape, dtype in layout.values():
    total += int(np.prod(shape)) * np.dtype(dtype).itemsize
    total = (total + 63) // 64 * 64
  return max(total, 64)


class WorkerBatchEnv:
  """Same interface as BatchEnv; `num_workers` processes each step several envs.

  Errors behave as in ExternalProcess: an env that raises reports its index
  and traceback, a dead or stuck worker raises instead of hanging, and
  `close()` always returns.
  """

  def __init__(self, constructors: Sequence[Callable[[], Any]],
               num_workers: int | None = None, timeout: float = 60.0,
               start_method: str | None = None) -> None:
    if not constructors:
      raise ValueError('WorkerBatchEnv needs at least one env constructor.')
    num_workers = num_workers or min(len(constructors), os.cpu_count() or 1)
    num_workers = max(1, min(num_workers, len(constructors)))
    self._size = len(constructors)
    self._timeout = timeout
    bounds = np.linspace(0, self._size, num_workers + 1).astype(int)
    self._slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    self._workers: list[process.Worker] = []
    try:
      for index, part in enumerate(self._slices):
        payload = [process.serialize_constructor(
            constructors[i], f'WorkerBatchEnv(env {i})')
            for i in range(part.start, part.stop)]
        name = f'Worker {index} (envs {part.start}..{part.stop - 1})'
        self._workers.append(process.Worker(
            _worker, (payload, part.start), name, start_method))
      self.observation_space, self.action_space = batch_env_lib.common_spaces(
          [worker.wait_ready(timeout) for worker in self._workers])
      self._attach_shared_memory()
    except BaseException:
      self.close()
      raise

  def _attach_shared_memory(self) -> None:
    layout = _buffer_layout(self.observation_space, self.action_space, self._size)
    directory = '/dev/shm' if os.path.isdir('/dev/shm') else None
    handle, path = tempfile.mkstemp(prefix='agents-batch-', dir=directory)
    try:
      os.ftruncate(handle, _layout_bytes(layout))
      os.close(handle)
      self._arrays = _map_arrays(path, layout, 'r+')
      for worker, part in zip(self._workers, self._slices):
        worker.send((_ATTACH, (path, layout, part.start, part.stop)))
      for worker in self._workers:
        worker.receive(self._timeout, 'attaching shared memory')
    finally:
      os.unlink(path)  # The mappings stay valid; nothing leaks on a crash.

  def __len__(self) -> int:
    return self._size

  def step(self, actions: Any) -> BatchStep:
    """Step every env; returns observ, reward, terminated, truncated, infos."""
    actions = batch_env_lib.check_actions(actions, self._size, self.action_space)
    self._arrays['action'][:] = actions
    for worker in self._workers:
      worker.send((_STEP, None))
    infos: list[dict] = []
    for worker, part in zip(self._workers, self._slices):
      worker_infos = worker.receive(self._timeout, 'step()')
      infos.extend(worker_infos or empty_infos(part.stop - part.start))
    arrays = self._arrays
    return BatchStep(np.array(arrays['observ']), np.array(arrays['reward']),
                     np.array(arrays['terminated']), np.array(arrays['truncated']), infos)

  def reset(self, indices: Sequence[int] | None = None,
            seeds: Sequence[int | None] | None = None) -> np.ndarray:
    """Reset the envs at `indices` (all when None); returns their observations."""
    indices, seeds = batch_env_lib.reset_requests(indices, seeds, self._size)
    busy = []
    for worker, part in zip(self._workers, self._slices):
      mine = [(i, s) for i, s in zip(indices, seeds) if part.start <= i < part.stop]
      if mine:
        worker.send((_RESET, mine))
        busy.append(worker)
    for worker in busy:
      worker.receive(self._timeout, 'reset()')
    return np.array(self._arrays['observ'][indices])

  def render(self, index: int = 0) -> Any:
    for worker, part in zip(self._workers, self._slices):
      if part.start <= index < part.stop:
        worker.send((_RENDER, index))
        return worker.receive(self._timeout, 'render()')
    raise IndexError(f'No env {index} in a batch of {self._size}.')

  def close(self) -> None:
    for worker in self._workers:
      worker.close()
    self._workers = []

  def __enter__(self) -> 'WorkerBatchEnv':
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()

  def __del__(self) -> None:
    for worker in self.__dict__.get('_workers', []):
      worker.close(timeout=0.1)


def _worker(conn: Any, payload: list[bytes], first_index: int) -> None:
  """Worker loop: build a slice of the batch, then serve step/reset messages."""
  envs = EnvSlice(first_index)
  process.run_worker(conn, lambda: _serve(conn, envs, payload), envs.failure, envs.close)


def _serve(conn: Any, envs: EnvSlice, payload: list[bytes]) -> None:
  envs.build(payload)
  conn.send((process.READY, envs.spaces))
  arrays: dict[str, np.ndarray] = {}
  while True:
    kind, message = conn.recv()
    if kind == process.CLOSE:
      break
    if kind == _ATTACH:
      path, layout, start, stop = message
      arrays = {name: array[start:stop] for name, array in
                _map_arrays(path, layout, 'r+').items()}
      conn.send((process.RESULT, None))
    elif kind == _STEP:
      conn.send((process.RESULT, envs.step(arrays['action'], out=arrays)[1]))
    elif kind == _RESET:
      arrays['observ'][[index - envs.first for index, _ in message]] = envs.reset(message)
      conn.send((process.RESULT, None))
    elif kind == _RENDER:
      conn.send((process.RESULT, envs.render(message)))
