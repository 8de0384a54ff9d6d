"""Typed `--set` overrides and the checks a config passes before a run starts.

Every override is parsed to the type of the value it replaces (the declared
type for keys whose default is None), so `learning_rate=3e-4` is a float and
`steps=1e6` an integer; YAML 1.1 alone would read both as strings. `validate`
checks the whole config once, before anything is written or started, and
names the key, what it must be and what it got. `check_resume` says which
keys a resumed run cannot change (they change the shape of the saved state).
"""

from __future__ import annotations

import os

import math
from typing import Any, Collection, Mapping, Sequence

import yaml

from agents.errors import ConfigError
from agents.parts.attr_dict import AttrDict

# Types of the keys whose default is None: (type, None allowed).
OPTIONAL_TYPES = {
    'max_length': int,
    'eval_steps': int,
    'value_learning_rate': float,
    'reward_clip': float,
    'observ_keep': list,
    'ray_address': str,
    'stop_score': float,
    'track': str,
    'rollouts_per_call': int,
    'cpu_threads': int,
}

# Keys that decide the shapes of the parameters and normalizers: a resumed run
# keeps its saved values.
FROZEN_ON_RESUME = ('env', 'env_backend', 'opponent', 'network', 'policy_layers',
                    'value_layers', 'state_size')

_POSITIVE_INTS = ('num_agents', 'steps', 'eval_every', 'eval_agents',
                  'report_every', 'log_every', 'checkpoint_every',
                  'update_every', 'update_epochs', 'num_minibatches',
                  'state_size', 'chunk_length')
_OPTIONAL_POSITIVE_INTS = ('max_length', 'eval_steps', 'rollouts_per_call', 'devices',
                           'cpu_threads')
_POSITIVE_FLOATS = ('learning_rate', 'clip_epsilon', 'init_std', 'kl_target',
                    'kl_init_coef', 'observ_clip')
_OPTIONAL_POSITIVE_FLOATS = ('value_learning_rate', 'reward_clip')
_NON_NEGATIVE_FLOATS = ('max_grad_norm', 'kl_cutoff_coef', 'kl_min_coef',
                        'value_coef', 'entropy_coef')
_NULLS = ('null', 'none', '~', '')
CNNS = ('nature', 'impala', 'flat')   # Image torsos (agents/scripts/torsos.py); flat: none.


def parse_override(config: AttrDict, override: str) -> tuple[str, Any]:
  """`KEY=VALUE` -> (key, value of the type of `config[key]`); ConfigError if not."""
  key, sep, text = override.partition('=')
  key, text = key.strip(), text.strip()
  if not sep or not key:
    raise ConfigError(f"Malformed --set '{override}': expected KEY=VALUE, "
                      'e.g. --set steps=50000.')
  if key not in config:
    raise ConfigError(f"Unknown config key '{key}' in --set. Valid keys: "
                      f"{', '.join(sorted(config))}.")
  return key, parse_value(key, text, config[key])


def parse_value(key: str, text: str, current: Any) -> Any:
  """`text` as a value of the type that `key` holds (`current` is its value now)."""
  kind = OPTIONAL_TYPES.get(key) if current is None else type(current)
  if current is None or key in OPTIONAL_TYPES:
    if text.lower() in _NULLS:
      return None
  if kind is bool:
    value = _yaml(key, text)
    if not isinstance(value, bool):
      raise ConfigError(f"{key} must be true or false, got '{text}'.")
    return value
  if kind is int:
    return _parse_int(key, text)
  if kind is float:
    try:
      return float(text)
    except ValueError:
      raise ConfigError(f"{key} must be a number (e.g. 3e-4), got '{text}'.") from None
  if kind in (list, tuple):
    value = _yaml(key, text)
    if isinstance(value, int) and not isinstance(value, bool):
      value = [value]
    if not isinstance(value, list):
      raise ConfigError(f"{key} must be a list such as [64, 64], got '{text}'.")
    return value
  if kind is str:
    value = _yaml(key, text) if text else text
    return value if isinstance(value, str) else text
  return _yaml(key, text)  # A key without a known type: plain YAML.


def _parse_int(key: str, text: str) -> int:
  try:
    return int(text.replace('_', ''))
  except ValueError:
    pass
  try:
    number = float(text)
  except ValueError:
    number = math.nan
  if math.isfinite(number) and number.is_integer():
    return int(number)
  raise ConfigError(f"{key} must be an integer, got '{text}'.")


def _yaml(key: str, text: str) -> Any:
  try:
    return yaml.safe_load(text)
  except yaml.YAMLError as error:
    raise ConfigError(f"Cannot parse the value of {key} ('{text}'): "
                      f"{str(error).splitlines()[0]}") from None


def parse_overrides(config: AttrDict, overrides: Sequence[str]) -> dict[str, Any]:
  """`KEY=VALUE` texts -> {key: value of the type of `config[key]`}; ConfigError if not."""
  return dict(parse_override(config, override) for override in overrides)


