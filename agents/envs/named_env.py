"""One host env from the name a config gives (`env=`).

Three forms:
  'Pendulum-v1'         a registered Gymnasium id (`gymnasium.make`), or a
                        gymnax id that Gymnasium lacks ('Breakout-MinAtar':
                        gymnax's env behind Gymnasium's API, envs/gymnax_host.py);
  'module:EnvId-v0'     import `module` (which registers it), then make the id,
                        as `gymnasium.make` itself accepts;
  'module:Name'         import `module` and call `Name` (an env class or a
                        function that returns an env), for envs never registered.

Constructors that take no `render_mode` work: it is passed only where the
constructor accepts it (asked for rendering without it, the env is built as it
is and its own `render()` is used, with a warning).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable

import gymnasium as gym

from agents import user_code
from agents.envs import contract
from agents.errors import ConfigError, EnvError

LOG = logging.getLogger(__name__)


def make(env_id: str, render_mode: str | None = None, **kwargs: Any) -> gym.Env:
  """The env `env_id` names (see the module docstring); ConfigError if none,
  EnvRaisedError (with its traceback) when the env's constructor raises."""
  return contract.call(_make, 'its constructor', f"the env '{env_id}'", env_id,
                       render_mode, **kwargs)


def _make(env_id: str, render_mode: str | None, **kwargs: Any) -> gym.Env:
  constructor = _constructor(env_id)
  if constructor is not None:
    return _call(constructor, env_id, render_mode)
  from agents.envs import gymnax_host
  if gymnax_host.knows(env_id):   # MinAtar: only gymnax has it.
    return gymnax_host.GymnaxHostEnv(env_id, render_mode)
  if render_mode is not None:
    kwargs['render_mode'] = render_mode
  try:
    return gym.make(env_id, **kwargs)
  except gym.error.Error as error:
    raise ConfigError(f"Cannot make the Gymnasium env '{env_id}': {error}") from error
  except TypeError as error:
    if 'render_mode' not in str(error) or render_mode is None:
      raise ConfigError(f"Cannot make the Gymnasium env '{env_id}': "
                        f'{type(error).__name__}: {error}') from error
    _warn_no_render_mode(env_id)
    kwargs.pop('render_mode')
    return gym.make(env_id, **kwargs)


def make_vector(env_id: str, num_envs: int) -> Any | None:
  """The vector env (`gymnasium.vector.VectorEnv`) `env_id` ('module:Name') builds
  with `num_envs` envs, or None where it builds single envs. The constructor gets
  `num_envs` where it takes it; a vector env of another size is refused."""
  if _vector_ids.get(env_id) is False:
    return None
  constructor = _constructor(env_id)
  vector_class = inspect.isclass(constructor) and issubclass(constructor, gym.vector.VectorEnv)
  if constructor is None or (inspect.isclass(constructor) and not vector_class):
    _vector_ids[env_id] = False
    return None
  kwargs = {'num_envs': num_envs} if _accepts(constructor, 'num_envs') else {}
  env = contract.call(constructor, 'its constructor', f"the env '{env_id}'", **kwargs)
  _vector_ids[env_id] = isinstance(env, gym.vector.VectorEnv)
  if not _vector_ids[env_id]:
    _close(env)
    return None
  if env.num_envs != num_envs:   # Marked as a vector env above.
    _close(env)
    raise ConfigError(
        f'env={env_id} is a vector env of {env.num_envs} envs, but the run needs '
        f'{num_envs} (num_agents, or eval_agents for evaluation): give its constructor a '
        'num_envs argument, or set num_agents and eval_agents to its size.')
  return env


def is_vector(env_id: str, num_envs: int = 1) -> bool:
  """Whether `env_id` names a vector env (found once per process); False for
  JAX envs' registry names and for names that do not build (their own path says why)."""
  from agents.envs import jax_named
  if jax_named.names_registry(env_id):
    return False
  if env_id not in _vector_ids:
    try:
      env = make_vector(env_id, num_envs)
    except (ConfigError, EnvError):   # A vector env of another size is marked one.
      return bool(_vector_ids.get(env_id))
    if env is not None:
      _close(env)
  return bool(_vector_ids.get(env_id))


_vector_ids: dict[str, bool] = {}


def _close(env: Any) -> None:
  close = getattr(env, 'close', None)
  if callable(close):
    close()


def entry_point(env_id: str) -> str:
  """What builds `env_id`, as text (for e.g. telling MuJoCo tasks apart)."""
  if _constructor(env_id) is not None:
    return env_id
  try:
    return str(gym.spec(env_id.split(':')[-1]).entry_point)
  except gym.error.Error:
    return ''


def max_episode_steps(env: Any) -> int | None:
  """The time limit that an env (or its registration) declares, if any."""
  spec = getattr(env, 'spec', None)
  steps = getattr(spec, 'max_episode_steps', None)
  return int(steps) if steps else None


def _constructor(env_id: str) -> Callable[..., Any] | None:
  """For 'module:Name' where Name is no registered id: the callable it names."""
  if ':' not in env_id:
    return None
  module, name = user_code.import_module('env', env_id)
  module_name = module.__name__
  if name in gym.registry:
    return None
  found = getattr(module, name, None)
  if found is None:
    if '-v' in name:   # Looks like an id: let gym.make say what it knows.
      return None
    raise ConfigError(
        f"env={env_id}: the module '{module_name}' has no env class or function "
        f"'{name}' and registers no Gymnasium id '{name}'.")
  if not callable(found):
    raise ConfigError(f"env={env_id}: '{name}' in '{module_name}' is a "
                      f'{type(found).__name__}, not an env class or function.')
  return found


def _call(constructor: Callable[..., Any], env_id: str, render_mode: str | None) -> Any:
  takes_render_mode = _accepts(constructor, 'render_mode')
  if render_mode is not None and not takes_render_mode:
    _warn_no_render_mode(env_id)
  try:
    if takes_render_mode:
      return constructor(render_mode=render_mode)
    return constructor()
  except TypeError as error:
    raise ConfigError(
        f'env={env_id}: calling it with no arguments failed ({error}); give the '
        'constructor defaults, or name a function that builds the env.') from error


def _accepts(constructor: Callable[..., Any], parameter: str) -> bool:
  try:
    parameters = inspect.signature(constructor).parameters
  except (TypeError, ValueError):   # Builtins without a signature.
    return False
  return parameter in parameters or any(
      p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


_warned: set[str] = set()


def _warn_no_render_mode(env_id: str) -> None:
  if env_id not in _warned:
    _warned.add(env_id)
    LOG.warning("'%s' takes no render_mode; it is built without one and its own "
                'render() is used for frames.', env_id)
