"""Checkpoints: one file per save, verified by a digest, written atomically.

A file is a header line `agents-checkpoint 1 sha256=<hex>` followed by the
msgpack payload the digest covers. A save writes a temporary file, fsyncs
it, renames it into place and fsyncs the directory, so a crash leaves either
the old set of files or the new one. A file whose digest does not match (cut
short by a full disk, damaged on copy) is moved aside as `<name>.corrupt`,
never deleted, and the newest intact checkpoint is used instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
from typing import Any

import flax.serialization
import jax
import numpy as np

from agents.errors import CorruptCheckpoint, IncompatibleCheckpoint
from agents.run.run_dir import write_atomic

LOG = logging.getLogger(__name__)
_PATTERN = re.compile(r'^ckpt-(\d+)\.msgpack$')
_MAGIC = b'agents-checkpoint 1 sha256='


def path_for(directory: str, step: int) -> str:
  return os.path.join(directory, f'ckpt-{step:012d}.msgpack')


def save(directory: str, step: int, state: Any, config_yaml: str,
         keep: int = 3) -> str:
  """Write `state` (a pytree) and the config; keep the newest `keep` files."""
  os.makedirs(directory, exist_ok=True)
  payload = {'state': flax.serialization.to_state_dict(jax.device_get(state)),
             'config': config_yaml, 'step': step}
  data = flax.serialization.msgpack_serialize(payload)
  header = _MAGIC + hashlib.sha256(data).hexdigest().encode() + b'\n'
  path = path_for(directory, step)
  write_atomic(path, header + data)
  for old in list_checkpoints(directory)[:-keep]:
    os.remove(old[1])
  return path


def remove_temporaries(directory: str) -> int:
  """Delete the temporary files of saves that never finished; returns how many.

  Call it only while holding the run (agents.run.run_lock), when no save
  can be in progress.
  """
  if not os.path.isdir(directory):
    return 0
  stale = [name for name in os.listdir(directory) if '.msgpack.tmp-' in name]
  for name in stale:
    os.remove(os.path.join(directory, name))
  return len(stale)


def list_checkpoints(directory: str) -> list[tuple[int, str]]:
  """(step, path) of every checkpoint file (complete or not), oldest first."""
  if not os.path.isdir(directory):
    return []
  found = []
  for name in os.listdir(directory):
    match = _PATTERN.match(name)
    if match:
      found.append((int(match.group(1)), os.path.join(directory, name)))
  return sorted(found)


def latest(directory: str) -> str | None:
  """The newest checkpoint file, unverified (see `latest_intact`)."""
  checkpoints = list_checkpoints(directory)
  return checkpoints[-1][1] if checkpoints else None


def latest_intact(directory: str) -> str | None:
  """The newest checkpoint whose digest matches; bad ones are moved aside,
  each with one warning."""
  for step, path in reversed(list_checkpoints(directory)):
    try:
      read_payload(path)
      return path
    except CorruptCheckpoint as error:
      aside = f'{path}.corrupt'
      try:
        os.replace(path, aside)
      except OSError:   # A read-only run: leave it, say so, use an older one.
        LOG.warning('checkpoint of step %s is damaged (%s); skipped.', f'{step:,}', error)
        continue
      LOG.warning('checkpoint of step %s is damaged (%s); moved aside to %s.',
                  f'{step:,}', error, aside)
  return None


def damaged(directory: str) -> list[str]:
  """The checkpoint files moved aside as damaged, or damaged and left in place."""
  if not os.path.isdir(directory):
    return []
  return sorted(os.path.join(directory, name) for name in os.listdir(directory)
                if name.endswith('.corrupt'))


def read_payload(path: str) -> dict:
  """The verified payload of a checkpoint file: state, config and step."""
  with open(path, 'rb') as stream:
    data = stream.read()
  if data.startswith(_MAGIC):
    header, _, body = data.partition(b'\n')
    expected = header[len(_MAGIC):].decode(errors='replace')
    if hashlib.sha256(body).hexdigest() != expected:
      raise CorruptCheckpoint(f'{len(data):,} bytes, digest mismatch')
  else:  # Written before checkpoints carried a digest: msgpack must parse.
    body = data
  try:
    payload = flax.serialization.msgpack_restore(body)
  except Exception as error:  # msgpack raises several types for bad bytes.
    raise CorruptCheckpoint(f'unreadable: {type(error).__name__}') from None
  if not isinstance(payload, dict) or not {'state', 'config', 'step'} <= set(payload):
    raise CorruptCheckpoint('not a checkpoint payload')
  return payload


def _restore(target: Any, saved: Any, path: str) -> Any:
  try:
    value = flax.serialization.from_state_dict(target, _fit_fields(target, saved))
    return jax.tree_util.tree_map(
        lambda t, x: np.asarray(x, dtype=np.asarray(t).dtype).reshape(np.shape(t)),
        target, value)
  except (ValueError, KeyError, TypeError) as error:
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    raise IncompatibleCheckpoint(
        f'{path} does not fit this config ({first[:200]})') from None


def _fit_fields(target: Any, saved: Any) -> Any:
  """A saved record (a dataclass's dict, e.g. the learner) fitted to the target's
  fields: fields the saved one has that the target lacks are dropped (e.g. the
  update metrics that learners carried until 2026-12), and fields added since
  keep the target's values. Inside a field (the parameters) nothing is fitted:
  a different network stays an IncompatibleCheckpoint."""
  if not isinstance(saved, dict):
    return saved
  if isinstance(target, dict):
    return {key: _fit_fields(target[key], value) if key in target else value
            for key, value in saved.items()}
  if not dataclasses.is_dataclass(target):
    return saved
  fields = flax.serialization.to_state_dict(target)
  return {name: _fit_fields(getattr(target, name), saved[name]) if name in saved
          else value for name, value in fields.items()}


def load(path: str, target: Any) -> tuple[Any, str, int]:
  """Restore into the structure of `target`; returns (state, config_yaml, step)."""
  payload = read_payload(path)
  saved = payload['state']
  if isinstance(target, dict) and isinstance(saved, dict):
    # The Loop's record gains fields (e.g. `cursor`, 2026-12-03): older
    # checkpoints keep the target's values for them.
    saved = {**{key: value for key, value in target.items() if key not in saved}, **saved}
  state = _restore(target, saved, path)
  return state, payload['config'], int(payload['step'])


def load_part(path: str, name: str, target: Any) -> tuple[Any, int]:
  """Restore one entry of a saved state dict (e.g. 'learner'); returns (value, step)."""
  payload = read_payload(path)
  if name not in payload['state']:
    raise IncompatibleCheckpoint(f"Checkpoint {path} holds no '{name}'.")
  return _restore(target, payload['state'][name], path), int(payload['step'])
