"""JAX's CPU backend, set up before it starts: its devices and compute threads.

Both are fixed when JAX first runs something in a process, so a run sets them
first (`training.train`). Devices: `--seeds` splits its seed axis over them,
`devices` a run's batch; on the CPU each device is a thread of its own.

Threads: XLA:CPU runs a program's operations on a pool of one thread per core
it may use, and hands work between them operation by operation. For the small
programs of RL on a few cores that costs more than it gains: on this project's
2-core machine one thread ran pendulum_jax's update in 17-18 ms against 22-30
ms with two, the fused env step in 27 against 38 us, the host-env bridge in
~90 against ~150 us (bench/README.md, "One compute thread"). JAX has no
setting for it; it sizes the pool from the process's CPU affinity when the
backend starts. So `start` narrows the calling thread's affinity to `threads`
CPUs while the backend starts, then widens it back, for the caller and for
every thread the backend started (they inherit the narrow set): the pool has
`threads` threads, and they, the env workers and EnvPool's threads may use
every core.
"""

from __future__ import annotations

import logging
import os

import jax

LOG = logging.getLogger(__name__)


def started() -> bool:
  """Whether JAX's backends exist in this process (then nothing here applies)."""
  try:
    from jax._src import xla_bridge
    return bool(xla_bridge.backends_are_initialized())
  except (ImportError, AttributeError):   # A JAX without it: ask the config.
    try:
      jax.config.update('jax_num_cpu_devices', jax.config.jax_num_cpu_devices)
    except RuntimeError:
      return True
    return False


def start(devices: int | None = None, threads: int | None = None,
          cap: bool = True) -> int:
  """Start JAX with `devices` CPU devices (None: as JAX would, one unless
  XLA_FLAGS say more; capped at the cores unless not `cap`) and, with one
  device, `threads` compute threads (None: JAX's one per core). Once JAX has
  started, its backend stays as it is. Returns the CPU devices JAX has."""
  if started():
    if threads is not None:
      LOG.debug('cpu_threads=%s not applied: JAX had started in this process.', threads)
    return len(jax.devices('cpu'))
  if devices is not None:
    devices = max(1, min(devices, os.cpu_count() or 1) if cap else devices)
    jax.config.update('jax_num_cpu_devices', devices)
  several = (devices or 1) > 1 or (
      devices is None and 'xla_force_host_platform_device_count' in
      os.environ.get('XLA_FLAGS', ''))
  if threads is not None and not several:   # Devices run in parallel on the pool.
    with _narrow_affinity(threads):
      jax.devices()   # The backends start here, their pools sized to the affinity.
  return len(jax.devices('cpu'))


class _narrow_affinity:
  """Within: the calling thread may run on `count` of its CPUs. After: it and
  the threads started within may run on all of them again (Linux; elsewhere,
  or with no more CPUs than `count`, nothing changes)."""

  def __init__(self, count: int) -> None:
    self._count = count
    self._cpus: set[int] | None = None
    self._threads: set[int] = set()

  def __enter__(self) -> None:
    if not hasattr(os, 'sched_setaffinity') or not os.path.isdir('/proc/self/task'):
      LOG.debug('cpu_threads needs Linux; JAX keeps one thread per core.')
      return
    cpus = os.sched_getaffinity(0)
    if len(cpus) <= self._count:
      return
    self._cpus, self._threads = cpus, _thread_ids()
    os.sched_setaffinity(0, sorted(cpus)[:self._count])

  def __exit__(self, *exc: object) -> None:
    if self._cpus is None:
      return
    os.sched_setaffinity(0, self._cpus)
    for thread in _thread_ids() - self._threads:
      try:
        os.sched_setaffinity(thread, self._cpus)
      except OSError:   # Ended meanwhile.
        pass


def _thread_ids() -> set[int]:
  return {int(name) for name in os.listdir('/proc/self/task')}
