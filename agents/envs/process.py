"""Plumbing shared by the process backends: start, talk to and stop a worker.

Workers start with forkserver (Linux) or spawn, never fork: a fork after JAX
has started its threads can deadlock. Payloads are serialized with cloudpickle
so that lambdas and closures work as constructors.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from typing import Any, Callable

import cloudpickle
from agents.envs import contract
from agents.errors import WorkerDiedError, WorkerError, WorkerTimeoutError

# Message kinds, parent -> worker and worker -> parent.
READY = 'ready'
RESULT = 'result'
EXCEPTION = 'exception'
CLOSE = 'close'


def default_start_method() -> str:
  methods = multiprocessing.get_all_start_methods()
  return 'forkserver' if 'forkserver' in methods else 'spawn'


def serialize_constructor(constructor: Callable[[], Any], what: str) -> bytes:
  """Serialize a constructor with cloudpickle, with an error that says what to fix."""
  if not callable(constructor):
    raise TypeError(f'{what}: expected a callable that builds the env, got '
                    f'{type(constructor).__name__}.')
  try:
    return cloudpickle.dumps(constructor)
  except Exception as error:
    raise TypeError(
        f'{what}: the env constructor {constructor!r} cannot be serialized '
        f'for the worker process ({type(error).__name__}: {error}). Pass a '
        'function or lambda that builds the env inside the worker, instead '
        'of capturing an object that cannot be pickled (open files, locks, '
        'an already created env).') from error


def ignore_interrupts() -> None:
  """In a worker: leave Ctrl-C to the parent, so it prints one traceback."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_worker(conn: Any, body: Callable[[], None], failure: Callable[[], str],
               cleanup: Callable[[], None]) -> None:
  """A worker's life: `body()` serves messages; a parent that went away (or
  Ctrl-C, which is the parent's to handle) ends it quietly; any other exception
  is sent to the parent as `failure()` (a traceback naming the env); `cleanup()`
  and closing the pipe happen whatever ends it."""
  ignore_interrupts()
  try:
    body()
  except (EOFError, KeyboardInterrupt, BrokenPipeError):
    pass
  except Exception:
    try:
      conn.send((EXCEPTION, failure()))
    except Exception:
      pass
  finally:
    cleanup()
    conn.close()


def startup_advice(start_method: str) -> str:
  """Why a worker may die before it answers, for the error message."""
  main = sys.modules.get('__main__')
  main_file = getattr(main, '__file__', None)
  if main_file is None or not os.path.exists(main_file):
    return (f'The main program has no file ({main_file!r}): a program read '
            'from stdin or typed interactively cannot start workers with the '
            f"'{start_method}' start method, because each worker re-imports "
            'the main module. Save the program to a file (with an '
            "`if __name__ == '__main__':` guard) and run that.")
  return (f'With the {start_method} start method each worker re-imports the '
          f'main module ({main_file}); make sure the code that starts workers '
          "runs only under `if __name__ == '__main__':`. The worker's own "
          'output (stderr) above may say more.')


class Worker:
  """One worker process and the pipe to it, with errors instead of hangs."""

  def __init__(self, target: Callable[..., None], args: tuple, name: str,
               start_method: str | None = None) -> None:
    self.name = name
    self.start_method = start_method or default_start_method()
    context = multiprocessing.get_context(self.start_method)
    self._conn, child_conn = context.Pipe()
    self._process = context.Process(
        target=target, args=(child_conn, *args), daemon=True)
    self._process.start()
    child_conn.close()
    self._closed = False

  @property
  def pid(self) -> int | None:
    return self._process.pid

  def send(self, message: Any) -> None:
    try:
      self._conn.send(message)
    except (BrokenPipeError, ConnectionResetError, EOFError, OSError) as error:
      raise WorkerDiedError(self._died_message('while sending')) from error

  def receive(self, timeout: float, action: str) -> Any:
    """Wait for the next message; raise on exception, death or timeout."""
    deadline = time.monotonic() + timeout
    while True:
      remaining = deadline - time.monotonic()
      if remaining <= 0:
        raise WorkerTimeoutError(
            f'{self.name} did not answer {action} within {timeout:.1f} s '
            f'(process {self.pid}). It may be stuck; raise the timeout if '
            'the env is slow.')
      try:
        ready = self._conn.poll(min(remaining, 1.0))
      except (EOFError, OSError):
        ready = True
      if ready:
        try:
          kind, payload = self._conn.recv()
        except (EOFError, ConnectionResetError, OSError) as error:
          raise WorkerDiedError(self._died_message(f'during {action}')) from error
        if kind == EXCEPTION:
          raise contract.failure_error(
              payload, f'{self.name} raised in {action}. Traceback from the worker:\n')
        return payload
      if not self._process.is_alive():
        raise WorkerDiedError(self._died_message(f'during {action}'))

  def wait_ready(self, timeout: float) -> Any:
    """Wait for the worker's READY message, diagnosing deaths at start-up."""
    try:
      return self.receive(timeout, 'start-up')
    except WorkerDiedError as error:
      self._process.join(1.0)
      raise WorkerDiedError(
          f'{self.name} died at start-up (exit code {self._process.exitcode}). '
          + startup_advice(self.start_method)) from error

  def _died_message(self, when: str) -> str:
    self._process.join(0.5)
    code = self._process.exitcode
    how = f'killed by signal {-code}' if code is not None and code < 0 else (
        f'exit code {code}')
    return f'{self.name} (process {self.pid}) died {when} ({how}).'

  def close(self, timeout: float = 1.0) -> None:
    """Stop the worker: ask, then terminate, then kill. Always returns."""
    if self._closed:
      return
    self._closed = True
    try:
      if self._process.is_alive():
        self._conn.send((CLOSE, None))
    except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
      pass
    self._process.join(timeout)
    if self._process.is_alive():
      self._process.terminate()
      self._process.join(1.0)
    if self._process.is_alive():
      self._process.kill()
      self._process.join(1.0)
    self._conn.close()
