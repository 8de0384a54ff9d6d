"""A JAX env from the name a config gives (`env=`), adapted to `jax_env`'s protocol.

Forms:
  'gymnax:Pendulum-v1'                 gymnax's registry
  'brax:ant'                           brax.envs.get_environment
  'mujoco_playground:CartpoleBalance'  Playground's registry (its JAX implementation)
  'jumanji:Snake-v1'                   jumanji.make
  'navix:Navix-Empty-5x5-v0'           navix.make
  'craftax:Craftax-Classic-Symbolic-v1'  Craftax, without its auto-reset
  'pgx:tic_tac_toe'                    pgx.make, against the `opponent`
  'xminigrid:MiniGrid-Empty-5x5'       xminigrid.make
  'module:NAME'                        a user's env: an object, a class, or a
                                       function returning the env (or (env, params)),
                                       of one of those families or of the protocol.

`make` returns None for names that are no JAX env (Gymnasium ids, host env
classes), so that the caller steps them on the host.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any, Callable

from agents import user_code
from agents.envs import jax_env, jax_families
from agents.envs.jax_env import JaxEnvContractError
from agents.errors import ConfigError

# Registry prefixes: family -> (the package to install, how it builds a name).
REGISTRIES: dict[str, str] = {
    'gymnax': 'gymnax', 'brax': 'brax', 'mujoco_playground': 'playground',
    'jumanji': 'jumanji', 'navix': 'navix', 'craftax': 'craftax', 'pgx': 'pgx',
    'xminigrid': 'xminigrid',
}
INSTALL = "pip install -e '.[jax-envs]'"


def names_registry(name: str) -> bool:
  """Whether `name` is 'family:Name' of a family's registry."""
  return name.split(':', 1)[0] in REGISTRIES and ':' in name


def make(name: str, opponent: str = 'random') -> Any | None:
  """The JAX env `name` gives, adapted to the protocol; None where `name` names
  no JAX env. ConfigError (exit 2) for a registry or module that fails."""
  if ':' not in name:
    return None
  family, _, short = name.partition(':')
  if family in REGISTRIES:
    return adapt(_from_registry(family, short, name), name, opponent)
  found = _user_object(name)
  if found is None:
    return None
  env = adapt(found, name, opponent)
  if env is None and callable(getattr(found, 'close', None)):
    found.close()   # A host env that a factory built: the host path builds its own.
  return env


def adapt(found: Any, name: str, opponent: str = 'random') -> Any | None:
  """`found` (an env, or (env, params)) adapted to the protocol; None where it
  is no JAX env."""
  env, params = found if _is_env_and_params(found) else (found, None)
  family = jax_families.family_of(env)
  if family is None:
    return env if _meant_as_jax_env(env) else None
  try:
    if family == 'gymnax':
      return jax_families.GymnaxAdapter(env, params)
    if family == 'craftax':
      return jax_families.CraftaxAdapter(env, params)
    if family in ('brax', 'mujoco_playground'):
      return jax_families.BraxAdapter(env)
    if family == 'jumanji':
      return jax_families.JumanjiAdapter(env)
    if family == 'navix':
      return jax_families.NavixAdapter(env)
    if family == 'pgx':
      return jax_families.PgxAdapter(env, _opponent(opponent))
    return jax_families.XMinigridAdapter(env, params)
  except (ConfigError, JaxEnvContractError):
    raise
  except Exception as error:
    raise JaxEnvContractError(
        f'env={name}: adapting its {family} env failed ({type(error).__name__}: '
        f'{str(error)[:300]}); is it an env of the {family} API?') from error


def _from_registry(family: str, short: str, name: str) -> Any:
  try:
    module = importlib.import_module(family)
  except ImportError:
    raise ConfigError(f"env={name} needs the '{REGISTRIES[family]}' package: "
                      f"pip install {REGISTRIES[family]} (or {INSTALL}).") from None
  try:
    return _REGISTRY_MAKERS[family](module, short)
  except Exception as error:
    raise ConfigError(f'env={name}: {family} cannot make {short!r} '
                      f'({type(error).__name__}: {str(error)[:300]}).') from None


