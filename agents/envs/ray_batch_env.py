"""A batch of envs spread over Ray actors, possibly on other machines.

Same interface as `BatchEnv`. Ray places the actors (on this machine or on
the nodes of a cluster), builds a contiguous share of the batch in each and
watches them; the per-step traffic bypasses Ray's task calls, which cost
about 1-2 ms a round trip. Instead every actor opens one connection back to
this process (`multiprocessing.connection`, authenticated with a random key
that only the actors receive, through Ray) and serves step/reset messages on
it, so a step costs one socket round trip per actor, about what the local
worker processes pay.

The guarantees of the process workers hold: an env that raises gives its
index and traceback (`WorkerError`); an actor that dies gives
`WorkerDiedError`, and one that does not answer within `timeout` seconds
`WorkerTimeoutError`, never a hang; `close()` kills the actors and, when this
batch started Ray, shuts it down.

Without `address`, a local Ray instance is started (node address 127.0.0.1,
dashboard off; Ray >= 2.59 turns its token authentication on by default).
While Ray has this one node, the connections use 127.0.0.1; in a cluster of
several nodes they go to this node's address as Ray knows it: keep the
cluster on a private network (the connections are authenticated, not
encrypted).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
import warnings
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from typing import Any, Callable, Sequence

import numpy as np

from agents.envs import batch_env as batch_env_lib
from agents.envs import contract
from agents.envs.env_slice import EnvSlice
from agents.envs.process import (WorkerDiedError, WorkerError, WorkerTimeoutError,
                                  serialize_constructor)
from agents.envs.protocol import BatchStep, empty_infos
from agents.errors import ConfigError

LOG = logging.getLogger(__name__)

INSTALL = "pip install -e '.[ray]'"
# Seconds for the actors to start, build their envs and connect: each actor is
# a new Python process that imports the env's modules (and JAX). 60 s ran out on
# a 2-core machine running three training jobs beside the tests.
_START_TIMEOUT = 180.0


def check_reachable(address: str, timeout: float = 5.0) -> None:
  """Raise ConfigError when nothing answers at a Ray address ('host:port' or
  'ray://host:port'); Ray itself would wait minutes for it. 'auto' and
  other forms are left to Ray."""
  host, _, port = address.split('://')[-1].rpartition(':')
  if not host or not port.isdigit():
    return
  try:
    socket.create_connection((host, int(port)), timeout=timeout).close()
  except OSError as error:
    reason = error.strerror or type(error).__name__
    if isinstance(error, socket.timeout):
      reason = f'no answer within {timeout:.0f} s'
    raise ConfigError(
        f"Cannot reach the Ray cluster at '{address}' ({reason}). Check the address "
        "(the head node's GCS port, 6379 by default) and that the cluster is up "
        '(ray status on the head node).') from None


def init_ray(ray: Any, address: str | None) -> None:
  """Join the cluster at `address` (checked first), or start a local instance."""
  with warnings.catch_warnings():
    # Ray starts its processes with fork + exec, which is safe beside JAX's
    # threads; JAX's at-fork hook would still warn about each one.
    warnings.filterwarnings('ignore', r'os\.fork\(\) was called', RuntimeWarning)
    if address:
      check_reachable(address)
      try:
        ray.init(address=address, log_to_driver=False)
      except Exception as error:  # Not a Ray head there, or a bad token.
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"Cannot join the Ray cluster at '{address}': {first}") from None
    else:
      ray.init(_node_ip_address='127.0.0.1', include_dashboard=False,
               log_to_driver=False, configure_logging=False)


class _EnvActor:
  """Holds envs [first, first + n) of the batch (runs inside a Ray actor)."""

  def __init__(self, payload: list[bytes], first: int) -> None:
    self._envs = EnvSlice(first)
    self._error: str | None = None
    try:
      self._envs.build(payload)
    except Exception:
      self._error = self._envs.failure()

  def spaces(self) -> tuple:
    if self._error:
      return ('error', self._error)
    return ('ok', self._envs.spaces)

  def serve(self, address: tuple[str, int], authkey: bytes) -> None:
    """Connect back to the batch and answer its step/reset messages until told to stop."""
    conn = Client(address, authkey=authkey)
    try:
      conn.send(('hello', self._envs.first, os.getpid()))
      handlers = {'step': self.step, 'reset': self.reset}
      while True:
        kind, message = conn.recv()
        if kind not in handlers:
          break
        conn.send(handlers[kind](message))
    except (EOFError, OSError):
      pass   # The batch went away; the actor is killed next.
    finally:
      conn.close()
      self._envs.close()

  def step(self, actions: np.ndarray) -> tuple:
    try:
      arrays, infos = self._envs.step(actions)
      return ('ok', (arrays['observ'], arrays['reward'], arrays['terminated'],
                     arrays['truncated'], infos))
    except Exception:
      return ('error', self._envs.failure())

  def reset(self, requests: list[tuple[int, int | None]]) -> tuple:
    try:
      return ('ok', self._envs.reset(requests))
    except Exception:
      return ('error', self._envs.failure())


def connect_host(nodes: list[dict], node_id: str) -> str:
  """Where the actors connect back to: 127.0.0.1 while Ray has only this node
  (the connections never leave the machine), else this node's address in the
  cluster. `nodes` as `ray.nodes()` lists them."""
  alive = [node for node in nodes if node.get('Alive', True)]
  if all(node['NodeID'] == node_id for node in alive):
    return '127.0.0.1'
  return next(node['NodeManagerAddress'] for node in alive if node['NodeID'] == node_id)


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
    self._actors: list[Any] = []
    self._conns: list[Connection] = []
    self._listener: Listener | None = None
    self._pids: list[int] = []
    self.listen_address: tuple[str, int] | None = None   # Where the actors connect.
    if not ray.is_initialized():
      init_ray(ray, address)
      self._started_ray = True
    self._size = len(constructors)
    self._timeout = timeout
    self._cpus_per_actor = cpus_per_actor
    num_actors = max(1, min(num_actors or (os.cpu_count() or 1), self._size))
    bounds = np.linspace(0, self._size, num_actors + 1).astype(int)
    self._slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    actor_class = ray.remote(num_cpus=cpus_per_actor, max_restarts=0)(_EnvActor)
    try:
      for part in self._slices:
        payload = [serialize_constructor(constructors[i], f'RayBatchEnv(env {i})')
                   for i in range(part.start, part.stop)]
        self._actors.append(actor_class.remote(payload, part.start))
      self.observation_space, self.action_space = batch_env_lib.common_spaces(
          self._gather_calls([actor.spaces.remote() for actor in self._actors]))
      self._connect()
    except BaseException:
      self.close()
      raise

  def __len__(self) -> int:
    return self._size

  @property
  def actor_pids(self) -> list[int]:
    """The process ids of the actors, in batch order (each says so when it connects)."""
    return list(self._pids)

  def _gather_calls(self, refs: list[Any]) -> list[Any]:
    """Results of one Ray call per actor at start-up, or the error that names the env."""
    ray = self._ray
    try:
      answers = ray.get(refs, timeout=max(self._timeout, _START_TIMEOUT))
    except ray.exceptions.GetTimeoutError:
      raise WorkerTimeoutError(
          f'The Ray env actors did not start within '
          f'{max(self._timeout, _START_TIMEOUT):.0f} s (does the cluster have '
          f'{self._cpus_per_actor:g} free CPU for each of the {len(self._actors)} '
          'actors? `ray status` shows what is free).') from None
    except ray.exceptions.RayActorError as error:
      raise WorkerDiedError('A Ray env actor died during start-up: '
                            f'{str(error).splitlines()[0]}') from None
    for kind, value in answers:
      if kind == 'error':
        raise contract.failure_error(value, 'An env raised in a Ray actor during start-up ')
    return [value for _, value in answers]

  def _connect(self) -> None:
    """Have every actor connect back; the step traffic then bypasses Ray's calls."""
    ray = self._ray
    host = connect_host(ray.nodes(), ray.get_runtime_context().get_node_id())
    authkey = secrets.token_bytes(32)
    self._listener = Listener((host, 0), authkey=authkey)
    self.listen_address = self._listener.address
    accepted: dict[int, tuple[Connection, int]] = {}
    stop = threading.Event()

    def accept() -> None:
      while len(accepted) < len(self._slices) and not stop.is_set():
        try:
          conn = self._listener.accept()
          _, first, pid = conn.recv()
          accepted[first] = (conn, pid)
        except (AuthenticationError, EOFError, OSError, ValueError):
          continue   # A stranger, or the wake-up below; the key keeps others out.

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    self._serving = [actor.serve.remote(self._listener.address, authkey)
                     for actor in self._actors]
    deadline = time.monotonic() + max(self._timeout, _START_TIMEOUT)
    failure = None
    while thread.is_alive() and time.monotonic() < deadline and not failure:
      thread.join(0.1)
      done, _ = ray.wait(self._serving, timeout=0)
      if done and thread.is_alive():
        failure = _what_stopped(ray, done[0])
    if thread.is_alive():
      stop.set()
      try:   # Wake the accept() so the thread ends.
        socket.create_connection(self._listener.address, timeout=1).close()
      except OSError:
        pass
      where = '%s:%d' % self.listen_address
      if failure:
        raise WorkerError(f'A Ray env actor could not connect back to {where}: {failure} '
                          '(is that address reachable from the cluster?)')
      raise WorkerTimeoutError('The Ray env actors did not connect back to '
                               f'{where} within {max(self._timeout, _START_TIMEOUT):.0f} s '
                               '(is that address reachable from the cluster?).')
    self._conns = [accepted[part.start][0] for part in self._slices]
    self._pids = [accepted[part.start][1] for part in self._slices]
    self._listener.close()   # Every actor is connected: no port stays open.
    self._listener = None

  def _send(self, index: int, message: tuple, action: str) -> None:
    try:
      self._conns[index].send(message)
    except (OSError, ValueError):
      self._raise_died(index, action)

  def _receive(self, index: int, action: str) -> Any:
    """One actor's answer, or the error that says which envs failed and how."""
    conn, part = self._conns[index], self._slices[index]
    deadline = time.monotonic() + self._timeout
    while not conn.poll(min(0.5, max(0.0, deadline - time.monotonic()))):
      if time.monotonic() >= deadline:
        raise WorkerTimeoutError(
            f'The Ray actor of envs {part.start}..{part.stop - 1} did not answer '
            f'{action} within {self._timeout:.0f} s.')
      done, _ = self._ray.wait([self._serving[index]], timeout=0)
      if done:
        self._raise_died(index, action)
    try:
      kind, value = conn.recv()
    except (EOFError, OSError):
      self._raise_died(index, action)
    if kind == 'error':
      raise contract.failure_error(value, f'An env raised in a Ray actor during {action} ')
    return value

  def _raise_died(self, index: int, action: str) -> None:
    part = self._slices[index]
    raise WorkerDiedError(
        f'The Ray actor of envs {part.start}..{part.stop - 1} died during {action} '
        '(its connection closed).')

  def step(self, actions: Any) -> BatchStep:
    """Step every env; returns observ, reward, terminated, truncated, infos."""
    actions = batch_env_lib.check_actions(actions, self._size, self.action_space)
    for index, part in enumerate(self._slices):
      self._send(index, ('step', actions[part]), 'step()')
    parts = [self._receive(index, 'step()') for index in range(len(self._slices))]
    observ, reward, terminated, truncated = (
        np.concatenate(x) for x in list(zip(*parts))[:4])
    infos: list[dict] = []
    for part, (*_, part_infos) in zip(self._slices, parts):
      infos.extend(part_infos or empty_infos(part.stop - part.start))
    return BatchStep(observ, reward, terminated, truncated, infos)

  def reset(self, indices: Sequence[int] | None = None,
            seeds: Sequence[int | None] | None = None) -> np.ndarray:
    """Reset the envs at `indices` (all when None); returns their observations."""
    indices, seeds = batch_env_lib.reset_requests(indices, seeds, self._size)
    if not indices:
      space = self.observation_space
      return np.zeros((0,) + tuple(space.shape), space.dtype)
    busy, order = [], []
    for index, part in enumerate(self._slices):
      mine = [(i, s) for i, s in zip(indices, seeds) if part.start <= i < part.stop]
      if mine:
        self._send(index, ('reset', mine), 'reset()')
        busy.append(index)
        order.extend(i for i, _ in mine)
    observ = np.concatenate([self._receive(index, 'reset()') for index in busy])
    position = {index: n for n, index in enumerate(order)}
    return observ[[position[i] for i in indices]]

  def close(self) -> None:
    """Kill the actors (and shut Ray down if this batch started it); returns always."""
    ray = self._ray
    for conn in self._conns:
      try:
        conn.send(('close', None))
        conn.close()
      except Exception:
        pass
    self._conns = []
    if self._listener is not None:
      try:
        self._listener.close()
      except Exception:
        pass
      self._listener = None
    for actor in self._actors:
      try:
        ray.kill(actor, no_restart=True)
      except Exception:
        pass
    self._actors = []
    if self._started_ray and ray.is_initialized():
      try:
        ray.shutdown()
      except Exception as error:  # Never raise from close().
        LOG.warning('ray.shutdown() failed: %s', error)
      self._started_ray = False

  def __enter__(self) -> 'RayBatchEnv':
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()


def _what_stopped(ray: Any, ref: Any) -> str:
  """The last line of the error that ended an actor's call (e.g. a refused connection)."""
  try:
    ray.get(ref, timeout=0)
  except Exception as error:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__
  return 'it stopped serving'
