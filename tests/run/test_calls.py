"""How many rollouts one compiled training call runs (training.rollouts_per_call)."""

import pytest

from agents.parts import shuffle
from agents.run import training
from agents.scripts import configs


def _config(name, **changes):
  config = configs.get(name)
  with config.unlocked:
    config.update(changes)
  return config


def test_jax_native_envs_run_several_rollouts_per_call_host_envs_one():
  # pendulum_jax: rollouts of 32 x 128 = 4,096 env-steps, evaluations every 4.
  assert training.rollouts_per_call(_config('pendulum_jax')) == 4
  assert training.rollouts_per_call(_config('pendulum')) == 1
  assert training.rollouts_per_call(_config('pendulum_jax'), image=True) == 1


@pytest.mark.parametrize('changes, expected', [
    # Calls end on evaluations and on the budget: the most that divide both ...
    (dict(eval_every=4096 * 4, steps=4096 * 6), 2),
    (dict(eval_every=4096 * 3, steps=4096 * 7), 1),
    # ... and on checkpoints and metric writes.
    (dict(checkpoint_every=4096 * 2), 2),
    (dict(log_every=4096), 1),
    # At most 2**16 env-steps per call.
    (dict(eval_every=4096 * 64, steps=4096 * 64, checkpoint_every=4096 * 64,
          log_every=4096 * 64), 16),
    (dict(num_agents=1024, eval_every=2**20, steps=2**20), 1),   # 131,072 per rollout.
    (dict(rollouts_per_call=3), 3),
])
def test_rollouts_per_call_fit_the_intervals(changes, expected):
  assert training.rollouts_per_call(_config('pendulum_jax', **changes)) == expected


def test_the_minibatch_order_is_a_permutation_that_the_key_decides():
  import jax
  import numpy as np
  for n in (1, 5, 4096, 2**14, 2**14 + 3):
    order = np.asarray(shuffle.permutation(jax.random.PRNGKey(n), n))
    assert sorted(order.tolist()) == list(range(n))
  first = np.asarray(shuffle.permutation(jax.random.PRNGKey(0), 4096))
  again = np.asarray(shuffle.permutation(jax.random.PRNGKey(0), 4096))
  other = np.asarray(shuffle.permutation(jax.random.PRNGKey(1), 4096))
  assert (first == again).all() and (first != other).mean() > 0.99
  # Uniform enough: each item lands in each quarter about equally often.
  counts = np.zeros((8, 4))
  for seed in range(400):
    order = np.asarray(shuffle.permutation(jax.random.PRNGKey(seed), 8))
    for position, item in enumerate(order):
      counts[item, position // 2] += 1
  assert np.abs(counts - 100).max() < 40, counts
