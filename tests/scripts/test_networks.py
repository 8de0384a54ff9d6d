import re

import jax
import jax.numpy as jnp
import numpy as np

from agents.scripts.networks import MLP


def _dot_operand_ranks(text: str) -> list[int]:
  """The ranks of every dot_general's operands in a StableHLO module."""
  ranks = []
  for line in text.splitlines():
    if 'stablehlo.dot_general' in line:
      types = re.findall(r'tensor<([0-9x]+)xf32>', line.split(':')[-1])
      ranks.extend(len(t.split('x')) for t in types)
  return ranks


def test_mlp_multiplies_matrices_whatever_the_leading_axes():
  """[time, batch, features] runs as rows of one matrix: XLA:CPU's dots and
  their weight gradients are slower on rank-3 operands (pendulum_jax's update
  ~5% slower), even with a time axis of 1; the values are the same."""
  mlp = MLP((16, 16), 2)
  observ = jax.random.normal(jax.random.PRNGKey(0), (1, 32, 3))
  params = mlp.init(jax.random.PRNGKey(1), observ)
  loss = lambda p, x: jnp.sum(mlp.apply(p, x) ** 2)
  text = jax.jit(jax.grad(loss)).lower(params, observ).as_text()
  ranks = _dot_operand_ranks(text)
  assert ranks and set(ranks) == {2}, ranks
  out = mlp.apply(params, observ)
  assert out.shape == (1, 32, 2)
  np.testing.assert_array_equal(out[0], mlp.apply(params, observ[0]))
