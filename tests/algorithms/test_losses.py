import jax.numpy as jnp
import numpy as np
import pytest

from agents.algorithms.ppo import losses

# One agent, four steps: step 1 is truncated (bootstrap from V(s'_1)), step 3
# terminated (no bootstrap), the rollout ends after step 3.
REWARD = jnp.array([[1.0], [2.0], [3.0], [4.0]])
VALUE = jnp.array([[0.5], [1.0], [1.5], [2.0]])
NEXT_VALUE = jnp.array([[1.0], [10.0], [2.0], [20.0]])
TERMINATED = jnp.array([[False], [False], [False], [True]])
TRUNCATED = jnp.array([[False], [True], [False], [False]])
G, L = 0.9, 0.8


def test_gae_against_hand_computed_values():
  advantage, returns = losses.gae(REWARD, VALUE, NEXT_VALUE, TERMINATED,
                                  TRUNCATED, G, L)
  delta = [1 + G * 1.0 - 0.5, 2 + G * 10.0 - 1.0, 3 + G * 2.0 - 1.5, 4 + 0 - 2.0]
  a3 = delta[3]
  a2 = delta[2] + G * L * a3
  a1 = delta[1]                      # Truncated: the recursion stops here.
  a0 = delta[0] + G * L * a1
  np.testing.assert_allclose(advantage[:, 0], [a0, a1, a2, a3], rtol=1e-6)
  np.testing.assert_allclose(returns, advantage + VALUE, rtol=1e-6)


def test_discounted_returns_against_hand_computed_values():
  returns = losses.discounted_returns(REWARD, TERMINATED, TRUNCATED, NEXT_VALUE, G)
  r3 = 4.0                           # Terminated: nothing after it.
  r2 = 3 + G * r3
  r1 = 2 + G * 10.0                  # Truncated: bootstrap from V(s'_1).
  r0 = 1 + G * r1
  np.testing.assert_allclose(returns[:, 0], [r0, r1, r2, r3], rtol=1e-6)


def test_discounted_returns_bootstrap_after_the_last_step():
  returns = losses.discounted_returns(
      jnp.array([[1.0]]), jnp.array([[False]]), jnp.array([[False]]),
      jnp.array([[5.0]]), 0.5)
  assert float(returns[0, 0]) == 1 + 0.5 * 5


def test_gae_with_lambda_one_and_exact_values_gives_discounted_returns():
  values = losses.discounted_returns(REWARD, TERMINATED, TRUNCATED, NEXT_VALUE, G)
  _, returns = losses.gae(REWARD, VALUE, NEXT_VALUE, TERMINATED, TRUNCATED, G, 1.0)
  np.testing.assert_allclose(returns, values, rtol=1e-6)


def test_kl_coefficient_adapts_up_and_down_and_never_reaches_zero():
  coef = jnp.asarray(1.0)
  assert float(losses.adapt_kl_coef(coef, 0.1, 0.01, 1e-3)) == pytest.approx(1.5)
  assert float(losses.adapt_kl_coef(coef, 0.001, 0.01, 1e-3)) == pytest.approx(1 / 1.5)
  assert float(losses.adapt_kl_coef(coef, 0.01, 0.01, 1e-3)) == 1.0
  for _ in range(100):
    coef = losses.adapt_kl_coef(coef, 0.0, 0.01, 1e-3)
  assert float(coef) == pytest.approx(1e-3)
  coef = losses.adapt_kl_coef(coef, 1.0, 0.01, 1e-3)
  assert float(coef) > 1e-3


def test_clip_objective_ignores_ratios_beyond_the_clip_in_the_favoured_direction():
  old = jnp.zeros(2)
  advantage = jnp.array([1.0, -1.0])
  loss = losses.clip_objective(jnp.log(jnp.array([2.0, 0.1])), old, advantage, 0.2)
  assert float(loss) == pytest.approx(-(1.2 * 1 + 0.8 * -1) / 2)


def test_kl_penalty_objective_adds_penalty_and_cutoff():
  log_prob = jnp.zeros(2)
  advantage = jnp.array([1.0, 1.0])
  kl = jnp.array([0.0, 0.05])
  loss = losses.kl_penalty_objective(log_prob, log_prob, advantage, kl, 2.0,
                                     0.01, 2.0, 1000.0)
  expected = -1.0 + 2.0 * 0.025 + 1000.0 * (0.03 ** 2) / 2
  assert float(loss) == pytest.approx(expected, rel=1e-5)
