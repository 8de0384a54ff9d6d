"""Policy and value networks (Flax linen), time-major.

Every network maps `(observ [time, batch, *observ_shape], first [time, batch],
state [batch, state_size])` to `(distribution [time, batch], value [time,
batch], state)`. `first` marks the first step of an episode: recurrent
networks reset their state there; feed-forward networks ignore both. The
value network is separate from the policy (no shared layers). Parameters
of the value network live under names starting with `value`.

`feed_forward` and `recurrent` take the policy's head from the action space
(`ActionHead`: Gaussian for Box, categorical for Discrete, one categorical per
dimension for MultiDiscrete, one Bernoulli per bit for MultiBinary); the
older names ask for one kind of space.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from agents.parts.distributions import (EXCLUDED_LOGIT, Bernoulli, Categorical,
                                       DiagGaussian, MultiCategorical)
from agents.errors import UnsupportedActionSpace
from agents.scripts.torsos import as_torso, features as _features, torso_of


def _orthogonal(scale: float) -> Callable:
  return nn.initializers.orthogonal(scale)


class MLP(nn.Module):
  """Dense layers with tanh, orthogonally initialized; last layer linear."""
  layers: Sequence[int]
  output_size: int | None = None
  output_scale: float = 1.0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    # As rows of one matrix: XLA:CPU's dots (and their weight gradients)
    # are slower on [time, batch, features] even where time is 1.
    leading = x.shape[:-1]
    x = x.reshape((-1, x.shape[-1]))
    for size in self.layers:
      x = nn.tanh(nn.Dense(size, kernel_init=_orthogonal(np.sqrt(2)))(x))
    if self.output_size is not None:
      x = nn.Dense(self.output_size, kernel_init=_orthogonal(self.output_scale))(x)
    return x.reshape(leading + x.shape[-1:])


class ValueHead(nn.Module):
  layers: Sequence[int]

  @nn.compact
  def __call__(self, observ: jax.Array) -> jax.Array:
    return MLP(self.layers, 1, 1.0)(observ)[..., 0]


def _diag_gaussian(module: nn.Module, mean: jax.Array, init_std: float) -> DiagGaussian:
  """A Gaussian around `mean` whose std is one learned parameter per action
  dimension (`policy_log_std`), independent of the state."""
  log_std = module.param('policy_log_std', nn.initializers.constant(np.log(init_std)),
                         (mean.shape[-1],))
  return DiagGaussian(mean, jnp.broadcast_to(jnp.exp(log_std), mean.shape))


class FeedForwardGaussian(nn.Module):
  """Gaussian policy with state-independent std, and a separate value MLP."""
  action_size: int
  policy_layers: Sequence[int] = (64, 64)
  value_layers: Sequence[int] = (64, 64)
  init_std: float = 1.0
  torso: Any = 'mlp'            # A Torso (torsos.torso_of) for images and Dicts.
  recurrent = False
  state_size = 1

  @nn.compact
  def __call__(self, observ: jax.Array, first: jax.Array, state: jax.Array
               ) -> tuple[DiagGaussian, jax.Array, jax.Array]:
    mean = MLP(self.policy_layers, self.action_size, 0.01, name='policy')(
        _features(self.torso, observ, 'policy_torso'))
    value = ValueHead(self.value_layers, name='value')(
        _features(self.torso, observ, 'value_torso'))
    return _diag_gaussian(self, mean, self.init_std), value, state


class _ResettingGRU(nn.Module):
  """One GRU step whose state is zeroed where an episode starts."""
  size: int

  @nn.compact
  def __call__(self, carry: jax.Array, inputs: tuple[jax.Array, jax.Array]
               ) -> tuple[jax.Array, jax.Array]:
    x, first = inputs
    carry = jnp.where(first[:, None], jnp.zeros_like(carry), carry)
    carry, output = nn.GRUCell(self.size)(carry, x)
    return carry, output


def _gru_torso(module: nn.Module, observ: jax.Array, first: jax.Array,
               state: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The recurrent policies' MLP and GRU over time, as submodules of `module`
  ('policy_input', 'policy_gru'): the new state and the hidden features."""
  hidden = MLP(module.policy_layers, name='policy_input')(
      _features(module.torso, observ, 'policy_torso'))
  if observ.shape[0] == 1:   # One step (acting): no scan, the same parameters.
    state, output = _ResettingGRU(module.state_size, name='policy_gru')(
        state, (hidden[0], first[0]))
    return state, output[None]
  scan = nn.scan(_ResettingGRU, variable_broadcast='params',
                 split_rngs={'params': False}, in_axes=0, out_axes=0)
  return scan(module.state_size, name='policy_gru')(state, (hidden, first))


