"""A random permutation in one single-operand sort: the minibatch order of PPO.

`jax.random.permutation(key, n)` sorts (random key, index) pairs in as many
rounds as make ties vanishingly rare (two rounds for n = 4,096), and XLA's CPU
sort of several operands calls a comparator per comparison: ~1.2 ms for 4,096
items on a 2-core CPU, a quarter of a `pendulum_jax` update. Packing the index
into the low bits of one random uint32 and sorting those numbers alone takes
~0.13 ms (bench/README.md, "Where the time goes").

A tie (two items with the same random high bits) keeps the two in index order,
next to each other; with n items and 32 - ceil(log2 n) random bits, about
n**2 / 2**(33 - ceil(log2 n)) pairs tie (8 of 4,096 items, 0.2 %). Beyond
2**14 items that would grow, so larger n sort (random uint32, index) pairs in
one round instead (ties: about n**2 / 2**33 pairs).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

PACKED_LIMIT = 2**14   # Items up to which the index is packed into the key.


def permutation(key: jax.Array, n: int) -> jax.Array:
  """A random permutation of range(n), int32 [n]; the same key gives the same one."""
  if n < 1:
    raise ValueError(f'permutation needs n >= 1, got {n}.')
  bits = jax.random.bits(key, (n,), jnp.uint32)
  index = jnp.arange(n, dtype=jnp.uint32)
  if n <= PACKED_LIMIT:
    low = max(1, (n - 1).bit_length())
    low_mask = jnp.uint32((1 << low) - 1)
    packed = (bits & ~low_mask) | index
    return (jnp.sort(packed) & low_mask).astype(jnp.int32)
  _, order = jax.lax.sort_key_val(bits, index.astype(jnp.int32))
  return order
