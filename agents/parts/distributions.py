"""Action distributions as small pytrees: diagonal Gaussian (Box), categorical
(Discrete), independent categoricals (MultiDiscrete) and Bernoullis (MultiBinary),
and invalid-action masking of the categorical ones (`masked`)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np


@flax.struct.dataclass
class DiagGaussian:
  """Independent normal per action dimension. mean, std: [..., action_dim]."""
  mean: jax.Array
  std: jax.Array

  def sample(self, key: jax.Array) -> jax.Array:
    return self.mean + self.std * jax.random.normal(key, self.mean.shape)

  def mode(self) -> jax.Array:
    return self.mean

  def log_prob(self, action: jax.Array) -> jax.Array:
    """[...]: summed over action dimensions."""
    z = (action - self.mean) / self.std
    return (-0.5 * z ** 2 - jnp.log(self.std) - 0.5 * math.log(2 * math.pi)).sum(-1)

  def entropy(self) -> jax.Array:
    return (jnp.log(self.std) + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)

  def kl(self, other: 'DiagGaussian') -> jax.Array:
    """KL(self || other), summed over action dimensions."""
    return (jnp.log(other.std / self.std) +
            (self.std ** 2 + (self.mean - other.mean) ** 2) / (2 * other.std ** 2)
            - 0.5).sum(-1)


@flax.struct.dataclass
class Categorical:
  """Distribution over discrete actions. logits: [..., num_actions]."""
  logits: jax.Array

  def sample(self, key: jax.Array) -> jax.Array:
    return jax.random.categorical(key, self.logits).astype(jnp.int32)

  def mode(self) -> jax.Array:
    return jnp.argmax(self.logits, -1).astype(jnp.int32)

  def log_prob(self, action: jax.Array) -> jax.Array:
    log_probs = jax.nn.log_softmax(self.logits)
    return jnp.take_along_axis(
        log_probs, action[..., None].astype(jnp.int32), -1)[..., 0]

  def entropy(self) -> jax.Array:
    log_probs = jax.nn.log_softmax(self.logits)
    return -(jnp.exp(log_probs) * log_probs).sum(-1)

  def kl(self, other: 'Categorical') -> jax.Array:
    log_p = jax.nn.log_softmax(self.logits)
    log_q = jax.nn.log_softmax(other.logits)
    return (jnp.exp(log_p) * (log_p - log_q)).sum(-1)


# Padding of a MultiCategorical's shorter dimensions and masked actions:
# finite, so that 0 * log(p) stays 0 where NaN would follow -inf.
EXCLUDED_LOGIT = -1e9


@flax.struct.dataclass
class MultiCategorical:
  """Independent categoricals, one per action dimension (MultiDiscrete).

  logits: [..., dims, max_categories]; a dimension with fewer categories has
  its extra logits at EXCLUDED_LOGIT, so they are never sampled. Log-prob,
  entropy and KL are summed over the dimensions.
  """
  logits: jax.Array

  def sample(self, key: jax.Array) -> jax.Array:
    return Categorical(self.logits).sample(key)

  def mode(self) -> jax.Array:
    return Categorical(self.logits).mode()

  def log_prob(self, action: jax.Array) -> jax.Array:
    return Categorical(self.logits).log_prob(action).sum(-1)

  def entropy(self) -> jax.Array:
    return Categorical(self.logits).entropy().sum(-1)

  def kl(self, other: 'MultiCategorical') -> jax.Array:
    return Categorical(self.logits).kl(Categorical(other.logits)).sum(-1)


@flax.struct.dataclass
class Bernoulli:
  """Independent bits (MultiBinary). logits: [..., bits]; summed over bits."""
  logits: jax.Array

  def sample(self, key: jax.Array) -> jax.Array:
    return (jax.random.uniform(key, self.logits.shape) < jax.nn.sigmoid(self.logits)
            ).astype(jnp.int32)

  def mode(self) -> jax.Array:
    return (self.logits > 0).astype(jnp.int32)

  def log_prob(self, action: jax.Array) -> jax.Array:
    action = action.astype(self.logits.dtype)
    return (action * jax.nn.log_sigmoid(self.logits) +
            (1 - action) * jax.nn.log_sigmoid(-self.logits)).sum(-1)

  def entropy(self) -> jax.Array:
    p = jax.nn.sigmoid(self.logits)
    return -(p * jax.nn.log_sigmoid(self.logits) +
             (1 - p) * jax.nn.log_sigmoid(-self.logits)).sum(-1)

  def kl(self, other: 'Bernoulli') -> jax.Array:
    p = jax.nn.sigmoid(self.logits)
    return (p * (jax.nn.log_sigmoid(self.logits) - jax.nn.log_sigmoid(other.logits)) +
            (1 - p) * (jax.nn.log_sigmoid(-self.logits) -
                       jax.nn.log_sigmoid(-other.logits))).sum(-1)


def masked(distribution: Any, mask: jax.Array | None,
           nvec: Sequence[int] | None = None) -> Any:
  """`distribution` with the actions where `mask` is false excluded.

  mask: [..., n] bool for a Categorical over n actions; [..., sum(nvec)] for a
  MultiCategorical (its dimensions' masks concatenated). Excluded actions get
  the logit EXCLUDED_LOGIT: they are never sampled nor the mode, and add
  nothing to entropy or KL. None: unchanged.
  """
  if mask is None:
    return distribution
  if isinstance(distribution, Categorical):
    return Categorical(jnp.where(mask, distribution.logits, EXCLUDED_LOGIT))
  if isinstance(distribution, MultiCategorical):
    index = _padded_index(tuple(int(n) for n in nvec))
    padded = jnp.concatenate([mask, jnp.zeros(mask.shape[:-1] + (1,), bool)], -1)
    allowed = padded[..., index]
    return MultiCategorical(jnp.where(allowed, distribution.logits, EXCLUDED_LOGIT))
  raise TypeError(f'Action masks apply to categorical actions, not {type(distribution).__name__}.')


def _padded_index(nvec: tuple[int, ...]) -> np.ndarray:
  """[dims, max(nvec)] positions in the concatenated mask; padding points at
  one extra (false) entry after it."""
  index = np.full((len(nvec), max(nvec)), sum(nvec), np.int32)
  offsets = np.cumsum((0,) + nvec[:-1])
  for dim, (offset, count) in enumerate(zip(offsets, nvec)):
    index[dim, :count] = offset + np.arange(count)
  return index
