"""Episodes of a JAX env played by a policy from Python, with frames (visualize).

Each episode is the evaluation's episode of the same index: the env's first
episode from `PRNGKey(eval_seed + index)`. Frames come from the env's own
renderer where it has one (Brax and Playground through MuJoCo: `render(states)`;
the protocol's `render(state)`), else from its observations where they are
images; otherwise there are none, and the returns still are.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import numpy as np

from agents.parts.attr_dict import AttrDict


@dataclasses.dataclass
class Episode:
  total: float
  length: int
  frames: list[np.ndarray]


def frame_source(env: Any, spec: Any) -> str | None:
  """'trajectory' (render(states)), 'state' (render(state)), 'observ' (image
  observations) or None: where a JAX env's frames come from."""
  render = getattr(env, 'render', None)
  if callable(render):
    from agents.envs.jax_families import BraxAdapter
    return 'trajectory' if isinstance(env, BraxAdapter) else 'state'
  shape = spec.policy_observ_shape
  if len(shape) == 3 and shape[-1] in (1, 3):
    return 'observ'
  return None


def play(config: AttrDict, policy: Callable[[np.ndarray], np.ndarray], reset_policy:
         Callable[[], None], episode: int, keep: Callable[[int], bool]) -> Episode:
  """One deterministic episode (index `episode`) of the config's JAX env;
  `keep(step)` says which steps' frames to keep."""
  from agents.run import build
  batch = build.jax_batch_env(config, 1, seeds=[config.eval_seed + episode])
  source = frame_source(batch.env, batch.spec)
  reset, step = jax.jit(batch.reset), jax.jit(batch.step)
  key = jax.random.PRNGKey(config.eval_seed + episode)
  state = batch.init(key)
  state = reset(state, state.done, key)
  reset_policy()
  states, frames, total, length = [], [], 0.0, 0
  while True:
    if keep(length):
      if source == 'observ':
        frames.append(_image(np.asarray(state.observ[0])))
      elif source is not None:
        states.append(jax.tree_util.tree_map(lambda x: x[0], state.inner.env_state))
    action = policy(np.asarray(state.observ[0]))
    key, step_key = jax.random.split(key)
    state = step(state, np.asarray(action)[None], step_key)
    total += float(state.reward[0])
    length += 1
    if bool(state.done[0]):
      break
  if source == 'trajectory':
    frames = [np.asarray(frame) for frame in batch.env.render(states)]
  elif source == 'state':
    frames = [np.asarray(batch.env.render(s)) for s in states]
  return Episode(total, length, frames)


def _image(observ: np.ndarray) -> np.ndarray:
  """An image observation as an RGB frame at least ~160 px a side."""
  if observ.dtype != np.uint8:
    observ = (np.clip(observ, 0.0, 1.0) * 255).astype(np.uint8)
  if observ.shape[-1] == 1:
    observ = np.repeat(observ, 3, axis=-1)
  scale = max(1, 160 // max(1, min(observ.shape[:2])))
  return np.repeat(np.repeat(observ, scale, axis=0), scale, axis=1)
