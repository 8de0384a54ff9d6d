"""V(s'_t) from one pass over the rollout equals a second pass over s'_t
wherever GAE uses it (every step but the terminated ones)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.algorithms.ppo import losses
from agents.algorithms.ppo.next_values import next_values

WEIGHTS = jnp.asarray(np.random.default_rng(0).normal(size=(3, 2, 2)), jnp.float32)


def _value_of(observ):   # [1, n, 3, 2, 2] -> [1, n]: any function of one observation.
  return jnp.tanh(jnp.einsum('tnabc,abc->tn', observ, WEIGHTS))


def _rollout(steps, batch, limit, seed):
  """Observations as an env batch makes them: s_{t+1} = s'_t unless step t ended
  the episode (time limit `limit`, or a random termination), then a reset."""
  rng = np.random.default_rng(seed)
  observ = np.zeros((steps, batch, 3, 2, 2), np.float32)
  next_observ = np.zeros_like(observ)
  terminated = rng.random((steps, batch)) < 0.05
  truncated = np.zeros((steps, batch), bool)
  length = rng.integers(0, limit, batch)
  current = rng.normal(size=(batch, 3, 2, 2)).astype(np.float32)
  for t in range(steps):
    observ[t] = current
    next_observ[t] = current + rng.normal(size=current.shape)
    length += 1
    truncated[t] = (length >= limit) & ~terminated[t]
    done = terminated[t] | truncated[t]
    length[done] = 0
    current = np.where(done[:, None, None, None],
                       rng.normal(size=current.shape), next_observ[t]).astype(np.float32)
  return (jnp.asarray(observ), jnp.asarray(next_observ), jnp.asarray(terminated),
          jnp.asarray(truncated))


def _flat(observ):
  return _value_of(observ.reshape((1, -1) + observ.shape[2:]))[0].reshape(observ.shape[:2])


@pytest.mark.parametrize('limit', [3, 7, 40, 1000])   # Many cuts per env, a few, none.
def test_one_pass_equals_two_where_gae_reads_it(limit):
  observ, next_observ, terminated, truncated = _rollout(32, 5, limit, seed=limit)
  value = _flat(observ)
  got = jax.jit(next_values, static_argnums=0)(_value_of, value, next_observ, truncated)
  expected = _flat(next_observ)
  used = ~np.asarray(terminated)
  np.testing.assert_allclose(np.asarray(got)[used], np.asarray(expected)[used], rtol=1e-6)
  if limit < 32:
    assert int(truncated[:-1].sum()) > (5 if limit == 3 else 0)   # Several batches of cuts.
  args = (0.99, 0.95)
  for a, b in zip(losses.gae(jnp.ones_like(value), value, got, terminated, truncated, *args),
                  losses.gae(jnp.ones_like(value), value, expected, terminated, truncated, *args)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_seeds_vmapped_take_their_own_cuts():
  runs = [_rollout(16, 4, limit, seed) for seed, limit in enumerate((2, 1000, 5))]
  observ, next_observ, terminated, truncated = (jnp.stack(x) for x in zip(*runs))
  value = jax.vmap(_flat)(observ)
  got = jax.jit(jax.vmap(lambda *a: next_values(_value_of, *a)))(value, next_observ, truncated)
  for seed in range(3):
    used = ~np.asarray(terminated[seed])
    np.testing.assert_allclose(np.asarray(got[seed])[used],
                               np.asarray(_flat(next_observ[seed]))[used], rtol=1e-6)
