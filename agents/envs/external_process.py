"""One environment in its own process, so that a batch of envs steps in parallel."""

from __future__ import annotations

import traceback
from typing import Any, Callable

import cloudpickle

from agents.envs import batch_env as batch_env_lib
from agents.envs import process

_ACCESS = 'access'
_CALL = 'call'


class ExternalProcess:
  """Runs `constructor()` in a worker process and forwards calls to it.

  `step`, `reset`, `close`, `render` and attribute reads are forwarded over a
  pipe. `step(action, blocking=False)` and `reset(blocking=False)` return a
  promise: call it to receive the result, so that many envs step at once.
  Errors never hang: an exception in the worker raises `WorkerError` here with
  the worker's traceback and the env's index; a worker that dies raises
  `WorkerDiedError`, and one that does not answer within `timeout` seconds
  raises `WorkerTimeoutError`. `close()` always returns within a few seconds
  and leaves no process behind.
  """

  def __init__(self, constructor: Callable[[], Any], timeout: float = 60.0,
               index: int | None = None, start_method: str | None = None) -> None:
    name = 'Env' if index is None else f'Env {index}'
    payload = process.serialize_constructor(constructor, f'ExternalProcess({name})')
    self._timeout = timeout
    self._worker = process.Worker(_worker, (payload,), name, start_method)
    try:
      self._worker.wait_ready(timeout)
    except BaseException:
      self._worker.close()
      raise
    self._spaces: dict[str, Any] = {}

  @property
  def observation_space(self) -> Any:
    return self._cached('observation_space')

  @property
  def action_space(self) -> Any:
    return self._cached('action_space')

  def _cached(self, name: str) -> Any:
    if name not in self._spaces:
      self._spaces[name] = self.__getattr__(name)
    return self._spaces[name]

  def __getattr__(self, name: str) -> Any:
    if name.startswith('_'):
      raise AttributeError(name)
    self._worker.send((_ACCESS, name))
    return self._worker.receive(self._timeout, f"reading '{name}'")

  def call(self, name: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    """Call a method of the env; returns a promise for its result."""
    self._worker.send((_CALL, (name, args, kwargs)))
    return lambda: self._worker.receive(self._timeout, f'{name}()')

  def step(self, action: Any, blocking: bool = True) -> Any:
    promise = self.call('step', action)
    return promise() if blocking else promise

  def reset(self, blocking: bool = True, **kwargs: Any) -> Any:
    promise = self.call('reset', **kwargs)
    return promise() if blocking else promise

  def render(self) -> Any:
    return self.call('render')()

  def close(self) -> None:
    self._worker.close()

  def __enter__(self) -> 'ExternalProcess':
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()

  def __del__(self) -> None:
    worker = self.__dict__.get('_worker')
    if worker is not None:
      worker.close(timeout=0.1)


def _worker(conn: Any, payload: bytes) -> None:
  """Worker loop: build the env, then answer messages until asked to close."""
  made: list[Any] = []

  def serve() -> None:
    made.append(cloudpickle.loads(payload)())
    conn.send((process.READY, None))
    while True:
      kind, message = conn.recv()
      if kind == process.CLOSE:
        break
      try:
        conn.send((process.RESULT, _answer(made[0], kind, message)))
      except Exception:
        conn.send((process.EXCEPTION, traceback.format_exc()))

  process.run_worker(conn, serve, traceback.format_exc,
                     lambda: batch_env_lib.close_all(made))


def _answer(env: Any, kind: str, message: Any) -> Any:
  if kind == _ACCESS:
    return getattr(env, message)
  if kind == _CALL:
    name, args, kwargs = message
    return getattr(env, name)(*args, **kwargs)
  raise KeyError(f'Unknown message kind {kind!r}.')
