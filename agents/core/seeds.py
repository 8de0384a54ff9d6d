"""Several seeds in one program: the devices their axis is split over, and
their keys."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def seed_devices(num_seeds: int, devices: int | None = None) -> int:
  """How many of JAX's devices (at most `devices`) the seed axis is split
  over: the most that divide it."""
  available = min(len(jax.devices()), devices or len(jax.devices()))
  return max(count for count in range(1, min(available, num_seeds) + 1)
             if num_seeds % count == 0)


def seed_shardings(count: int) -> tuple[NamedSharding, NamedSharding] | None:
  """(split over the seed axis, whole) on the first `count` devices; None
  for one device."""
  if count <= 1:
    return None
  mesh = Mesh(jax.devices()[:count], ('seeds',))
  return NamedSharding(mesh, PartitionSpec('seeds')), NamedSharding(mesh, PartitionSpec())


@functools.partial(jax.jit, static_argnums=1)
def split_seeds(key: jax.Array, num: int) -> jax.Array:
  """jax.random.split of every seed's key: [seeds, 2] -> [num, seeds, 2]."""
  return jnp.swapaxes(jax.vmap(lambda k: jax.random.split(k, num))(key), 0, 1)


@jax.jit
def fold_in(key: jax.Array, index: jax.Array) -> jax.Array:
  """jax.random.fold_in, one program for every index."""
  return jax.random.fold_in(key, index)


@jax.jit
def fold_in_seeds(key: jax.Array, index: jax.Array) -> jax.Array:
  """jax.random.fold_in of every seed's key: [seeds, 2] -> [seeds, 2]."""
  return jax.vmap(jax.random.fold_in, in_axes=(0, None))(key, index)
