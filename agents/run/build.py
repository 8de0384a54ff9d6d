"""Build a config's environments, network and algorithm."""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable

import gymnasium as gym

from agents.errors import ConfigError
from agents.envs import (backends, contract, mujoco_noise, named_env,
                         observation_layout, wrappers)
from agents.parts.attr_dict import AttrDict
from agents.run.catalog import Catalog
from agents.core import in_graph_env
from agents.envs.in_graph_batch_env import InGraphBatchEnv

LOG = logging.getLogger(__name__)
ENV_BACKENDS = ('auto', 'gymnasium', 'jax', 'gymnax', 'envpool', 'mjx')
# Backends whose envs are JAX functions compiled into the program (InGraphEnv):
# several seeds vmap over them, several devices split their batch.
JAX_NATIVE = ('gymnax', 'mjx', 'jax')


def resolved_backend(config: AttrDict) -> str:
  """The backend that steps the config's env. `auto`: `jax` where `env` names a
  JAX env (`family:Name`, or `module:NAME` of an object with a JAX env's API;
  envs/jax_named.py), else `gymnasium`; `gymnax` with a `module:NAME` is `jax`."""
  from agents.envs import jax_named
  chosen = config.env_backend
  if chosen == 'gymnax' and ':' in config.env:
    return 'jax'
  if chosen not in ('auto', 'gymnasium'):
    return chosen
  if jax_named.names_registry(config.env):
    jax_like = True
  else:
    jax_like = ':' in config.env and _jax_env(config, required=False) is not None
  if chosen == 'gymnasium' and jax_like:
    raise ConfigError(f'env={config.env} is a JAX env, which env_backend=gymnasium '
                      'cannot step; use env_backend=auto or jax.')
  return 'jax' if jax_like else 'gymnasium'


def _jax_env(config: AttrDict, required: bool = True) -> Any:
  """The config's env adapted to agents.envs.jax_env's protocol (built once per
  process); None, or a ConfigError where `required`, when it is no JAX env."""
  from agents.envs import jax_named
  env = jax_named.cached(config.env, config.opponent)
  if env is None and required:
    raise ConfigError(
        f'env={config.env} is no JAX env: give family:Name (gymnax, brax, '
        'mujoco_playground, jumanji, navix, craftax, pgx, xminigrid) or module:NAME of '
        'an env with their API or agents.envs.jax_env\'s, or use env_backend=auto.')
  return env


def env_constructor(config: AttrDict, render: bool = False,
                    stagger: bool = False) -> Callable[[], gym.Env]:
  """A picklable function that builds one host env of the config."""
  return functools.partial(_make_gym_env, config.env, config.max_length,
                           render, stagger, config.observ_keep,
                           gives_action_mask(config), config.env_backend == 'mjx')


_gives_mask: dict[str, bool] = {}


def gives_action_mask(config: AttrDict) -> bool:
  """Whether the config's env gives invalid-action masks (`info['action_mask']`
  or `action_masks()`); found once per process, on one env built here."""
  if config.env not in _gives_mask:
    env = _make_raw_env(config.env, render=False)
    try:
      _gives_mask[config.env] = observation_layout.provides_mask(
          _box_observations(env, config.env))
    finally:
      _close(env)
  return _gives_mask[config.env]


def _make_gym_env(env_id: str, max_length: int | None, render: bool,
                  stagger: bool, observ_keep: list[int] | None = None,
                  action_mask: bool = False, mjx_solver: bool = False) -> gym.Env:
  env = _make_raw_env(env_id, render)
  if mjx_solver:   # The host twin of an MJX task (visualize): MJX's solver settings.
    import mujoco
    from agents.envs import mjx_tasks
    mjx_tasks.tune(env.unwrapped.model, mjx_tasks.task(env_id), mujoco)
  env = _box_observations(env, env_id)
  if observ_keep is not None:
    try:
      env = wrappers.SelectObservation(env, observ_keep)
    except ValueError as error:
      raise ConfigError(f'observ_keep: {error}') from None
  if max_length:
    env = wrappers.LimitDuration(env, max_length)
  if stagger:
    duration = max_length or named_env.max_episode_steps(env)
    if duration:
      env = wrappers.StaggerStart(env, duration)
  env = wrappers.ConvertTo32Bit(env)
  if action_mask:
    env = observation_layout.ActionMaskObservation(env, env_id)
  return env


def _make_raw_env(env_id: str, render: bool) -> gym.Env:
  """The env as its name builds it, before this package's wrappers. EnvPool's
  Atari ids ('Pong-v5') are Gymnasium's ALE game, preprocessed as EnvPool's
  (envs/atari.py): for evaluation and rendering."""
  from agents.envs import atari
  if atari.game(env_id):
    return atari.make_eval_env(env_id, 'rgb_array' if render else None)
  kwargs: dict[str, Any] = {}
  if 'mujoco' in named_env.entry_point(env_id):
    try:
      mujoco_noise.install_warning_handler()
    except ImportError:
      raise ConfigError(f"'{env_id}' needs MuJoCo: pip install -e '.[mujoco]'") from None
    if render:
      # The locomotion models have a camera 'track' that follows the body;
      # MuJoCo ignores the name where a model has none (the default view).
      kwargs['camera_name'] = 'track'
  return named_env.make(env_id, 'rgb_array' if render else None, **kwargs)


