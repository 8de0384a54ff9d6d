"""`devices`: one run's env batch split over several devices (data parallel).

JAX's CPU backend gets several devices only before it starts, so the runs
here are subprocesses (`python -m agents.scripts.train`, as users start them).
"""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from agents.errors import ConfigError
from agents.run import checkpoint, config_checks, training
from agents.scripts import configs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ['--set', 'steps=8192', '--set', 'eval_every=8192', '--set', 'checkpoint_every=4096',
        '--set', 'policy_layers=[32, 32]', '--set', 'value_layers=[32, 32]']


def _train(logdir, name, *args):
  result = subprocess.run(
      [sys.executable, '-m', 'agents.scripts.train', '--logdir', str(logdir),
       '--config', 'pendulum_jax', '--timestamp', name, *TINY, *args],
      capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stderr


def _learner_leaves(run_dir, step):
  payload = checkpoint.read_payload(checkpoint.path_for(str(run_dir / 'checkpoints'), step))
  learner = payload['state']['learner']
  return [np.asarray(leaf, np.float64) for leaf in jax.tree_util.tree_leaves(learner)
          if np.asarray(leaf).dtype.kind == 'f']


def _evals(run_dir):
  with open(run_dir / 'metrics.jsonl') as stream:
    return [row['mean_score'] for row in map(json.loads, stream) if row['phase'] == 'eval']


@pytest.mark.timeout(400)
def test_two_cpu_devices_end_where_one_does(tmp_path):
  """Gradients and normalizer statistics are whole-batch on two devices too:
  the first update's learner is the same here up to 1e-6, the second within
  float rounding (1e-5 relative; seen 5e-7), the evaluation within 1%."""
  one = _train(tmp_path, 'one', '--set', 'devices=1')
  two = _train(tmp_path, 'two', '--set', 'devices=2')
  assert 'batch of 32 agents split over 2 CPU devices' in two
  assert 'split over' not in one
  for step, tolerance in ((4096, 1e-6), (8192, 1e-5)):
    first = _learner_leaves(tmp_path / 'one-pendulum_jax', step)
    second = _learner_leaves(tmp_path / 'two-pendulum_jax', step)
    assert len(first) == len(second) > 10
    # Relative to each leaf's size (normalizer sums reach 1e5).
    assert max(np.abs(a - b).max() / (1 + np.abs(a).max())
               for a, b in zip(first, second)) <= tolerance
  single, split = _evals(tmp_path / 'one-pendulum_jax'), _evals(tmp_path / 'two-pendulum_jax')
  assert len(single) == len(split) == 1
  assert abs(single[0] - split[0]) <= 0.01 * abs(single[0])


@pytest.mark.timeout(400)
def test_seeds_still_train_side_by_side_with_devices(tmp_path):
  _train(tmp_path, 'seeds', '--seeds', '0', '1', '--set', 'devices=2')
  for seed in (0, 1):
    assert len(_evals(tmp_path / f'seeds-pendulum_jax-seed{seed}')) == 1


def test_devices_need_jax_native_envs_and_a_batch_that_splits():
  config = configs.get('pendulum')
  with config.unlocked:
    config.devices = 2
  with pytest.raises(ConfigError, match='needs JAX-native envs'):
    config_checks.validate(config)
  config = configs.get('pendulum_jax')
  with config.unlocked:
    config.devices, config.num_agents = 3, 32
  with pytest.raises(ConfigError, match=r'num_agents \(32\) does not split over devices=3'):
    config_checks.validate(config)
  with config.unlocked:
    config.devices, config.num_agents = 64, 64
  # This process's JAX started with one CPU device: named, with the way out.
  with pytest.raises(ConfigError, match='devices=64, but JAX has 1 CPU'):
    training.run_devices(config)
  with config.unlocked:
    config.devices = None
  assert training.run_devices(config) == len(jax.devices())