class RecurrentGaussian(nn.Module):
  """Gaussian policy with a GRU (trained on chunks of episodes), separate value MLP."""
  action_size: int
  policy_layers: Sequence[int] = (64,)
  state_size: int = 64
  value_layers: Sequence[int] = (64, 64)
  init_std: float = 1.0
  torso: Any = 'mlp'
  recurrent = True

  @nn.compact
  def __call__(self, observ: jax.Array, first: jax.Array, state: jax.Array
               ) -> tuple[DiagGaussian, jax.Array, jax.Array]:
    state, hidden = _gru_torso(self, observ, first, state)
    mean = nn.Dense(self.action_size, kernel_init=_orthogonal(0.01),
                    name='policy_mean')(hidden)
    value = ValueHead(self.value_layers, name='value')(
        _features(self.torso, observ, 'value_torso'))
    return _diag_gaussian(self, mean, self.init_std), value, state


@dataclasses.dataclass(frozen=True)
class ActionHead:
  """How a policy's last layer becomes a distribution, by action space.

  discrete: logits of a Categorical; multi_discrete: one categorical per
  dimension (a [dims, max(nvec)] block, the extra logits excluded);
  multi_binary: one Bernoulli logit per bit.
  """
  kind: str
  nvec: tuple[int, ...]

  @classmethod
  def of(cls, spec: Any) -> 'ActionHead':
    if spec.kind == 'box':
      raise UnsupportedActionSpace(
          f'ActionHead is for integer actions; {spec.describe()} actions take a '
          'DiagGaussian (see FeedForwardGaussian).')
    if spec.kind == 'discrete':
      return cls('discrete', (spec.num_actions,))
    if spec.kind == 'multi_discrete':
      return cls('multi_discrete', tuple(spec.action_nvec))
    return cls('multi_binary', (2,) * int(np.prod(spec.action_shape)))

  @property
  def size(self) -> int:
    if self.kind == 'multi_discrete':
      return len(self.nvec) * max(self.nvec)
    return self.nvec[0] if self.kind == 'discrete' else len(self.nvec)

  def distribution(self, out: jax.Array) -> Any:
    if self.kind == 'discrete':
      return Categorical(out)
    if self.kind == 'multi_binary':
      return Bernoulli(out)
    width = max(self.nvec)
    logits = out.reshape(out.shape[:-1] + (len(self.nvec), width))
    valid = np.arange(width)[None, :] < np.asarray(self.nvec)[:, None]
    return MultiCategorical(jnp.where(valid, logits, EXCLUDED_LOGIT))


class FeedForwardPolicy(nn.Module):
  """A policy MLP with the head of its action space, and a separate value MLP.

  shared: one torso (CNN) feeds both, as in CleanRL's Atari agent: half the
  convolutions, and the value loss trains the torso too (it is a policy
  parameter, `torso`, under the policy's optimizer part)."""
  head: ActionHead
  policy_layers: Sequence[int] = (64, 64)
  value_layers: Sequence[int] = (64, 64)
  torso: Any = 'mlp'
  shared: bool = False
  recurrent = False
  state_size = 1

  @nn.compact
  def __call__(self, observ: jax.Array, first: jax.Array, state: jax.Array
               ) -> tuple[Any, jax.Array, jax.Array]:
    if self.shared:
      policy_in = value_in = _features(self.torso, observ, 'torso')
    else:
      policy_in = _features(self.torso, observ, 'policy_torso')
      value_in = _features(self.torso, observ, 'value_torso')
    out = MLP(self.policy_layers, self.head.size, 0.01, name='policy')(policy_in)
    value = ValueHead(self.value_layers, name='value')(value_in)
    return self.head.distribution(out), value, state


class RecurrentPolicy(nn.Module):
  """A GRU policy (trained on chunks of episodes) with the head of its action
  space, and a separate value MLP."""
  head: ActionHead
  policy_layers: Sequence[int] = (64,)
  state_size: int = 64
  value_layers: Sequence[int] = (64, 64)
  torso: Any = 'mlp'
  recurrent = True

  @nn.compact
  def __call__(self, observ: jax.Array, first: jax.Array, state: jax.Array
               ) -> tuple[Any, jax.Array, jax.Array]:
    state, hidden = _gru_torso(self, observ, first, state)
    out = nn.Dense(self.head.size, kernel_init=_orthogonal(0.01), name='policy_out')(hidden)
    value = ValueHead(self.value_layers, name='value')(
        _features(self.torso, observ, 'value_torso'))
    return self.head.distribution(out), value, state