def apply_overrides(config: AttrDict, overrides: Sequence[str]) -> AttrDict:
  """A copy of `config` with the `KEY=VALUE` overrides applied, typed."""
  return apply_values(config, parse_overrides(config, overrides))


def apply_values(config: AttrDict, values: Mapping[str, Any]) -> AttrDict:
  """A copy of `config` with Python values set (`steps=65_536`); unknown keys
  raise a ConfigError. Numbers take the kind of the key they replace (an int for
  a float key, a whole float such as 1e6 for an int key); `validate` checks the rest."""
  config = config.copy()
  for key, value in values.items():
    if key not in config:
      raise ConfigError(f"Unknown config key '{key}'. Valid keys: "
                        f"{', '.join(sorted(config))}.")
    with config.unlocked:
      config[key] = _as_kind_of(config[key], value)
  return config


def _as_kind_of(current: Any, value: Any) -> Any:
  number = isinstance(value, (int, float)) and not isinstance(value, bool)
  if number and isinstance(current, float) and isinstance(value, int):
    return float(value)
  if (number and isinstance(current, int) and not isinstance(current, bool) and
      isinstance(value, float) and value.is_integer()):
    return int(value)
  if isinstance(value, tuple):
    return list(value)
  return value


def validate(config: AttrDict, network_names: Collection[str] | None = None) -> None:
  """Check every key the run reads; the first problem raises a ConfigError.

  network_names: the networks the catalog knows (None: not checked here).
  """
  from agents.algorithms.ppo.config import PPOConfig
  from agents.envs.backends import BACKENDS
  from agents.run.build import ENV_BACKENDS
  _require_int(config, 'seed', minimum=0)
  _require_int(config, 'eval_seed', minimum=0)
  _require_int(config, 'env_threads', minimum=0)
  for key in _POSITIVE_INTS:
    _require_int(config, key, minimum=1)
  for key in _OPTIONAL_POSITIVE_INTS:
    if config[key] is not None:
      _require_int(config, key, minimum=1)
  for key in _POSITIVE_FLOATS:
    _require_number(config, key, positive=True)
  for key in _OPTIONAL_POSITIVE_FLOATS:
    if config[key] is not None:
      _require_number(config, key, positive=True)
  for key in _NON_NEGATIVE_FLOATS:
    _require_number(config, key, positive=False)
  stop_score = config.stop_score
  if stop_score is not None and (isinstance(stop_score, bool) or not isinstance(
      stop_score, (int, float)) or not math.isfinite(stop_score)):
    raise ConfigError(f'stop_score must be a number (the eval mean score to stop at) '
                      f'or null, got {stop_score!r}.')
  from agents.run import tracking
  tracking.check(config.track)
  _require_range(config, 'discount', 0.0, 1.0, low_open=True)
  _require_range(config, 'lambda_', 0.0, 1.0)
  _require_number(config, 'kl_cutoff_factor', positive=True)
  if network_names is not None and ':' not in str(config.network):
    _require_name(config, 'network', list(network_names) + ['module:function'])
  _require_name(config, 'env_backend', ENV_BACKENDS)
  _require_name(config, 'cnn', CNNS)
  _check_opponent(config.opponent)
  _require_name(config, 'process_backend', [b for b in BACKENDS if b != 'inprocess'])
  for key in ('policy_layers', 'value_layers'):
    layers = config[key]
    if not isinstance(layers, (list, tuple)) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in layers):
      raise ConfigError(f'{key} must be a list of positive layer sizes such as '
                        f'[64, 64], got {layers!r}.')
  keep = config.observ_keep
  if keep is not None and (not isinstance(keep, list) or not keep or not all(
      isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in keep)):
    raise ConfigError(f'observ_keep must be a list of observation indices such as '
                      f'[0, 1], or null, got {keep!r}.')
  for key in ('stagger', 'env_processes', 'eval_processes', 'anneal_learning_rate',
              'normalize_observ', 'normalize_reward'):
    if not isinstance(config[key], bool):
      raise ConfigError(f'{key} must be true or false, got {config[key]!r}.')
  check_minibatches(config)
  _check_sizes(config)
  _check_devices(config)
  PPOConfig.from_run_config(config)   # PPO's own checks.


def _check_opponent(opponent: Any) -> None:
  if opponent != 'random' and ':' not in str(opponent):
    raise ConfigError(f"opponent must be 'random' or module:function (a pure JAX "
                      f'opponent(observation, legal_action_mask, key) -> action), got '
                      f'{opponent!r}.')


