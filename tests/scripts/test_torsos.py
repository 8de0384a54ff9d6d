"""The image torsos' convolutions: patches gathered by slicing are XLA's patches."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.scripts.torsos import image_patches

# The Nature-CNN's three layers on 84x84 frames, its 36x36 smallest input,
# IMPALA's SAME 3x3, MinAtar's 3x3 and a stride that leaves a remainder.
CASES = [((2, 84, 84, 4), 8, 4, 'VALID'), ((2, 20, 20, 32), 4, 2, 'VALID'),
         ((2, 9, 9, 64), 3, 1, 'VALID'), ((2, 36, 36, 3), 8, 4, 'VALID'),
         ((2, 31, 31, 16), 3, 1, 'SAME'), ((2, 10, 10, 6), 3, 1, 'VALID'),
         ((2, 33, 35, 2), 4, 3, 'SAME')]


@pytest.mark.parametrize('shape,kernel,stride,padding', CASES)
def test_sliced_patches_equal_xlas_patches(shape, kernel, stride, padding):
  x = jnp.asarray(np.random.default_rng(0).random(shape), jnp.float32)
  expected = jax.lax.conv_general_dilated_patches(
      x, (kernel, kernel), (stride, stride), padding,
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  got = image_patches(x, kernel, stride, padding)
  assert got.shape == expected.shape
  np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_a_matmul_over_the_patches_is_the_convolution_and_its_gradient():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.random((3, 20, 20, 5)), jnp.float32)
  weights = jnp.asarray(rng.normal(size=(5 * 4 * 4, 7)), jnp.float32)   # [C*k*k, F]

  def by_patches(x, w):
    return jnp.sum(jnp.tanh(image_patches(x, 4, 2, 'VALID') @ w))

  def by_conv(x, w):   # The same kernel as HWIO: channel-major rows.
    kernel = w.reshape(5, 4, 4, 7).transpose(1, 2, 0, 3)
    return jnp.sum(jnp.tanh(jax.lax.conv_general_dilated(
        x, kernel, (2, 2), 'VALID', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))))

  np.testing.assert_allclose(by_patches(x, weights), by_conv(x, weights), rtol=1e-5)
  for got, expected in zip(jax.grad(by_patches, (0, 1))(x, weights),
                           jax.grad(by_conv, (0, 1))(x, weights)):
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