def _gymnax(module: Any, short: str) -> Any:
  if short not in module.registered_envs:
    raise ValueError(f"unknown id; known: {', '.join(module.registered_envs)}")
  return module.make(short)


def _brax(module: Any, short: str) -> Any:
  from brax import envs
  return envs.get_environment(short)


def _playground(module: Any, short: str) -> Any:
  from mujoco_playground import registry
  config = registry.get_default_config(short)
  overrides = {'impl': 'jax'} if 'impl' in config else None   # Warp is its default.
  return registry.load(short, config_overrides=overrides)


def _craftax(module: Any, short: str) -> Any:
  from craftax.craftax_env import make_craftax_env_from_name
  return make_craftax_env_from_name(short, auto_reset=False)


_REGISTRY_MAKERS: dict[str, Callable[[Any, str], Any]] = {
    'gymnax': _gymnax, 'brax': _brax, 'mujoco_playground': _playground,
    'jumanji': lambda module, short: module.make(short),
    'navix': lambda module, short: module.make(short),
    'craftax': _craftax,
    'pgx': lambda module, short: module.make(short),
    'xminigrid': lambda module, short: module.make(short),
}


def _user_object(name: str) -> Any | None:
  """What 'module:NAME' names: the object, a class's instance, or what a function
  returns; None when NAME is no attribute (a Gymnasium id it registers)."""
  module, short = user_code.import_module('env', name)
  found = getattr(module, short, None)
  if found is None or _is_gymnasium_class(found):
    return None
  if inspect.isclass(found) or (callable(found) and not _looks_like_env(found)):
    if _takes_render_mode(found):   # A Gymnasium-style constructor: a host env.
      return None
    try:
      found = found()
    except Exception as error:
      raise ConfigError(f'env={name}: calling {short}() failed: {type(error).__name__}: '
                        f'{str(error)[:300]}') from error
  return found


def _looks_like_env(obj: Any) -> bool:
  return jax_families.family_of(obj) is not None or _meant_as_jax_env(obj)


def _meant_as_jax_env(env: Any) -> bool:
  """The protocol's attributes, or a `reset` that takes a key (Gymnasium's takes
  keywords only): a JAX env, to be checked against the protocol."""
  if _is_gymnasium(env):
    return False
  if jax_env.is_jax_env(env):
    return True
  reset = getattr(env, 'reset', None)
  if not callable(reset):
    return False
  try:
    parameters = inspect.signature(reset).parameters.values()
  except (TypeError, ValueError):
    return False
  return any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
             for p in parameters)


def _is_env_and_params(found: Any) -> bool:
  return (isinstance(found, tuple) and len(found) == 2 and
          jax_families.family_of(found[0]) in ('gymnax', 'craftax', 'xminigrid'))


def _is_gymnasium(env: Any) -> bool:
  import gymnasium
  return isinstance(env, (gymnasium.Env, gymnasium.vector.VectorEnv))


def _is_gymnasium_class(found: Any) -> bool:
  import gymnasium
  return inspect.isclass(found) and issubclass(found, gymnasium.Env)


def _takes_render_mode(constructor: Any) -> bool:
  try:
    return 'render_mode' in inspect.signature(constructor).parameters
  except (TypeError, ValueError):
    return False


def _opponent(opponent: str) -> Any:
  """The opponent a config names: 'random' or 'module:function'."""
  if opponent == 'random':
    return opponent
  module, short = user_code.import_module('opponent', opponent)
  function = getattr(module, short, None)
  if not callable(function):
    raise ConfigError(f"opponent={opponent}: '{short}' in '{module.__name__}' is not "
                      'a function opponent(observation, legal_action_mask, key) -> action.')
  return function


@functools.lru_cache(maxsize=32)
def cached(name: str, opponent: str = 'random') -> Any | None:
  """`make(name, opponent)`, once per process (building a JAX env traces it)."""
  return make(name, opponent)
