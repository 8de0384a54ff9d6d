"""JAX's CPU backend started with fewer compute threads, in fresh processes."""

import json
import os
import subprocess
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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


_RUN_PROBE = r'''
import json, os, sys
from agents.run import training
from agents.scripts import configs
config = configs.get('cartpole')
with config.unlocked:
  config.update(num_agents=2, eval_agents=1, policy_layers=[8], value_layers=[8])
  if sys.argv[1] != 'mlp':
    config.env = 'tests.user_envs:BrightSquare'
loop, _, envs = training.make_loop(config, lambda: __import__('jax').random.PRNGKey(0),
                                   configs.catalog(), {})
training.close_all(envs)
print(json.dumps({'threads': len(os.listdir('/proc/self/task'))}))
'''


@pytest.mark.skipif(not hasattr(os, 'sched_getaffinity') or len(os.sched_getaffinity(0)) < 2,
                    reason='needs Linux and two CPUs')
def test_host_envs_with_images_keep_one_compute_thread_per_core():
  """Host envs start JAX once their spec is known: an MLP task gets cpu_threads
  (1), an image task JAX's pool, whose CNN gains from every core."""
  def threads(kind):
    result = subprocess.run([sys.executable, '-c', _RUN_PROBE, kind], capture_output=True,
                            text=True, timeout=300, cwd=_ROOT,
                            env=dict(os.environ, XLA_FLAGS='', PYTHONPATH=_ROOT))
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])['threads']
  assert threads('mlp') < threads('image')


def test_a_started_backend_stays_as_it_is():
  import jax
  jax.devices()
  assert cpu_backend.started()
  assert cpu_backend.start(threads=1) == len(jax.devices('cpu'))
