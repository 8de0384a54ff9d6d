"""Checkpoints: one msgpack file per save, written atomically (temp + rename)."""

from __future__ import annotations

import os
import re
from typing import Any

import flax.serialization
import jax
import numpy as np

_PATTERN = re.compile(r'^ckpt-(\d+)\.msgpack$')


def path_for(directory: str, step: int) -> str:
  return os.path.join(directory, f'ckpt-{step:012d}.msgpack')


def save(directory: str, step: int, state: Any, config_yaml: str,
         keep: int = 3) -> str:
  """Write `state` (a pytree) and the config; keep the newest `keep` files."""
  os.makedirs(directory, exist_ok=True)
  payload = {'state': flax.serialization.to_state_dict(jax.device_get(state)),
             'config': config_yaml, 'step': step}
  data = flax.serialization.msgpack_serialize(payload)
  path = path_for(directory, step)
  temporary = f'{path}.tmp-{os.getpid()}'
  with open(temporary, 'wb') as stream:
    stream.write(data)
    stream.flush()
    os.fsync(stream.fileno())
  os.replace(temporary, path)
  for old in list_checkpoints(directory)[:-keep]:
    os.remove(old[1])
  return path


def list_checkpoints(directory: str) -> list[tuple[int, str]]:
  """(step, path) of every complete checkpoint, oldest first."""
  if not os.path.isdir(directory):
    return []
  found = []
  for name in os.listdir(directory):
    match = _PATTERN.match(name)
    if match:
      found.append((int(match.group(1)), os.path.join(directory, name)))
  return sorted(found)


def latest(directory: str) -> str | None:
  checkpoints = list_checkpoints(directory)
  return checkpoints[-1][1] if checkpoints else None


def load(path: str, target: Any) -> tuple[Any, str, int]:
  """Restore into the structure of `target`; returns (state, config_yaml, step)."""
  with open(path, 'rb') as stream:
    payload = flax.serialization.msgpack_restore(stream.read())
  state = flax.serialization.from_state_dict(target, payload['state'])
  state = jax.tree_util.tree_map(
      lambda t, x: np.asarray(x, dtype=np.asarray(t).dtype), target, state)
  return state, payload['config'], int(payload['step'])


def load_part(path: str, name: str, target: Any) -> tuple[Any, int]:
  """Restore one entry of a saved state dict (e.g. 'learner'); returns (value, step)."""
  with open(path, 'rb') as stream:
    payload = flax.serialization.msgpack_restore(stream.read())
  if name not in payload['state']:
    raise KeyError(f"Checkpoint {path} holds no '{name}'.")
  value = flax.serialization.from_state_dict(target, payload['state'][name])
  value = jax.tree_util.tree_map(
      lambda t, x: np.asarray(x, dtype=np.asarray(t).dtype), target, value)
  return value, int(payload['step'])