def _check_sizes(config: AttrDict) -> None:
  """A budget of at least one rollout; networks that fit in this machine's memory."""
  rollout = config.num_agents * config.update_every
  if config.steps < rollout:
    raise ConfigError(
        f'steps ({config.steps:,}) is less than one rollout: num_agents x update_every '
        f'= {config.num_agents:,} x {config.update_every:,} = {rollout:,} env-steps. '
        f'Raise steps to at least {rollout:,}, or lower num_agents or update_every.')
  memory = _physical_memory()
  for key in ('policy_layers', 'value_layers'):
    layers = list(config[key])
    weights = sum(a * b for a, b in zip(layers, layers[1:])) + sum(layers)
    # float32 parameters, their gradients and Adam's two moments.
    needed = 16 * weights
    if memory and needed > memory / 2:
      raise ConfigError(
          f'{key}={layers} has {weights:,} weights: with gradients and Adam\'s state '
          f'about {needed / 2**30:,.1f} GiB, more than half of this machine\'s '
          f'{memory / 2**30:,.1f} GiB. Use smaller layers (e.g. [256, 256]).')


def _check_devices(config: AttrDict) -> None:
  """Several devices split a batch of JAX-native envs, evenly."""
  from agents.run.build import JAX_NATIVE, resolved_backend
  devices = config.devices
  if devices is None or devices == 1:
    return
  if resolved_backend(config) not in JAX_NATIVE:
    raise ConfigError(
        f'devices={devices} splits the env batch over devices inside the compiled '
        f'program, which needs JAX-native envs (env_backend=gymnax or mjx); '
        f"env_backend={config.env_backend} steps envs on the host. Use devices=1.")
  if config.num_agents % devices:
    raise ConfigError(f'num_agents ({config.num_agents}) does not split over '
                      f'devices={devices}; use a multiple of {devices} agents.')


def _physical_memory() -> int | None:
  try:
    return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
  except (ValueError, OSError, AttributeError):
    return None


def check_minibatches(config: AttrDict, recurrent: bool | None = None) -> None:
  """Feed-forward networks split the rollout's steps, recurrent ones its agents.

  recurrent: whether the network is (None: from its name; a user's
  `module:function` network is checked once it is built).
  """
  num = config.num_minibatches
  if recurrent is None:
    if ':' in str(config.network):
      return
    recurrent = config.network.startswith('recurrent')
  if recurrent:
    if config.update_every % config.chunk_length:
      raise ConfigError(f'chunk_length ({config.chunk_length}) must divide '
                        f'update_every ({config.update_every}).')
    chunks = config.num_agents * (config.update_every // config.chunk_length)
    if chunks % num:
      raise ConfigError(
          f'num_minibatches ({num}) must divide the {chunks} chunks of a rollout '
          f'(num_agents x update_every / chunk_length): recurrent networks train '
          'on chunks of sequences.')
    return
  size = config.num_agents * config.update_every
  if size % num:
    raise ConfigError(
        f'num_minibatches ({num}) must divide the rollout of num_agents x '
        f'update_every = {size} steps.')


def _require_int(config: AttrDict, key: str, minimum: int) -> None:
  value = config[key]
  if not isinstance(value, int) or isinstance(value, bool):
    raise ConfigError(f'{key} must be an integer, got {value!r}.')
  if value < minimum:
    raise ConfigError(f'{key} must be >= {minimum}, got {value}.')


def _require_number(config: AttrDict, key: str, positive: bool) -> None:
  value = config[key]
  if not isinstance(value, (int, float)) or isinstance(value, bool) or not (
      math.isfinite(value)):
    raise ConfigError(f'{key} must be a finite number, got {value!r}.')
  if positive and value <= 0:
    raise ConfigError(f'{key} must be > 0, got {value}.')
  if not positive and value < 0:
    raise ConfigError(f'{key} must be >= 0, got {value}.')


def _require_range(config: AttrDict, key: str, low: float, high: float,
                   low_open: bool = False) -> None:
  _require_number(config, key, positive=False)
  value = config[key]
  if value > high or value < low or (low_open and value == low):
    bracket = '(' if low_open else '['
    raise ConfigError(f'{key} must be in {bracket}{low}, {high}], got {value}.')


def _require_name(config: AttrDict, key: str, known: Sequence[str]) -> None:
  if config[key] not in known:
    raise ConfigError(f"Unknown {key} '{config[key]}'. Known: {', '.join(known)}.")


def check_resume(saved: AttrDict, config: AttrDict) -> None:
  """A resumed run may change budgets and rates, not the shapes of its state."""
  changed = [key for key in FROZEN_ON_RESUME
             if key in saved and saved[key] != config[key]]
  if changed:
    details = ', '.join(f'{key} {saved[key]!r} -> {config[key]!r}' for key in changed)
    raise ConfigError(
        f'Cannot change {details} when resuming: the saved parameters have the '
        f"old shapes. Keys fixed for a run: {', '.join(FROZEN_ON_RESUME)}. "
        'Start a new run (another --timestamp) instead.')
