"""Envs handed to `agents.train(env=...)` as Python objects, under a name `env=` takes.

A run records its env as text (config.yaml's `env`), so that resume, visualize,
export and `load_policy` rebuild it in a fresh process. An object that a module
holds (a class, a function, a JAX env at module level) is recorded as that
module's `module:name`. Any other (a lambda, an object made in a script's
`__main__`, a closure) is kept here, in this process, as
`agents.envs.env_objects:env_<n>`: that run works in this process, and another
process rebuilds it only when given the object again
(`agents.load_policy(run_dir, env=...)`).
"""

from __future__ import annotations

import importlib
import inspect
import logging
from typing import Any

from agents.errors import ConfigError

LOG = logging.getLogger(__name__)
_HELD: dict[str, Any] = {}


def name_of(env: Any) -> str:
  """The `env=` text that rebuilds `env`: its module's name for it, else one kept here."""
  import gymnasium
  if isinstance(env, gymnasium.vector.VectorEnv):
    raise ConfigError(
        f'env={type(env).__name__}(...) is one vector env, but a run builds two (training, '
        'num_agents envs; evaluation, eval_agents): pass a function that builds one and '
        'takes num_envs.')
  if isinstance(env, gymnasium.Env):
    raise ConfigError(
        f'env={type(env).__name__}(...) is one Gymnasium env, but a run steps a batch of '
        'num_agents copies: pass its class or a function that builds one.')
  found = _importable_name(env)
  if found:
    return found
  key = f'env_{len(_HELD)}'
  _HELD[key] = env
  name = f'{__name__}:{key}'
  LOG.warning('env=%r is held by no module; the run records env=%s, which only this '
              'process knows: elsewhere, give the object again '
              '(agents.load_policy(run_dir, env=...)).', env, name)
  return name


def provide(recorded: str, env: Any) -> None:
  """Make `recorded` (a run's `env=`) name `env` in this process (load_policy's `env=`)."""
  module, _, key = recorded.partition(':')
  if module == __name__:
    _HELD[key] = env


def _importable_name(env: Any) -> str | None:
  """'module:name' where importing `module` gives `env` as `name`; None otherwise."""
  module_name = getattr(env, '__module__', None) if (
      inspect.isclass(env) or inspect.isfunction(env)) else None
  names = [getattr(env, '__qualname__', '')] if module_name else []
  if module_name is None:   # An instance: look for it among its class module's names.
    module_name = getattr(type(env), '__module__', None)
  if not module_name or module_name == '__main__':
    return None
  try:
    module = importlib.import_module(module_name)
  except ImportError:
    return None
  names = names or [name for name, value in vars(module).items() if value is env]
  for name in names:
    if name and '<' not in name and getattr(module, name, None) is env:
      return f'{module_name}:{name}'
  return None


def __getattr__(key: str) -> Any:
  if key in _HELD:
    return _HELD[key]
  if key.startswith('env_'):
    raise ConfigError(
        f'env={__name__}:{key} was an object given to agents.train in another process; '
        'give it again: agents.load_policy(run_dir, env=<the env, its class or factory>).')
  raise AttributeError(f"module '{__name__}' has no attribute '{key}'")