def check_env_contract(config: AttrDict) -> None:
  """One env of the config, a few steps, against Gymnasium's API (at start-up,
  so that a broken env is named before workers start)."""
  env = _make_raw_env(config.env, render=False)
  try:
    contract.check_spaces(env, config.env)         # Spaces,
    _box_observations(env, config.env)              # observations it can flatten,
    in_graph_env.action_fields(env.action_space)     # actions the policies take,
    contract.check_env(env, config.env)              # then a reset and a few steps.
  finally:
    _close(env)


def _close(env: Any) -> None:
  close = getattr(env, 'close', None)
  if callable(close):
    close()


def _box_observations(env: gym.Env, env_id: str) -> gym.Env:
  """Box observations as they are; Discrete one-hot, Tuple/Dict/MultiDiscrete
  flattened (Gymnasium's FlattenObservation), as Stable-Baselines3 does; a
  Dict's parts are remembered (`EnvSpec.observ_parts`)."""
  space = env.observation_space
  if isinstance(space, gym.spaces.Box):
    return env
  try:
    flat = gym.spaces.flatten_space(space)
  except Exception:  # Spaces without a flat form raise several types.
    flat = None
  if not isinstance(flat, gym.spaces.Box):
    raise ConfigError(
        f"The observation space of '{env_id}' ({space}) has no flat Box form; "
        'wrap the env so that it returns a Box (e.g. with a '
        'gymnasium.ObservationWrapper) and pass the wrapped id to --set env=.')
  if isinstance(space, gym.spaces.Dict):
    return observation_layout.FlattenDict(env)
  return gym.wrappers.FlattenObservation(env)


def _check_backend(config: AttrDict) -> None:
  if config.env_backend not in ENV_BACKENDS:
    raise ConfigError(f"Unknown env_backend '{config.env_backend}'. Known: "
                     f"{', '.join(ENV_BACKENDS)}.")


def train_env(config: AttrDict) -> Any:
  """The in-graph training env: host envs behind InGraphBatchEnv, JAX envs
  (gymnax, MJX, or any JAX env) vmapped."""
  _check_backend(config)
  if resolved_backend(config) == 'jax':
    return jax_batch_env(config, config.num_agents, stagger=config.stagger)
  if config.env_backend == 'gymnax':
    return gymnax_env(config, config.num_agents, stagger=config.stagger)
  if config.env_backend == 'mjx':
    return mjx_env(config, config.num_agents)
  if config.env_backend == 'envpool':
    if config.observ_keep is not None:
      raise ConfigError('observ_keep is not supported with env_backend=envpool; '
                        'use env_backend=gymnasium.')
    pool = envpool_batch_env(config)
    if pool is not None:
      return InGraphBatchEnv(pool)
  if named_env.is_vector(config.env, config.num_agents):
    return InGraphBatchEnv(vector_batch_env(config, config.num_agents))
  check_env_contract(config)
  backend = config.process_backend if config.env_processes else 'inprocess'
  try:
    batch_env = backends.make_batch_env(
        env_constructor(config, stagger=config.stagger), config.num_agents, backend,
        ray_address=config.ray_address)
  except ImportError as error:   # process_backend=ray without Ray.
    raise ConfigError(str(error)) from None
  try:
    return InGraphBatchEnv(batch_env)
  except BaseException:   # E.g. an action space no policy here acts in.
    batch_env.close()
    raise


_fallback_said: set = set()


def envpool_batch_env(config: AttrDict) -> Any:
  """The training batch in EnvPool, or None (said once) where it is not installed."""
  from agents.envs import envpool_env
  if not envpool_env.available():
    if config.env not in _fallback_said:
      _fallback_said.add(config.env)
      where = 'worker processes' if config.env_processes else 'this process'
      LOG.warning('env_backend=envpool but EnvPool is not installed (%s); stepping '
                  '%s with Gymnasium in %s instead (slower).', envpool_env.INSTALL,
                  config.env, where)
    return None
  if not envpool_env.supports(config.env):
    raise ConfigError(f"EnvPool has no task '{config.env}'; use "
                      '--set env_backend=gymnasium for it.')
  from agents.envs import atari
  return envpool_env.EnvPoolBatchEnv(
      config.env, config.num_agents, seed=config.seed,
      max_length=config.max_length, stagger=config.stagger,
      num_threads=config.env_threads,
      options=atari.TRAINING_OPTIONS if atari.game(config.env) else None)


