"""JAX's CPU backend started with fewer compute threads, in fresh processes."""

import json
import os
import subprocess
import sys

import pytest

from agents.run import cpu_backend

_PROBE = r'''
import json, os, sys
from agents.run import cpu_backend
threads = None if sys.argv[1] == 'none' else int(sys.argv[1])
devices = cpu_backend.start(threads=threads)
import jax, jax.numpy as jnp
total = float(jax.jit(lambda x: (x @ x).sum())(jnp.ones((64, 64))))
tasks = os.listdir('/proc/self/task')
print(json.dumps({
    'devices': devices, 'total': total, 'threads': len(tasks),
    'affinities': sorted({tuple(sorted(os.sched_getaffinity(int(t)))) for t in tasks}),
    'process': sorted(os.sched_getaffinity(0))}))
'''


def _probe(threads: str) -> dict:
  result = subprocess.run([sys.executable, '-c', _PROBE, threads], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, XLA_FLAGS=''))
  assert result.returncode == 0, result.stderr[-2000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not hasattr(os, 'sched_getaffinity') or len(os.sched_getaffinity(0)) < 2,
                    reason='needs Linux and two CPUs')
def test_one_compute_thread_leaves_every_thread_free_to_use_every_core():
  cpus = sorted(os.sched_getaffinity(0))
  default, one = _probe('none'), _probe('1')
  assert one['devices'] == default['devices'] == 1
  assert one['total'] == default['total'] == 64.0 ** 3 / 64 * 64   # Computes as before.
  # The backend's pools have one thread instead of one per core...
  assert one['threads'] < default['threads']
  # ...and no thread stays pinned to the CPU the backend started on.
  assert one['affinities'] == [cpus] and one['process'] == cpus


def test_a_started_backend_stays_as_it_is():
  import jax
  jax.devices()
  assert cpu_backend.started()
  assert cpu_backend.start(threads=1) == len(jax.devices('cpu'))
