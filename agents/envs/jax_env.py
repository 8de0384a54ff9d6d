"""The protocol a JAX env meets to be compiled into the training program.

One env, not a batch: agents vmaps it over the batch, splits the batch over
devices and seeds, and fuses its steps with the algorithm's into one program.

    class MyEnv:
      observation_space = gymnasium.spaces.Box(-1, 1, (3,), np.float32)
      action_space = gymnasium.spaces.Discrete(2)
      max_steps = 200                      # optional: its own time limit

      def reset(self, key) -> tuple[state, observ]: ...
      def step(self, state, action, key) -> Transition: ...
      def action_mask(self, state) -> bool[num_actions]: ...   # optional
      def render(self, state) -> uint8[H, W, 3]: ...           # optional

Rules (checked at start-up by `check`, which traces one reset and one step):

- `reset` and `step` are pure JAX functions: they run under `jax.jit`, `vmap`
  and `lax.scan`, so no Python branching on array values, no NumPy on their
  arguments, no I/O.
- Resets are explicit: `step` never resets by itself; agents calls `reset` for
  each agent whose episode ended, before its next step.
- `step` returns a `Transition` (or the same five values as a tuple):
  `terminated` (the task ended: no bootstrap) apart from `truncated` (a time
  limit cut the episode: agents bootstraps from the value of `observ`).
- `observ` is an array or a pytree of arrays (dict, dataclass, NamedTuple).
  A single array keeps its dtype (uint8 images stay bytes until the network);
  a pytree's leaves are flattened into one vector whose parts the networks can
  split again, image leaves (HxWxC) going to CNN torsos. A leaf called
  `action_mask`, or the `action_mask(state)` method, is the invalid-action mask
  (true = valid).
- `observation_space` declares the observation: a Box (shape and dtype of the
  array) or a Dict of them for a pytree; `action_space` is a Gymnasium Box,
  Discrete, MultiDiscrete or MultiBinary space.

Envs of the common JAX families (gymnax, Brax, MuJoCo Playground, Jumanji,
Navix, Craftax, Pgx) need no change: `agents.envs.jax_families` adapts them to
this protocol, and `--set env=family:Name` or `env=module:NAME` finds them.
"""

from __future__ import annotations

import traceback
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import numpy as np

from agents.errors import ConfigError

PROTOCOL = ('reset(key) -> (state, observ); step(state, action, key) -> '
            'Transition(state, observ, reward, terminated, truncated); '
            'observation_space; action_space (agents.envs.jax_env)')


class Transition(NamedTuple):
  """What one step of one env returns."""
  state: Any            # The env's state after the step (a pytree).
  observ: Any           # The observation after the step (array or pytree).
  reward: jax.Array     # float scalar
  terminated: jax.Array  # bool scalar: the task ended (no bootstrap).
  truncated: jax.Array   # bool scalar: a time limit cut the episode.


@runtime_checkable
class JaxEnv(Protocol):
  """A single env as pure JAX functions; see the module docstring."""
  observation_space: Any
  action_space: Any

  def reset(self, key: jax.Array) -> tuple[Any, Any]: ...
  def step(self, state: Any, action: jax.Array, key: jax.Array) -> Transition: ...


class JaxEnvContractError(ConfigError):
  """A JAX env that does not meet the protocol, found at start-up (exit 2)."""


def is_jax_env(obj: Any) -> bool:
  """Whether `obj` implements this protocol (by its attributes)."""
  return all(callable(getattr(obj, name, None)) for name in ('reset', 'step')) and all(
      hasattr(obj, name) for name in ('observation_space', 'action_space'))


def as_transition(result: Any, name: str) -> Transition:
  """`step`'s result as a Transition; JaxEnvContractError if it has another form."""
  if isinstance(result, Transition):
    return result
  if isinstance(result, tuple) and len(result) == 5:
    return Transition(*result)
  raise JaxEnvContractError(
      f'env={name}: step returned {_describe(result)}; expected a Transition '
      f'(state, observ, reward, terminated, truncated). Protocol: {PROTOCOL}.')


