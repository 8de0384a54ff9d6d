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


def _orthogonal(scale: float) -> Callable:
  return nn.initializers.orthogonal(scale)


class MLP(nn.Module):
  """Dense layers with tanh, orthogonally initialized; last layer linear."""
  layers: Sequence[int]
  output_size: int | None = None
  output_scale: float = 1.0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for size in self.layers:
      x = nn.tanh(nn.Dense(size, kernel_init=_orthogonal(np.sqrt(2)))(x))
    if self.output_size is not None:
      x = nn.Dense(self.output_size, kernel_init=_orthogonal(self.output_scale))(x)
    return x


class ConvTorso(nn.Module):
  """Image features: the Nature-CNN (Mnih et al. 2015: 32 8x8/4, 64 4x4/2, 64
  3x3/1 convolutions, then 512 ReLU units) for images of 36 px a side or more;
  one 16 3x3 convolution and 128 units (MinAtar's network) for smaller ones.
  observ: [..., H, W, C] float in [0, 1] (channels last).

  Each convolution is a matmul over image patches: the same function, but on
  the CPU ~10x faster inside the update's loops than XLA's convolution there
  (measured 59 vs 557 ms for a 256-sample gradient of this torso).
  """

  @nn.compact
  def __call__(self, observ: jax.Array) -> jax.Array:
    lead = observ.shape[:-3]
    x = observ.reshape((-1,) + observ.shape[-3:])
    if min(x.shape[1:3]) >= 36:
      convolutions, hidden = ((32, 8, 4), (64, 4, 2), (64, 3, 1)), 512
    else:
      convolutions, hidden = ((16, 3, 1),), 128
    for index, (features, kernel, stride) in enumerate(convolutions):
      patches = jax.lax.conv_general_dilated_patches(
          x, (kernel, kernel), (stride, stride), 'VALID',
          dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
      x = nn.relu(nn.Dense(features, kernel_init=_orthogonal(np.sqrt(2)),
                           name=f'conv_{index}')(patches))
    x = nn.relu(nn.Dense(hidden, kernel_init=_orthogonal(np.sqrt(2)))(
        x.reshape(x.shape[0], -1)))
    return x.reshape(lead + (hidden,))


def torso_of(spec: Any) -> str:
  """'cnn' for image observations (HxWxC; 'cnn_chw' for CxHxW, channels of at
  most 4 first), else 'mlp'."""
  if not spec.image:
    return 'mlp'
  shape = spec.policy_observ_shape
  return 'cnn_chw' if shape[0] <= 4 < shape[-1] else 'cnn'


def _features(torso: str, observ: jax.Array, name: str) -> jax.Array:
  """What the layers after the torso see: image features, or the observation
  flat (time and batch axes first)."""
  if torso == 'mlp':
    return observ.reshape(observ.shape[:2] + (-1,)) if observ.ndim > 3 else observ
  if torso == 'cnn_chw':
    observ = jnp.moveaxis(observ, -3, -1)
  return ConvTorso(name=name)(observ)


def _summary(torso: str, head: str, spec: Any) -> str:
  what = {'mlp': 'MLP', 'cnn': 'CNN', 'cnn_chw': 'CNN (channels first)'}[torso]
  kind = f'{spec.observ_dtype} images ' if torso != 'mlp' else ''
  return (f"{what} torso on {kind}{'x'.join(map(str, spec.policy_observ_shape))} "
          f'observations, {head} head for {spec.describe()} actions')


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
  torso: str = 'mlp'            # 'cnn' / 'cnn_chw' for images (torso_of).
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
  torso: str = 'mlp'
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
  """A policy MLP with the head of its action space, and a separate value MLP."""
  head: ActionHead
  policy_layers: Sequence[int] = (64, 64)
  value_layers: Sequence[int] = (64, 64)
  torso: str = 'mlp'
  recurrent = False
  state_size = 1

  @nn.compact
  def __call__(self, observ: jax.Array, first: jax.Array, state: jax.Array
               ) -> tuple[Any, jax.Array, jax.Array]:
    out = MLP(self.policy_layers, self.head.size, 0.01, name='policy')(
        _features(self.torso, observ, 'policy_torso'))
    value = ValueHead(self.value_layers, name='value')(
        _features(self.torso, observ, 'value_torso'))
    return self.head.distribution(out), value, state


class RecurrentPolicy(nn.Module):
  """A GRU policy (trained on chunks of episodes) with the head of its action
  space, and a separate value MLP."""
  head: ActionHead
  policy_layers: Sequence[int] = (64,)
  state_size: int = 64
  value_layers: Sequence[int] = (64, 64)
  torso: str = 'mlp'
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
                           tuple(config.value_layers), torso_of(spec))


def recurrent(spec: Any, config: Any) -> nn.Module:
  """A GRU policy with the head from the action space."""
  if spec.kind == 'box':
    return recurrent_gaussian(spec, config)
  return RecurrentPolicy(ActionHead.of(spec), tuple(config.policy_layers),
                         config.state_size, tuple(config.value_layers), torso_of(spec))


def feed_forward_gaussian(spec: Any, config: Any) -> FeedForwardGaussian:
  _require(not spec.discrete, 'feed_forward_gaussian', 'continuous (Box)', spec,
           'feed_forward')
  return FeedForwardGaussian(
      action_size=int(np.prod(spec.action_shape)),
      policy_layers=tuple(config.policy_layers),
      value_layers=tuple(config.value_layers), init_std=config.init_std,
      torso=torso_of(spec))


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
      torso=torso_of(spec))


def summary(network: Any, spec: Any) -> str | None:
  """One line on what a network of this module reads and acts with, where it
  is not the plain MLP (image torsos); None otherwise."""
  if getattr(network, 'torso', 'mlp') == 'mlp':
    return None
  head = 'Gaussian' if spec.kind == 'box' else getattr(network, 'head', None)
  head = head if isinstance(head, str) else {
      'discrete': 'categorical', 'multi_discrete': 'per-dimension categorical',
      'multi_binary': 'Bernoulli'}[spec.kind]
  return _summary(getattr(network, 'torso', 'mlp'), head, spec)


NETWORKS = {
    'feed_forward': feed_forward,
    'recurrent': recurrent,
    'feed_forward_gaussian': feed_forward_gaussian,
    'feed_forward_categorical': feed_forward_categorical,
    'recurrent_gaussian': recurrent_gaussian,
}


def _require(ok: bool, name: str, needs: str, spec: Any, alternative: str) -> None:
  if not ok:
    found = spec.describe()
    raise UnsupportedActionSpace(
        f"Network '{name}' needs a {needs} action space, but the env has "
        f"{found}. Use network={alternative} (--set network={alternative}).")
