import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


def test_multi_categorical_sums_dimensions_and_never_samples_the_padding():
  from agents.parts.distributions import EXCLUDED_LOGIT, MultiCategorical
  probs = [np.array([0.2, 0.3, 0.5]), np.array([0.6, 0.4])]
  logits = np.full((2, 3), EXCLUDED_LOGIT, np.float32)
  logits[0], logits[1, :2] = np.log(probs[0]), np.log(probs[1])
  dist = MultiCategorical(jnp.asarray(logits))
  assert float(dist.log_prob(jnp.array([2, 0]))) == pytest.approx(np.log(0.5 * 0.6), rel=1e-5)
  entropy = sum(-(p * np.log(p)).sum() for p in probs)
  assert float(dist.entropy()) == pytest.approx(entropy, rel=1e-5)
  other = MultiCategorical(jnp.asarray(np.where(logits > EXCLUDED_LOGIT, 0.0, logits)))
  kl = sum((p * np.log(p * len(p))).sum() for p in probs)
  assert float(dist.kl(other)) == pytest.approx(kl, rel=1e-5)
  samples = np.asarray(jax.vmap(dist.sample)(jax.random.split(jax.random.PRNGKey(0), 20000)))
  assert samples[:, 1].max() == 1                  # The padded third category: never.
  np.testing.assert_allclose(np.bincount(samples[:, 0]) / 20000, probs[0], atol=0.015)
  assert dist.mode().tolist() == [2, 0]


def test_bernoulli_bits_match_hand_computed_values():
  from agents.parts.distributions import Bernoulli
  p = np.array([0.1, 0.5, 0.8])
  dist = Bernoulli(jnp.asarray(np.log(p / (1 - p)), jnp.float32))
  action = jnp.array([0, 1, 1])
  assert float(dist.log_prob(action)) == pytest.approx(np.log(0.9 * 0.5 * 0.8), rel=1e-5)
  entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p)).sum()
  assert float(dist.entropy()) == pytest.approx(entropy, rel=1e-5)
  half = Bernoulli(jnp.zeros(3))
  kl = (p * np.log(p / 0.5) + (1 - p) * np.log((1 - p) / 0.5)).sum()
  assert float(dist.kl(half)) == pytest.approx(kl, rel=1e-5)
  samples = np.asarray(jax.vmap(dist.sample)(jax.random.split(jax.random.PRNGKey(1), 20000)))
  np.testing.assert_allclose(samples.mean(0), p, atol=0.015)
  assert dist.mode().tolist() == [0, 0, 1]   # p = 0.5 is not above 0.


def test_a_masked_categorical_renormalizes_over_the_valid_actions():
  from agents.parts.distributions import masked
  probs = np.array([0.1, 0.2, 0.3, 0.4])
  mask = jnp.array([True, False, True, False])
  dist = masked(Categorical(jnp.asarray(np.log(probs), jnp.float32)), mask)
  valid = np.array([0.1, 0.3]) / 0.4                     # Hand-renormalized.
  assert float(dist.log_prob(jnp.array(2))) == pytest.approx(np.log(valid[1]), rel=1e-5)
  assert float(dist.entropy()) == pytest.approx(-(valid * np.log(valid)).sum(), rel=1e-5)
  assert int(dist.mode()) == 2                           # Not 3, the likeliest of all.
  other = masked(Categorical(jnp.zeros(4)), mask)
  assert float(dist.kl(other)) == pytest.approx((valid * np.log(valid / 0.5)).sum(), rel=1e-5)
  samples = np.asarray(jax.vmap(dist.sample)(jax.random.split(jax.random.PRNGKey(0), 50000)))
  assert set(np.unique(samples)) == {0, 2}               # 50,000 draws, no masked one.
  assert np.mean(samples == 0) == pytest.approx(valid[0], abs=0.01)
  assert masked(dist, None) is dist


def test_a_multi_categorical_takes_its_dimensions_masks_concatenated():
  from agents.parts.distributions import EXCLUDED_LOGIT, MultiCategorical, masked
  logits = np.full((2, 3), EXCLUDED_LOGIT, np.float32)
  logits[0], logits[1, :2] = 0.0, 0.0                    # nvec [3, 2], uniform.
  mask = jnp.array([False, True, True, True, False])     # dims: [0 1 1], [1 0].
  dist = masked(MultiCategorical(jnp.asarray(logits)), mask, (3, 2))
  samples = np.asarray(jax.vmap(dist.sample)(jax.random.split(jax.random.PRNGKey(2), 20000)))
  assert set(np.unique(samples[:, 0])) == {1, 2} and set(np.unique(samples[:, 1])) == {0}
  assert float(dist.log_prob(jnp.array([1, 0]))) == pytest.approx(np.log(0.5), rel=1e-5)
  assert float(dist.entropy()) == pytest.approx(np.log(2), rel=1e-5)
  # A batch [time, batch, ...] of masks, as the loss applies them.
  batch = masked(MultiCategorical(jnp.broadcast_to(jnp.asarray(logits), (4, 5, 2, 3))),
                 jnp.broadcast_to(mask, (4, 5, 5)), (3, 2))
  assert batch.entropy().shape == (4, 5)