def check(env: Any, name: str) -> None:
  """Trace one reset and one step of `env` (nothing runs); JaxEnvContractError
  in one line, plus the env's traceback where its own code failed, when a
  method is missing, a function is not traceable, or an output's shape or
  dtype differs from what the protocol and the declared spaces say."""
  missing = [method for method in ('reset', 'step') if not callable(getattr(env, method, None))]
  missing += [space for space in ('observation_space', 'action_space')
              if not hasattr(env, space)]
  if missing:
    raise JaxEnvContractError(
        f"env={name}: the JAX env {type(env).__name__} has no {', '.join(missing)}. "
        f'Protocol: {PROTOCOL}.')
  key = jax.ShapeDtypeStruct((2,), np.uint32)
  state, observ = _trace(name, 'reset(key)', lambda k: _pair(env.reset(k), name), key)
  _check_observ(env, name, 'reset', observ)
  action = _action_struct(env.action_space, name)
  result = _trace(name, 'step(state, action, key)',
                  lambda s, a, k: as_transition(env.step(s, a, k), name), state, action, key)
  _check_observ(env, name, 'step', result.observ)
  for field in ('reward', 'terminated', 'truncated'):
    shape = tuple(getattr(result, field).shape)
    if int(np.prod(shape)) != 1:
      raise JaxEnvContractError(
          f'env={name}: step returned a {field} of shape {shape}; expected a scalar '
          '(one env: agents vmaps it over the batch).')
  before = jax.tree_util.tree_structure(state)
  after = jax.tree_util.tree_structure(result.state)
  if before != after:
    raise JaxEnvContractError(
        f'env={name}: step returned a state of another structure than reset '
        f'({after} against {before}); the state must keep one pytree structure.')
  if callable(getattr(env, 'action_mask', None)):
    _trace(name, 'action_mask(state)', env.action_mask, state)


def _pair(result: Any, name: str) -> tuple[Any, Any]:
  if not (isinstance(result, tuple) and len(result) == 2):
    raise JaxEnvContractError(
        f'env={name}: reset returned {_describe(result)}; expected (state, observ). '
        f'Protocol: {PROTOCOL}.')
  return result


def _trace(name: str, what: str, function: Any, *args: Any) -> Any:
  """`jax.eval_shape(function, *args)`: the shapes, or one line saying why not."""
  try:
    return jax.eval_shape(function, *args)
  except JaxEnvContractError:
    raise
  except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
          jax.errors.TracerBoolConversionError,
          jax.errors.TracerIntegerConversionError) as error:
    raise JaxEnvContractError(
        f'env={name}: {what} is not a pure JAX function: it uses an array value in '
        f'Python ({type(error).__name__}); use jnp/lax (jnp.where, lax.cond) instead.'
        f'{_user_traceback(error)}') from None
  except Exception as error:
    raise JaxEnvContractError(
        f'env={name}: {what} raised {type(error).__name__}: {str(error)[:300]}'
        f'{_user_traceback(error)}') from None


def _user_traceback(error: BaseException) -> str:
  """The frames of the failure outside JAX and this package, for the env's author."""
  frames = [frame for frame in traceback.extract_tb(error.__traceback__)
            if '/jax/' not in frame.filename and '/agents/' not in frame.filename]
  if not frames:
    return ''
  return '\nTraceback from the env:\n' + ''.join(traceback.format_list(frames)).rstrip()


def _action_struct(space: Any, name: str) -> jax.ShapeDtypeStruct:
  from agents.core.in_graph_env import action_fields
  from agents.errors import UnsupportedActionSpace
  try:
    fields = action_fields(space)
  except UnsupportedActionSpace as error:
    raise JaxEnvContractError(f'env={name}: {error}') from None
  dtype = np.float32 if fields.get('action_low') is not None else np.int32
  return jax.ShapeDtypeStruct(tuple(fields['action_shape']), dtype)


def _check_observ(env: Any, name: str, method: str, observ: Any) -> None:
  """A single array must match a declared Box's shape and dtype."""
  space = env.observation_space
  leaves = jax.tree_util.tree_leaves(observ)
  if not leaves:
    raise JaxEnvContractError(f'env={name}: {method} returned no observation arrays.')
  shape = getattr(space, 'shape', None)
  if len(leaves) != 1 or shape is None or getattr(space, 'spaces', None) is not None:
    return
  leaf = leaves[0]
  declared = (tuple(int(d) for d in shape), np.dtype(getattr(space, 'dtype', np.float32)))
  found = (tuple(leaf.shape), np.dtype(leaf.dtype))
  if declared != found:
    raise JaxEnvContractError(
        f'env={name}: {method} returned an observation of shape {found[0]} and dtype '
        f'{found[1]}, but observation_space declares shape {declared[0]} and dtype '
        f'{declared[1]}; make the two agree.')


def _describe(value: Any) -> str:
  if isinstance(value, tuple):
    return f'a tuple of {len(value)}'
  return f'a {type(value).__name__}'
