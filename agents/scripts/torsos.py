"""What a network reads its observation with, chosen from the observation space.

- Vector observations: no torso (the policy and value MLPs read them flat).
- Images (HxWxC, or CxHxW with at most 4 channels first): a CNN, the
  Nature-CNN by default or IMPALA's ResNet (`cnn=impala`), features of 512 / 256;
  or none (`cnn=flat`): the MLPs read the image flattened, as PureJaxRL's and
  gymnax's MinAtar PPO do (~13x the env-steps/s of the MinAtar CNN on a CPU).
- Dict observations with image parts (HxWxC boxes) and vector parts: a CNN for
  each image part, the vector parts flat, all concatenated.

Every convolution is a matmul (convolution.py): the same function, but on
the CPU ~10x faster inside the update's loops than XLA's convolution there
(measured 59 vs 557 ms for a 256-sample gradient of the Nature-CNN on 36x36
images; jax-ml/jax#12868).
Images arrive scaled to [0, 1] (the algorithm scales bytes; see PPO).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from agents.run.config_checks import CNNS
from agents.scripts import convolution


@dataclasses.dataclass(frozen=True)
class Torso:
  """kind: 'mlp' (flat vectors), 'cnn' (an image) or 'dict' (image and vector
  parts). cnn: 'nature', 'impala' or 'flat' (kind 'mlp', images flattened).
  channels_first: CxHxW images.
  parts: a Dict observation's (name, shape) pairs, in their flattened order."""
  kind: str = 'mlp'
  cnn: str = 'nature'
  channels_first: bool = False
  parts: tuple = ()

  def describe(self, spec: Any) -> str:
    """'Nature-CNN torso on uint8 images 36x36x3 observations', and the like."""
    if self.kind == 'mlp':
      what = f'flattened {spec.observ_dtype} images ' if self.cnn == 'flat' else ''
      return f"MLP torso on {what}{'x'.join(map(str, spec.policy_observ_shape))} observations"
    images = [shape for _, shape in self.parts if len(shape) == 3] or [
        spec.policy_observ_shape[1:] if self.channels_first else spec.policy_observ_shape]
    small = self.cnn == 'nature' and min(min(shape[:2]) for shape in images) < 36
    cnn = 'MinAtar-CNN' if small else {'nature': 'Nature-CNN', 'impala': 'IMPALA-ResNet'}[self.cnn]
    if self.kind == 'dict':
      images = [name for name, shape in self.parts if len(shape) == 3]
      vectors = [name for name, shape in self.parts if len(shape) != 3]
      return (f"{cnn} torso on the image part{'s' * (len(images) > 1)} "
              f"{', '.join(images)} and the vector part{'s' * (len(vectors) > 1)} "
              f"{', '.join(vectors) or '(none)'} of Dict observations, concatenated")
    order = ' (channels first)' if self.channels_first else ''
    return (f"{cnn} torso{order} on {spec.observ_dtype} images "
            f"{'x'.join(map(str, spec.policy_observ_shape))} observations")


def torso_of(spec: Any, cnn: str = 'nature') -> Torso:
  """The torso for an env's observations (see the module docstring)."""
  if cnn not in CNNS:
    raise ValueError(f"cnn must be one of {', '.join(CNNS)}, got '{cnn}'.")
  if cnn == 'flat':   # Images, Dict parts and vectors alike: the MLPs read them flat.
    return Torso(cnn='flat')
  if spec.image:
    shape = spec.policy_observ_shape
    return Torso('cnn', cnn, channels_first=shape[0] <= 4 < shape[-1])
  parts = tuple(spec.observ_parts or ())
  if any(len(shape) == 3 for _, shape in parts):
    return Torso('dict', cnn, parts=parts)
  return Torso()


def as_torso(torso: Torso | str) -> Torso:
  """A Torso, also from the names of earlier versions: 'mlp', 'cnn', 'cnn_chw'."""
  if isinstance(torso, Torso):
    return torso
  return Torso() if torso == 'mlp' else Torso('cnn', channels_first=torso == 'cnn_chw')