def feed_forward(spec: Any, config: Any) -> nn.Module:
  """The head from the action space: Gaussian, categorical, independent
  categoricals or Bernoullis."""
  if spec.kind == 'box':
    return feed_forward_gaussian(spec, config)
  # Discrete: the parameters are named as those of the earlier FeedForwardCategorical.
  return FeedForwardPolicy(ActionHead.of(spec), tuple(config.policy_layers),
                           tuple(config.value_layers), torso_of(spec, config.cnn))


def feed_forward_shared(spec: Any, config: Any) -> nn.Module:
  """feed_forward for integer actions with one torso shared by policy and value
  (CleanRL's Atari agent; the `atari` configs)."""
  _require(spec.discrete, 'feed_forward_shared', 'Discrete, MultiDiscrete or MultiBinary',
           spec, 'feed_forward')
  return FeedForwardPolicy(ActionHead.of(spec), tuple(config.policy_layers),
                           tuple(config.value_layers), torso_of(spec, config.cnn),
                           shared=True)


def recurrent(spec: Any, config: Any) -> nn.Module:
  """A GRU policy with the head from the action space."""
  if spec.kind == 'box':
    return recurrent_gaussian(spec, config)
  return RecurrentPolicy(ActionHead.of(spec), tuple(config.policy_layers),
                         config.state_size, tuple(config.value_layers),
                         torso_of(spec, config.cnn))


def feed_forward_gaussian(spec: Any, config: Any) -> FeedForwardGaussian:
  _require(not spec.discrete, 'feed_forward_gaussian', 'continuous (Box)', spec,
           'feed_forward')
  return FeedForwardGaussian(
      action_size=int(np.prod(spec.action_shape)),
      policy_layers=tuple(config.policy_layers),
      value_layers=tuple(config.value_layers), init_std=config.init_std,
      torso=torso_of(spec, config.cnn))


def feed_forward_categorical(spec: Any, config: Any) -> nn.Module:
  _require(spec.discrete, 'feed_forward_categorical',
           'Discrete, MultiDiscrete or MultiBinary', spec, 'feed_forward')
  return feed_forward(spec, config)


def recurrent_gaussian(spec: Any, config: Any) -> RecurrentGaussian:
  _require(not spec.discrete, 'recurrent_gaussian', 'continuous (Box)', spec, 'recurrent')
  return RecurrentGaussian(
      action_size=int(np.prod(spec.action_shape)),
      policy_layers=tuple(config.policy_layers),
      state_size=config.state_size,
      value_layers=tuple(config.value_layers), init_std=config.init_std,
      torso=torso_of(spec, config.cnn))


def summary(network: Any, spec: Any) -> str | None:
  """One line on what a network of this module reads and acts with, where it
  is not the plain MLP (image and Dict torsos); None otherwise."""
  torso = as_torso(getattr(network, 'torso', 'mlp'))
  if torso.kind == 'mlp' and not (spec.image and torso.cnn == 'flat'):
    return None
  head = 'Gaussian' if spec.kind == 'box' else {
      'discrete': 'categorical', 'multi_discrete': 'per-dimension categorical',
      'multi_binary': 'Bernoulli'}[spec.kind]
  shared = ' (shared by policy and value)' if getattr(network, 'shared', False) else ''
  return f'{torso.describe(spec)}{shared}, {head} head for {spec.describe()} actions'


NETWORKS = {
    'feed_forward': feed_forward,
    'recurrent': recurrent,
    'feed_forward_gaussian': feed_forward_gaussian,
    'feed_forward_categorical': feed_forward_categorical,
    'feed_forward_shared': feed_forward_shared,
    'recurrent_gaussian': recurrent_gaussian,
}


def _require(ok: bool, name: str, needs: str, spec: Any, alternative: str) -> None:
  if not ok:
    found = spec.describe()
    raise UnsupportedActionSpace(
        f"Network '{name}' needs a {needs} action space, but the env has "
        f"{found}. Use network={alternative} (--set network={alternative}).")
