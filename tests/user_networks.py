"""Users' own networks for tests (`network=tests.user_networks:...`)."""

import flax.linen as nn
import jax.numpy as jnp

from agents.scripts.networks import ActionHead

SEEN = []   # The parts' shapes `by_parts` saw, for the test to check.


class ByParts(nn.Module):
  """Treats a Dict observation's parts apart: one layer per part."""
  head: ActionHead
  spec: object
  recurrent = False
  state_size = 1

  @nn.compact
  def __call__(self, observ, first, state):
    parts = self.spec.observ_dict(observ)
    SEEN.append({name: part.shape for name, part in parts.items()})
    hidden = jnp.concatenate([nn.tanh(nn.Dense(8, name=f'policy_{name}')(part.reshape(
        part.shape[:2] + (-1,)))) for name, part in parts.items()], -1)
    value = nn.Dense(1, name='value')(hidden)[..., 0]
    return self.head.distribution(nn.Dense(self.head.size)(hidden)), value, state


def by_parts(spec, config):
  return ByParts(ActionHead.of(spec), spec)


def not_a_module(spec, config):
  return 'a string'