def features(torso: Torso | str, observ: jax.Array, name: str) -> jax.Array:
  """What the layers after the torso see, [time, batch, features], from
  observations [time, batch, *observ_shape] (images scaled to [0, 1])."""
  torso = as_torso(torso)
  if torso.kind == 'mlp':
    return observ.reshape(observ.shape[:2] + (-1,)) if observ.ndim > 3 else observ
  if torso.kind == 'cnn':
    if torso.channels_first:
      observ = jnp.moveaxis(observ, -3, -1)
    return _cnn(torso.cnn, name)(observ)
  pieces, start = [], 0
  for part, shape in torso.parts:
    size = int(np.prod(shape))
    piece = observ[..., start:start + size]
    start += size
    if len(shape) == 3:
      piece = _cnn(torso.cnn, f'{name}_{part}')(piece.reshape(piece.shape[:-1] + shape))
    pieces.append(piece)
  return jnp.concatenate(pieces, axis=-1)


def _cnn(cnn: str, name: str) -> nn.Module:
  return (ImpalaTorso if cnn == 'impala' else ConvTorso)(name=name)


def _orthogonal(scale: float) -> Any:
  return nn.initializers.orthogonal(scale)


def _conv(x: jax.Array, features: int, kernel: int, stride: int, padding: str,
          name: str, scale: float = np.sqrt(2)) -> jax.Array:
  """A convolution [N, H, W, C] -> [N, H', W', F] as a matmul (convolution.py)."""
  return Conv(features, kernel, stride, padding, scale, name=name)(x)


class Conv(nn.Module):
  """A convolution whose weights are a Dense layer's over image patches:
  'kernel' [C * kernel^2, F] (rows channel-major, as XLA orders a patch) and
  'bias' [F], initialized as that Dense layer would be."""
  features: int
  kernel: int
  stride: int
  padding: str
  scale: float = np.sqrt(2)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    weights = self.param('kernel', _orthogonal(self.scale),
                         (x.shape[-1] * self.kernel ** 2, self.features), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,), jnp.float32)
    return convolution.conv(x, weights, self.kernel, self.stride, self.padding) + bias


class ConvTorso(nn.Module):
  """The Nature-CNN (Mnih et al. 2015: 32 8x8/4, 64 4x4/2, 64 3x3/1
  convolutions, then 512 ReLU units) for images of 36 px a side or more; one
  16 3x3 convolution and 128 units (MinAtar's network) for smaller ones.
  observ: [..., H, W, C] float in [0, 1]."""

  @nn.compact
  def __call__(self, observ: jax.Array) -> jax.Array:
    lead = observ.shape[:-3]
    x = observ.reshape((-1,) + observ.shape[-3:])
    if min(x.shape[1:3]) >= 36:
      convolutions, hidden = ((32, 8, 4), (64, 4, 2), (64, 3, 1)), 512
    else:
      convolutions, hidden = ((16, 3, 1),), 128
    for index, (size, kernel, stride) in enumerate(convolutions):
      x = nn.relu(_conv(x, size, kernel, stride, 'VALID', f'conv_{index}'))
    x = nn.relu(nn.Dense(hidden, kernel_init=_orthogonal(np.sqrt(2)))(
        x.reshape(x.shape[0], -1)))
    return x.reshape(lead + (hidden,))


class ImpalaTorso(nn.Module):
  """IMPALA's ResNet (Espeholt et al. 2018), as CleanRL's and Procgen's PPO use
  it: three stacks of (16, 32, 32) channels, each a 3x3 convolution, a 3x3
  max-pool of stride 2 and two residual blocks of two 3x3 convolutions; then
  256 ReLU units. observ: [..., H, W, C] float in [0, 1]. The convolutions
  start orthogonal with gain 1 (not sqrt 2): with sqrt 2 the six residual
  blocks grow the features ~10x at initialization (std 11 on 64x64 images)."""
  channels: tuple = (16, 32, 32)
  hidden: int = 256

  @nn.compact
  def __call__(self, observ: jax.Array) -> jax.Array:
    lead = observ.shape[:-3]
    x = observ.reshape((-1,) + observ.shape[-3:])
    for stack, size in enumerate(self.channels):
      x = _conv(x, size, 3, 1, 'SAME', f'stack_{stack}_conv', 1.0)
      x = nn.max_pool(x, (3, 3), strides=(2, 2), padding='SAME')
      for block in range(2):
        name = f'stack_{stack}_block_{block}'
        inner = _conv(nn.relu(x), size, 3, 1, 'SAME', f'{name}_0', 1.0)
        x = x + _conv(nn.relu(inner), size, 3, 1, 'SAME', f'{name}_1', 1.0)
    x = nn.relu(x).reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(self.hidden, kernel_init=_orthogonal(np.sqrt(2)))(x))
    return x.reshape(lead + (self.hidden,))
