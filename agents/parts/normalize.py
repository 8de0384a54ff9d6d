"""Streaming normalization: running mean and variance, as pure functions.

The statistics are part of the policy: they are saved in checkpoints and used
unchanged in evaluation.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class NormalizerState:
  """count: samples seen; mean: running mean; var_sum: sum of squared deviations."""
  count: jax.Array
  mean: jax.Array
  var_sum: jax.Array


def init(shape: tuple[int, ...]) -> NormalizerState:
  return NormalizerState(count=jnp.zeros((), jnp.float32),
                         mean=jnp.zeros(shape, jnp.float32),
                         var_sum=jnp.zeros(shape, jnp.float32))


def update(state: NormalizerState, values: jax.Array) -> NormalizerState:
  """Merge a batch `values: [n, *shape]` into the statistics (Chan et al.)."""
  values = values.reshape((-1,) + state.mean.shape).astype(jnp.float32)
  count = jnp.asarray(values.shape[0], jnp.float32)
  mean = values.mean(0)
  var_sum = ((values - mean) ** 2).sum(0)
  total = state.count + count
  delta = mean - state.mean
  new_mean = state.mean + delta * count / jnp.maximum(total, 1.0)
  new_var_sum = (state.var_sum + var_sum +
                 delta ** 2 * state.count * count / jnp.maximum(total, 1.0))
  return NormalizerState(total, new_mean, new_var_sum)


def variance(state: NormalizerState) -> jax.Array:
  """Sample variance; 1 before two samples were seen."""
  return jnp.where(state.count > 1,
                   state.var_sum / jnp.maximum(state.count - 1, 1.0), 1.0)


def std(state: NormalizerState, epsilon: float = 1e-8) -> jax.Array:
  return jnp.sqrt(variance(state) + epsilon)


def normalize(state: NormalizerState, values: jax.Array, center: bool = True,
              scale: bool = True, clip: float | None = None) -> jax.Array:
  """(values - mean) / std, each part optional, then clipped to [-clip, clip]."""
  if center:
    values = values - state.mean
  if scale:
    values = values / std(state)
  if clip:
    values = jnp.clip(values, -clip, clip)
  return values
