import jax
import jax.numpy as jnp
import numpy as np

from agents.parts.distributions import Categorical, DiagGaussian


def test_gaussian_kl_matches_the_closed_form():
  p = DiagGaussian(jnp.array([0.0, 1.0]), jnp.array([1.0, 0.5]))
  q = DiagGaussian(jnp.array([0.5, -1.0]), jnp.array([2.0, 1.0]))
  expected = sum(np.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5
                 for m1, s1, m2, s2 in [(0, 1, 0.5, 2), (1, 0.5, -1, 1)])
  assert float(p.kl(q)) == np.float32(expected) or abs(float(p.kl(q)) - expected) < 1e-5
  assert abs(float(p.kl(p))) < 1e-7


def test_gaussian_kl_matches_a_monte_carlo_estimate():
  p = DiagGaussian(jnp.array([0.3]), jnp.array([0.7]))
  q = DiagGaussian(jnp.array([-0.2]), jnp.array([1.3]))
  x = p.mean + p.std * jax.random.normal(jax.random.PRNGKey(0), (200_000, 1))
  estimate = float((p.log_prob(x) - q.log_prob(x)).mean())
  assert abs(estimate - float(p.kl(q))) < 0.01


def test_gaussian_log_prob_and_entropy():
  p = DiagGaussian(jnp.zeros(2), jnp.ones(2))
  assert abs(float(p.log_prob(jnp.zeros(2))) - (-np.log(2 * np.pi))) < 1e-6
  assert abs(float(p.entropy()) - np.log(2 * np.pi * np.e)) < 1e-6


def test_categorical_kl_log_prob_and_mode():
  p = Categorical(jnp.log(jnp.array([0.2, 0.8])))
  q = Categorical(jnp.log(jnp.array([0.5, 0.5])))
  expected = 0.2 * np.log(0.2 / 0.5) + 0.8 * np.log(0.8 / 0.5)
  assert abs(float(p.kl(q)) - expected) < 1e-6
  assert abs(float(p.log_prob(jnp.array(1))) - np.log(0.8)) < 1e-6
  assert int(p.mode()) == 1
