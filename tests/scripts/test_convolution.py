"""The torsos' convolutions as matmuls: sliced patches are XLA's patches, and
both ways (patches, blocks) are XLA's convolution and its gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.scripts import convolution
from agents.scripts.convolution import blocked_conv, image_patches

# The Nature-CNN's three layers on 84x84 frames, its 36x36 smallest input,
# IMPALA's SAME 3x3, MinAtar's 3x3 and a stride that leaves a remainder.
CASES = [((2, 84, 84, 4), 8, 4, 'VALID'), ((2, 20, 20, 32), 4, 2, 'VALID'),
         ((2, 9, 9, 64), 3, 1, 'VALID'), ((2, 36, 36, 3), 8, 4, 'VALID'),
         ((2, 31, 31, 16), 3, 1, 'SAME'), ((2, 10, 10, 6), 3, 1, 'VALID'),
         ((2, 33, 35, 2), 4, 3, 'SAME')]

# Strides that divide their kernels (where `conv` takes blocks), with sizes
# the stride does not divide, SAME padding and non-square images.
BLOCKED = [((2, 84, 84, 4), 8, 4, 'VALID'), ((2, 20, 20, 32), 4, 2, 'VALID'),
           ((2, 36, 36, 3), 8, 4, 'VALID'), ((2, 23, 17, 3), 4, 2, 'VALID'),
           ((2, 15, 16, 5), 4, 2, 'SAME'), ((2, 21, 19, 2), 6, 3, 'SAME'),
           ((2, 12, 12, 3), 2, 2, 'VALID')]


@pytest.mark.parametrize('shape,kernel,stride,padding', CASES)
def test_sliced_patches_equal_xlas_patches(shape, kernel, stride, padding):
  x = jnp.asarray(np.random.default_rng(0).random(shape), jnp.float32)
  expected = jax.lax.conv_general_dilated_patches(
      x, (kernel, kernel), (stride, stride), padding,
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  got = image_patches(x, kernel, stride, padding)
  assert got.shape == expected.shape
  np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def _by_xla(x, weights, kernel, stride, padding):
  """The reference: XLA's convolution with the same weights as HWIO."""
  channels, features = x.shape[-1], weights.shape[-1]
  hwio = weights.reshape(channels, kernel, kernel, features).transpose(1, 2, 0, 3)
  return jax.lax.conv_general_dilated(x, hwio, (stride, stride), padding,
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _check_against_xla(conv, shape, kernel, stride, padding):
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.random(shape), jnp.float32)
  weights = jnp.asarray(rng.normal(size=(shape[-1] * kernel * kernel, 7)), jnp.float32)
  loss = lambda f: lambda x, w: jnp.sum(jnp.tanh(f(x, w, kernel, stride, padding)))
  got, expected = conv(x, weights, kernel, stride, padding), _by_xla(
      x, weights, kernel, stride, padding)
  assert got.shape == expected.shape
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  for got, expected in zip(jax.grad(loss(conv), (0, 1))(x, weights),
                           jax.grad(loss(_by_xla), (0, 1))(x, weights)):
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_a_matmul_over_the_patches_is_the_convolution_and_its_gradient():
  _check_against_xla(lambda x, w, k, s, p: image_patches(x, k, s, p) @ w,
                     (3, 20, 20, 5), 4, 2, 'VALID')


@pytest.mark.parametrize('shape,kernel,stride,padding', BLOCKED)
def test_blocks_are_the_convolution_and_its_gradient(shape, kernel, stride, padding):
  _check_against_xla(blocked_conv, shape, kernel, stride, padding)


def test_blocks_run_jitted_and_vmapped_as_seeds_run_them():
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.random((3, 2, 20, 20, 4)), jnp.float32)     # [seeds, N, H, W, C]
  weights = jnp.asarray(rng.normal(size=(3, 4 * 16, 8)), jnp.float32)
  grad = jax.jit(jax.vmap(jax.grad(lambda x, w: jnp.sum(jnp.tanh(blocked_conv(x, w, 4, 2, 'VALID'))), 1)))
  for seed in range(3):
    expected = jax.grad(lambda w: jnp.sum(jnp.tanh(_by_xla(x[seed], w, 4, 2, 'VALID'))))(weights[seed])
    np.testing.assert_allclose(grad(x, weights)[seed], expected, rtol=1e-4, atol=1e-4)


def test_conv_takes_blocks_only_where_the_stride_divides_the_kernel(monkeypatch):
  taken = []
  monkeypatch.setattr(convolution, 'blocked_conv',
                      lambda *args: taken.append(args[2:4]) or jnp.zeros(()))
  x, weights = jnp.zeros((1, 12, 12, 2)), jnp.zeros((2 * 16, 3))
  convolution.conv(x, weights, 4, 2, 'VALID')
  convolution.conv(x, weights[:18], 3, 1, 'VALID')
  convolution.conv(x, weights[:2 * 9], 3, 2, 'VALID')
  assert taken == [(4, 2)]


@pytest.mark.parametrize('shape,kernel,stride', [((2, 36, 36, 3), 8, 4), ((2, 10, 10, 4), 3, 1)])
def test_a_conv_layer_is_the_dense_layer_over_patches_that_checkpoints_hold(shape, kernel, stride):
  """Checkpoints of image policies hold each convolution as the Dense layer
  over XLA's patches that earlier versions used: the same names, shapes and
  initial values, and the same function of them."""
  import flax.linen as nn

  from agents.scripts.torsos import Conv
  x = jnp.asarray(np.random.default_rng(3).random(shape), jnp.float32)
  patches = jax.lax.conv_general_dilated_patches(
      x, (kernel, kernel), (stride, stride), 'VALID',
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  dense = nn.Dense(16, kernel_init=nn.initializers.orthogonal(np.sqrt(2)))
  conv = Conv(16, kernel, stride, 'VALID')
  key = jax.random.PRNGKey(4)
  old, new = dense.init(key, patches), conv.init(key, x)
  assert jax.tree.structure(old) == jax.tree.structure(new)
  for a, b in zip(jax.tree.leaves(old), jax.tree.leaves(new)):
    np.testing.assert_array_equal(a, b)
  trained = jax.tree.map(lambda p: p + 0.1, old)   # A bias that is not zero.
  np.testing.assert_allclose(conv.apply(trained, x), dense.apply(trained, patches),
                             rtol=1e-5, atol=1e-5)
