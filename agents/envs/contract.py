"""What a host env must do (Gymnasium's API), and the errors that say so.

`check_env` runs one env for a few steps at start-up, as Gymnasium's
`check_env` does, and raises `EnvContractError` with what the env returned and
what the API expects: `reset(seed=...)` returns `(observation, info)`, `step`
returns `(observation, reward, terminated, truncated, info)` with a scalar
reward and an observation of the shape its `observation_space` declares.

Later, when a member of a batch breaks the contract (an observation whose
shape changes mid-episode, a reward of shape (1,)), `stack_step` and
`stack_reset` raise the same error naming that env's index. They cost nothing
while the envs behave: the batch is stacked first, and only a failure looks at
the envs one by one.
"""

from __future__ import annotations

import numbers
import os
import traceback
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np

from agents.envs import observation_layout
from agents.errors import (AgentsError, EnvContractError, EnvError, EnvRaisedError,
                           WorkerError)

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
RESET_API = 'reset(seed=None, options=None) -> (observation, info: dict)'
STEP_API = ('step(action) -> (observation, reward: float, terminated: bool, '
            'truncated: bool, info: dict)')


def check_env(env: Any, name: str, steps: int = 3) -> None:
  """Reset `env` and step it `steps` times with sampled actions; raise
  EnvContractError (or EnvRaisedError) on the first break of the API."""
  who = f"the env '{name}'"
  check_spaces(env, name)
  shape = observation_shape(env.observation_space)
  result = call(env.reset, 'reset', who, seed=0)
  check_observ(reset_observ(result, who), shape, env.observation_space, who, 'reset')
  read_mask = observation_layout.mask_source(env, result[1])
  info = result[1]
  env.action_space.seed(0)
  for _ in range(steps):
    action = sample_action(env.action_space, _mask(env, read_mask, info, who))
    result = call(env.step, 'step', who, action)
    observ, reward, terminated, truncated, info = step_parts(result, who)
    check_observ(observ, shape, env.observation_space, who, 'step')
    check_reward(reward, who)
    for flag, value in (('terminated', terminated), ('truncated', truncated)):
      if not isinstance(value, (bool, np.bool_)):
        raise EnvContractError(
            f'{who} returned {flag}={value!r} ({type(value).__name__}) from step; '
            f'Gymnasium expects a bool: {STEP_API}.')
    if terminated or truncated:
      info = call(env.reset, 'reset', who)[1]


def _mask(env: Any, read: Any, info: dict, who: str) -> Any:
  """The action mask the env gave with `info` (None if it gives none), checked
  for its size."""
  if read is None:
    return None
  mask, size = read(info), observation_layout.mask_size(env.action_space)
  if mask is None or np.size(mask) != size:
    raise EnvContractError(
        f'{who} gave an action mask of shape {np.shape(mask)}; its action space '
        f'{env.action_space} needs {size} entries (1 = valid; MultiDiscrete: the '
        f"dimensions' masks concatenated), in info['{observation_layout.MASK_KEY}'] "
        f'of every reset and step or from {observation_layout.MASK_METHOD}().')
  return mask


def sample_action(space: gym.Space, mask: Any = None) -> Any:
  """A random action of `space`, among the valid ones where the env gives a
  mask (flat: a MultiDiscrete's dimensions concatenated)."""
  if mask is None or np.asarray(mask).size != observation_layout.mask_size(space):
    return space.sample()
  mask = np.asarray(mask).reshape(-1).astype(np.int8)
  if not mask.any():
    return space.sample()
  nvec = getattr(space, 'nvec', None)
  if nvec is None:
    return space.sample(mask=mask)
  parts = np.split(mask, np.cumsum(nvec)[:-1])
  if not all(part.any() for part in parts):
    return space.sample()
  return space.sample(mask=tuple(parts))


def check_spaces(env: Any, name: str) -> None:
  """Raise EnvContractError unless `env` has both Gymnasium spaces."""
  for attribute in ('observation_space', 'action_space'):
    space = getattr(env, attribute, None)
    if not isinstance(space, gym.spaces.Space):
      raise EnvContractError(
          f"the env '{name}' has no {attribute} (found {type(space).__name__}); a "
          f'Gymnasium env sets self.{attribute} to a gymnasium.spaces.Space in __init__.')


def call(method: Callable[..., Any], what: str, who: str, *args: Any,
         **kwargs: Any) -> Any:
  """`method(*args, **kwargs)`; an exception becomes EnvRaisedError naming `who`."""
  try:
    return method(*args, **kwargs)
  except AgentsError:
    raise
  except Exception as error:
    frames = traceback.format_exception(type(error), error, _user_frames(error.__traceback__))
    raise EnvRaisedError(
        f'{who} raised in {what}: {type(error).__name__}: {error}. Traceback from '
        f"the env:\n{''.join(frames).rstrip()}") from error


_CONTRACT = 'EnvContractError: '


def failure_text(error: BaseException, index: int) -> str:
  """How a worker reports the exception being handled in env `index`: a
  contract error as its message (it says everything), others with the traceback."""
  if isinstance(error, EnvContractError):
    return _CONTRACT + str(error)
  return f'(in env {index})\n' + traceback.format_exc()


def failure_error(text: str, context: str) -> EnvError:
  """The parent's exception for a worker's `failure_text`: the contract error
  itself, or WorkerError(`context` + the traceback)."""
  if text.startswith(_CONTRACT):
    return EnvContractError(text[len(_CONTRACT):])
  return WorkerError(context + text)


