"""A dictionary with attribute access that is locked against accidental writes."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import yaml


class AttrDict(dict):
  """Dict whose keys read as attributes; writes need `with cfg.unlocked:`.

  Configurations are passed around the whole program, so a typo that silently
  creates a new key (or reads as None) would be a hidden bug. Reading a missing
  key raises AttributeError naming the key and the keys that exist.
  """

  def __init__(self, *args: Any, **kwargs: Any) -> None:
    super().__init__(*args, **kwargs)
    object.__setattr__(self, '_locked', False)
    for key, value in list(self.items()):
      if isinstance(value, dict) and not isinstance(value, AttrDict):
        dict.__setitem__(self, key, AttrDict(value))
    object.__setattr__(self, '_locked', True)

  def __getattr__(self, name: str) -> Any:
    if name.startswith('__'):
      raise AttributeError(name)
    try:
      return self[name]
    except KeyError:
      known = ', '.join(sorted(self.keys())) or '(none)'
      raise AttributeError(
          f"No key '{name}'. Known keys: {known}") from None

  def __setattr__(self, name: str, value: Any) -> None:
    self[name] = value

  def __setitem__(self, key: str, value: Any) -> None:
    self._check_unlocked(key)
    super().__setitem__(key, value)

  def __delitem__(self, key: str) -> None:
    self._check_unlocked(key)
    super().__delitem__(key)

  def update(self, *args: Any, **kwargs: Any) -> None:
    self._check_unlocked('update')
    super().update(*args, **kwargs)

  def setdefault(self, key: str, default: Any = None) -> Any:
    self._check_unlocked(key)
    return super().setdefault(key, default)

  def pop(self, key: str, *default: Any) -> Any:
    self._check_unlocked(key)
    return super().pop(key, *default)

  def _check_unlocked(self, key: str) -> None:
    if self._locked:
      raise RuntimeError(
          f"Cannot set '{key}': this AttrDict is locked. "
          'Write inside `with config.unlocked:` to change it.')

  @property
  @contextlib.contextmanager
  def unlocked(self) -> Iterator[None]:
    """Context in which writes are allowed (nested dicts included)."""
    nested = [v for v in self.values() if isinstance(v, AttrDict)]
    object.__setattr__(self, '_locked', False)
    contexts = [value.unlocked for value in nested]
    with contextlib.ExitStack() as stack:
      for context in contexts:
        stack.enter_context(context)
      try:
        yield
      finally:
        object.__setattr__(self, '_locked', True)

  def copy(self) -> 'AttrDict':
    """A deep copy of the nested AttrDicts (values are shared), locked."""
    return AttrDict(self.to_dict())

  def to_dict(self) -> dict:
    """A plain nested dict, e.g. for serialization."""
    return {key: value.to_dict() if isinstance(value, AttrDict) else value
            for key, value in self.items()}

  def to_yaml(self) -> str:
    return yaml.safe_dump(self.to_dict(), sort_keys=True)

  @classmethod
  def from_yaml(cls, text: str) -> 'AttrDict':
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
      raise ValueError(f'Expected a YAML mapping, found {type(data).__name__}.')
    return cls(data)

  def __reduce__(self):
    return (AttrDict, (self.to_dict(),))

  def __repr__(self) -> str:
    return f'AttrDict({dict.__repr__(self)})'