def eval_env(config: AttrDict, num_agents: int | None = None,
             render: bool = False) -> Any:
  """The evaluation env: fixed reset seeds eval_seed + i; host envs step in this
  process, or where the training envs step when `eval_processes` (slow envs)."""
  _check_backend(config)
  num_agents = num_agents or config.eval_agents
  seeds = [config.eval_seed + i for i in range(num_agents)]
  if resolved_backend(config) == 'jax':
    return jax_batch_env(config, num_agents, seeds=seeds)
  if config.env_backend == 'gymnax':
    return gymnax_env(config, num_agents, seeds=seeds)
  if config.env_backend == 'mjx' and not render:
    return mjx_env(config, num_agents, seeds=seeds)
  if not render and named_env.is_vector(config.env, num_agents):
    return InGraphBatchEnv(vector_batch_env(config, num_agents), seeds=seeds)
  backend = config.process_backend if config.eval_processes and not render else 'inprocess'
  try:
    batch_env = backends.make_batch_env(
        env_constructor(config, render=render), num_agents, backend,
        ray_address=config.ray_address)
  except ImportError as error:   # process_backend=ray without Ray.
    raise ConfigError(str(error)) from None
  return InGraphBatchEnv(batch_env, seeds=seeds)


def gymnax_env(config: AttrDict, num_agents: int, **kwargs: Any) -> Any:
  """The config's gymnax env as an in-graph batch env of `num_agents`."""
  from agents.envs.gymnax_env import GymnaxEnv
  try:
    return GymnaxEnv(config.env, num_agents, max_length=config.max_length,
                     observ_keep=config.observ_keep, **kwargs)
  except ValueError as error:
    raise ConfigError(str(error)) from None


def vector_batch_env(config: AttrDict, num_envs: int) -> Any:
  """The config's vector env (gymnasium.vector.VectorEnv) of `num_envs` as the
  host batch: it steps its envs itself, in this process."""
  from agents.envs.vector_batch_env import VectorBatchEnv
  for key in ('max_length', 'observ_keep'):
    if config[key] is not None:
      raise ConfigError(f'{key} is not supported with a vector env ({config.env}): '
                        'wrap its envs inside the vector env instead.')
  env = named_env.make_vector(config.env, num_envs)
  space = env.single_observation_space
  if not isinstance(space, gym.spaces.Box):
    env.close()
    raise ConfigError(f'env={config.env} is a vector env with {space} observations; '
                      'vector envs need Box observations here (flatten them in the env).')
  return VectorBatchEnv(env, config.env)


def jax_batch_env(config: AttrDict, num_agents: int, **kwargs: Any) -> Any:
  """The config's JAX env (agents.envs.jax_env's protocol, checked once per
  process) as an in-graph batch env of `num_agents`."""
  from agents.envs import jax_env
  from agents.envs.jax_batch_env import JaxBatchEnv
  env = _jax_env(config)
  if id(env) not in _checked:
    jax_env.check(env, config.env)
    _checked.add(id(env))
  try:
    return JaxBatchEnv(env, num_agents, max_length=config.max_length,
                       observ_keep=config.observ_keep, name=config.env, **kwargs)
  except ValueError as error:
    raise ConfigError(f'{config.env}: {error}') from None


_checked: set[int] = set()


def mjx_env(config: AttrDict, num_agents: int, **kwargs: Any) -> Any:
  """The config's MuJoCo task stepped by MJX (the `mjx` extra), `num_agents` wide."""
  from agents.envs import mjx_env as mjx_lib
  if not mjx_lib.available():
    raise ConfigError(f"env_backend=mjx needs MJX: {mjx_lib.INSTALL}; or --set "
                      'env_backend=envpool for the same task on the CPU.')
  if config.observ_keep is not None:
    raise ConfigError('observ_keep is not supported with env_backend=mjx; '
                      'use env_backend=gymnasium.')
  try:
    return mjx_lib.MjxEnv(config.env, num_agents, max_length=config.max_length, **kwargs)
  except ValueError as error:
    raise ConfigError(str(error)) from None


def episode_limit(config: AttrDict, env: Any) -> int:
  """The longest an episode of the config can last, for evaluation budgets:
  max_length, else the env's time limit, else 1000 steps (said once)."""
  if config.max_length:
    return int(config.max_length)
  if resolved_backend(config) == 'jax':
    if env.time_limit:
      return env.time_limit
    LOG.warning("'%s' declares no time limit (max_steps); evaluation episodes are cut "
                'at 1000 steps. Set max_length to choose.', config.env)
    return 1000
  if config.env_backend == 'gymnax':
    return int(getattr(env.params, 'max_steps_in_episode', 1000))
  if config.env_backend == 'mjx':
    return env.max_length
  batch = env.batch_env   # Its first env; a vector env's own spec.
  limit = named_env.max_episode_steps(
      batch[0] if hasattr(batch, '__getitem__') else getattr(batch, 'env', None))
  if limit is None:
    LOG.warning("'%s' declares no time limit; evaluation episodes are cut at 1000 "
                'steps. Set max_length to choose.', config.env)
    return 1000
  return limit


def algorithm(config: AttrDict, spec: Any, catalog: Catalog) -> Any:
  """PPO (its typed part of the config) with the network `config.network` names."""
  from agents.algorithms.ppo import PPO, PPOConfig
  from agents.run import config_checks
  network = catalog.network(spec, config)
  config_checks.check_minibatches(config, recurrent=bool(network.recurrent))
  return PPO(PPOConfig.from_run_config(config), network)