def _user_frames(frames: Any) -> Any:
  """The traceback from the first frame outside this package (the env's own)."""
  while frames is not None and frames.tb_frame.f_code.co_filename.startswith(_PACKAGE):
    frames = frames.tb_next
  return frames


def observation_shape(space: gym.Space) -> tuple[int, ...] | None:
  """The shape each observation must have, or None where the space has none."""
  shape = getattr(space, 'shape', None)
  return None if shape is None else tuple(int(d) for d in shape)


def reset_observ(result: Any, who: str) -> Any:
  if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
    raise EnvContractError(
        f'{who} returned {_describe(result)} from reset; Gymnasium (>= 0.26) '
        f'expects {RESET_API}.')
  return result[0]


def step_parts(result: Any, who: str) -> tuple[Any, ...]:
  if isinstance(result, tuple) and len(result) == 4:
    raise EnvContractError(
        f'{who} returned 4 values from step, the old Gym API (observation, '
        f'reward, done, info); Gymnasium expects 5: {STEP_API}. Split done into '
        'terminated (the task ended) and truncated (a time limit), or wrap the '
        'env with gymnasium.wrappers.EnvCompatibility from an older Gymnasium.')
  if not (isinstance(result, tuple) and len(result) == 5 and isinstance(result[4], dict)):
    raise EnvContractError(f'{who} returned {_describe(result)} from step; '
                           f'Gymnasium expects {STEP_API}.')
  return result


def check_observ(observ: Any, shape: tuple[int, ...] | None, space: gym.Space,
                 who: str, where: str) -> None:
  if shape is None or isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple)):
    if not space.contains(observ):
      raise EnvContractError(
          f'{who} returned an observation from {where} that is not in its '
          f'observation_space {space}: {_describe(observ)}.')
    return
  found = np.shape(observ)
  kind = np.asarray(observ).dtype.kind
  if found != shape or kind not in 'biuf':
    raise EnvContractError(
        f'{who} returned an observation of shape {found} ({np.asarray(observ).dtype}) '
        f'from {where}, but its observation_space is {space}; Gymnasium expects '
        f'every observation to have the space\'s shape {shape}.')


def check_reward(reward: Any, who: str) -> None:
  if isinstance(reward, (numbers.Real, np.number)) and np.ndim(reward) == 0:
    return
  if np.ndim(reward) == 1 and np.size(reward) > 1:   # One reward per env of a batch.
    raise EnvContractError(
        f'{who} returned a reward of {_describe(reward)} from step, one per env of a '
        'batch: a vector env is taken as the whole batch when it is a '
        'gymnasium.vector.VectorEnv (gymnasium.make_vec, or a subclass), returned by '
        'the class or function env= names; a single env returns one number per step.')
  raise EnvContractError(
      f'{who} returned a reward of {_describe(reward)} from step; Gymnasium '
      'expects one number per step (a float, not an array: e.g. float(reward) '
      'or reward.item()).')


def stack_step(transitions: Sequence[Any], first: int, shape: tuple[int, ...] | None,
               space: gym.Space) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                          list[dict]]:
  """Stack the step results of envs first, first + 1, ...; EnvContractError
  naming the env that broke the API."""
  try:
    observs, rewards, terminated, truncated, infos = zip(*transitions)
    observ = _stack(observs)
    reward = np.asarray(rewards, np.float32)
  except (ValueError, TypeError):
    observ = reward = None
  if (observ is None or reward.shape != (len(transitions),)
      or (shape is not None and observ.shape[1:] != shape)):
    for index, result in enumerate(transitions, first):
      who = f'env {index}'
      observ_i, reward_i, *_ = step_parts(result, who)
      check_observ(observ_i, shape, space, who, 'step')
      check_reward(reward_i, who)
    raise EnvContractError(f'envs {first}..{first + len(transitions) - 1} returned '
                           f'step results that do not stack into one batch.')
  return (observ, reward, np.asarray(terminated, bool), np.asarray(truncated, bool),
          list(infos))


def stack_reset(results: Sequence[Any], indices: Sequence[int],
                shape: tuple[int, ...] | None, space: gym.Space) -> np.ndarray:
  """The observations of reset results of envs `indices`; EnvContractError
  naming the env that broke the API."""
  try:
    observ = _stack([observ for observ, _ in results])
  except (ValueError, TypeError):
    observ = None
  if observ is None or (shape is not None and observ.shape[1:] != shape):
    for index, result in zip(indices, results):
      check_observ(reset_observ(result, f'env {index}'), shape, space,
                   f'env {index}', 'reset')
    raise EnvContractError('reset results that do not stack into one batch.')
  return observ


def _stack(observs: Sequence[Any]) -> np.ndarray:
  observ = np.stack([np.asarray(o) for o in observs])
  if observ.dtype == np.float64:
    observ = observ.astype(np.float32)
  if observ.dtype.kind not in 'biuf':
    raise TypeError(f'observations of dtype {observ.dtype}')
  return observ


def _describe(value: Any) -> str:
  if isinstance(value, tuple):
    return f'a tuple of {len(value)} ({", ".join(type(v).__name__ for v in value)})'
  if isinstance(value, np.ndarray):
    return f'an array of shape {value.shape} ({value.dtype})'
  text = repr(value)
  return f'{type(value).__name__} {text[:80]}'
