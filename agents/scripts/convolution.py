"""Convolutions as matmuls, for the image torsos.

A torso's convolution weights are one matrix [C * k * k, F], its rows ordered
as `lax.conv_general_dilated_patches` orders a patch (channel-major), so a
convolution is `image_patches(x) @ w`. XLA:CPU runs its own convolutions (and
that patch op, a convolution too) slowly inside the update's loops
(jax-ml/jax#12868), hence matmuls. Two ways to the same function:

- `image_patches`: the patches gathered as k^2 strided slices, then one matmul
  (every kernel and stride; the faster one for stride 1).
- `blocked_conv`: for a stride s > 1 that divides the kernel, the image is cut
  into s x s blocks stacked along the channels (space to depth), which turns
  the convolution into (k/s)^2 taps of stride 1; one matmul against all taps'
  weights at once, then the taps' outputs summed, shifted. No patches are
  made, and the matmuls are wider. Its gradient is written out (custom VJP):
  the same matmuls, transposed. 1.9-2.9x faster than the patches on the
  Nature-CNN's first two layers, forward and backward.

`conv` picks between them. Both equal XLA's convolution to float rounding
(~1e-6 relative), and both read the same weights, so checkpoints do not
depend on which ran.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def conv(x: jax.Array, weights: jax.Array, kernel: int, stride: int,
         padding: str) -> jax.Array:
  """x [N, H, W, C] convolved with weights [C * kernel^2, F] -> [N, H', W', F]."""
  if stride > 1 and kernel % stride == 0:
    return blocked_conv(x, weights, kernel, stride, padding)
  return image_patches(x, kernel, stride, padding) @ weights


def image_patches(x: jax.Array, kernel: int, stride: int, padding: str) -> jax.Array:
  """The kernel x kernel patches of x [N, H, W, C] at each output position,
  [N, H', W', C * kernel * kernel], ordered as `conv_general_dilated_patches`'s
  (channel-major), but gathered as kernel^2 strided slices: XLA:CPU runs that
  patch op as a convolution, slow inside loops (jax-ml/jax#12868), and slices'
  gradients are pads."""
  (top, bottom, left, right), rows, cols = _geometry(x.shape, kernel, stride, padding)
  x = _pad(x, top, bottom, left, right)
  views = [x[:, i:i + stride * (rows - 1) + 1:stride, j:j + stride * (cols - 1) + 1:stride]
           for i in range(kernel) for j in range(kernel)]
  return jnp.stack(views, axis=-1).reshape(x.shape[0], rows, cols, -1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def blocked_conv(x: jax.Array, weights: jax.Array, kernel: int, stride: int,
                 padding: str) -> jax.Array:
  """`conv` by space to depth, for a stride > 1 that divides the kernel."""
  return _blocked_forward(x, weights, kernel, stride, padding)[0]


def _blocked_forward(x: jax.Array, weights: jax.Array, kernel: int, stride: int,
                     padding: str) -> tuple[jax.Array, tuple]:
  """The output and what the gradient needs: the blocks, their weights, x's shape."""
  taps = kernel // stride
  blocks, rows, cols = _blocks(x, kernel, stride, padding)
  spread = _spread(weights, x.shape[-1], kernel, stride)
  n, height, width, _ = blocks.shape
  outputs = (blocks @ spread).reshape(n, height, width, taps, taps, -1)
  y = sum(outputs[:, i:i + rows, j:j + cols, i, j] for i in range(taps) for j in range(taps))
  return y, (blocks, spread, x.shape)


def _blocked_backward(kernel: int, stride: int, padding: str, residual: tuple,
                      grad: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The gradients in x and in the weights, from the output's gradient."""
  blocks, spread, shape = residual
  taps, channels, features = kernel // stride, shape[-1], grad.shape[-1]
  n, height, width, depth = blocks.shape
  rows, cols = grad.shape[1:3]
  # Each tap's output gradient, shifted back to where that tap read the blocks.
  grad_outputs = jnp.stack(
      [_pad(grad, i, height - rows - i, j, width - cols - j)
       for i in range(taps) for j in range(taps)], axis=-2).reshape(n * height * width, -1)
  grad_spread = blocks.reshape(-1, depth).T @ grad_outputs
  grad_weights = grad_spread.reshape(stride, stride, channels, taps, taps, features).transpose(
      2, 3, 0, 4, 1, 5).reshape(channels * kernel * kernel, features)
  grad_blocks = (grad_outputs @ spread.T).reshape(n, height, width, stride, stride, channels)
  grad_x = grad_blocks.transpose(0, 1, 3, 2, 4, 5).reshape(
      n, height * stride, width * stride, channels)
  (top, bottom, left, right), _, _ = _geometry(shape, kernel, stride, padding)
  padded_height, padded_width = shape[1] + top + bottom, shape[2] + left + right
  grad_x = _pad(grad_x, 0, padded_height - height * stride, 0, padded_width - width * stride)
  return grad_x[:, top:top + shape[1], left:left + shape[2]], grad_weights


blocked_conv.defvjp(_blocked_forward, _blocked_backward)


def _geometry(shape: tuple, kernel: int, stride: int, padding: str) -> tuple:
  """The padding (top, bottom, left, right) and the output rows and columns."""
  (top, bottom), (left, right) = jax.lax.padtype_to_pads(
      shape[1:3], (kernel, kernel), (stride, stride), padding)
  rows = (shape[1] + top + bottom - kernel) // stride + 1
  cols = (shape[2] + left + right - kernel) // stride + 1
  return (top, bottom, left, right), rows, cols


def _pad(x: jax.Array, top: int, bottom: int, left: int, right: int) -> jax.Array:
  if not (top or bottom or left or right):
    return x
  return jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def _blocks(x: jax.Array, kernel: int, stride: int, padding: str) -> tuple:
  """x [N, H, W, C] (padded) as stride x stride blocks [N, H/s, W/s, s * s * C],
  each block's channels ordered (row in block, column in block, channel); the
  rows and columns no output reads are cut off."""
  (top, bottom, left, right), rows, cols = _geometry(x.shape, kernel, stride, padding)
  x = _pad(x, top, bottom, left, right)
  taps = kernel // stride
  height, width = rows - 1 + taps, cols - 1 + taps
  n, channels = x.shape[0], x.shape[-1]
  x = x[:, :height * stride, :width * stride]
  x = x.reshape(n, height, stride, width, stride, channels).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, height, width, stride * stride * channels), rows, cols


def _spread(weights: jax.Array, channels: int, kernel: int, stride: int) -> jax.Array:
  """weights [C * k * k, F] (rows: channel, kernel row, kernel column) as the
  blocks' weights for every tap, [s * s * C, (k/s)^2 * F]."""
  taps, features = kernel // stride, weights.shape[-1]
  return weights.reshape(channels, taps, stride, taps, stride, features).transpose(
      2, 4, 0, 1, 3, 5).reshape(stride * stride * channels, taps * taps * features)
