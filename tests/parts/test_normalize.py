import jax.numpy as jnp
import numpy as np

from agents.parts import normalize


def test_streaming_statistics_equal_the_batch_statistics():
  data = np.random.RandomState(0).normal(3.0, 2.0, (1000, 3)).astype(np.float32)
  state = normalize.init((3,))
  for chunk in np.split(data, [10, 11, 400, 999]):
    state = normalize.update(state, jnp.asarray(chunk))
  assert float(state.count) == 1000
  np.testing.assert_allclose(state.mean, data.mean(0), rtol=1e-4)
  np.testing.assert_allclose(normalize.variance(state), data.var(0, ddof=1), rtol=1e-3)


def test_normalize_centers_scales_and_clips():
  data = np.random.RandomState(1).normal(5.0, 4.0, (500, 2)).astype(np.float32)
  state = normalize.update(normalize.init((2,)), jnp.asarray(data))
  out = normalize.normalize(state, jnp.asarray(data))
  np.testing.assert_allclose(out.mean(0), 0, atol=1e-4)
  np.testing.assert_allclose(out.std(0), 1, atol=1e-2)
  clipped = normalize.normalize(state, jnp.asarray([[1e6, -1e6]]), clip=5.0)
  assert clipped.tolist() == [[5.0, -5.0]]
  scaled = normalize.normalize(state, jnp.asarray(data), center=False)
  np.testing.assert_allclose(scaled.mean(0), data.mean(0) / data.std(0, ddof=1), rtol=1e-2)


def test_fresh_normalizer_is_the_identity():
  state = normalize.init((2,))
  x = jnp.asarray([[1.0, -2.0]])
  np.testing.assert_allclose(normalize.normalize(state, x), x, rtol=1e-6)
