"""A host BatchEnv as operations inside the compiled JAX program."""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from agents.core import in_graph_env
from agents.envs.host_call import HostFunction
from agents.envs.protocol import HostBatchEnv
from agents.core.in_graph_env import EnvSpec, EnvState
from agents.errors import EnvContractError, EnvOutputError


class InGraphBatchEnv:
  """Bridges a host batch env (BatchEnv, WorkerBatchEnv) into `jax.jit` code.

  `reset` and `step` call the host through `HostFunction`s (XLA FFI calls
  into Python, cheaper than io_callback and cacheable), ordered by data
  dependencies, so they run inside `lax.scan` in program
  order; the reset call runs only on steps where some agent needs a reset. Host envs keep their own random state: they
  are seeded on their first reset after `init` (from `seeds` when given, so
  that e.g. evaluation replays the same episodes each time; else from `init`'s
  key), then continue their own random streams. Observations and rewards are
  checked where they enter the program: a NaN or inf raises EnvOutputError
  naming the env, the field and the step of its episode.
  """

  def __init__(self, batch_env: HostBatchEnv, seeds: Sequence[int] | None = None) -> None:
    self._batch_env = batch_env
    self.num_agents = len(batch_env)
    self.spec = EnvSpec.from_spaces(batch_env.observation_space,
                                    batch_env.action_space)
    if seeds is not None and len(seeds) != self.num_agents:
      raise ValueError(f'Got {len(seeds)} seeds for {self.num_agents} envs.')
    self._fixed_seeds = None if seeds is None else [int(s) for s in seeds]
    self._pending_seeds: list[int | None] = [None] * self.num_agents
    self._episode_steps = np.zeros(self.num_agents, np.int64)
    batch = (self.num_agents,)
    self._observ_struct = jax.ShapeDtypeStruct(batch + self.spec.observ_shape,
                                               self.spec.observ_jnp_dtype)
    self._observ_dtype = np.dtype(self._observ_struct.dtype)
    self._step_struct = (
        self._observ_struct,
        jax.ShapeDtypeStruct(batch, jnp.float32),
        jax.ShapeDtypeStruct(batch, jnp.bool_),
        jax.ShapeDtypeStruct(batch, jnp.bool_))
    self._host_action_dtype = np.int64 if self.spec.discrete else np.float32
    self._reset_call = HostFunction(self._reset_envs, self._observ_struct)
    self._step_call = HostFunction(self._step_envs, self._step_struct)
    self._watcher: Callable[[], None] | None = None

  @property
  def batch_env(self) -> HostBatchEnv:
    return self._batch_env

  def init(self, key: jax.Array) -> EnvState:
    """Every agent marked done; the next reset of each env uses its new seed."""
    if self._fixed_seeds is not None:
      self._pending_seeds = list(self._fixed_seeds)
    else:
      entropy = np.asarray(jax.random.key_data(key)).astype(np.uint32)
      seeds = np.random.SeedSequence(entropy.tolist()).generate_state(
          self.num_agents)
      self._pending_seeds = [int(s) for s in seeds]
    return in_graph_env.initial_state(self.spec, self.num_agents)

  def reset(self, state: EnvState, mask: jax.Array, key: jax.Array) -> EnvState:
    del key  # Host envs draw from their own, seeded, random streams.
    observ = jax.lax.cond(
        jnp.any(mask),
        lambda: self._reset_call(mask),
        lambda: state.observ)
    return in_graph_env.after_reset(state, mask, observ)

  def step(self, state: EnvState, action: jax.Array, key: jax.Array) -> EnvState:
    del key
    observ, reward, terminated, truncated = self._step_call(action, state.observ)
    return state.replace(
        observ=observ, action=action, reward=reward, terminated=terminated,
        truncated=truncated, done=terminated | truncated)

  def watch(self, callback: Callable[[], None] | None) -> None:
    """Call `callback()` before every batch step on the host, inside compiled
    calls; it may raise (e.g. `Interrupted`) to end the call there, so that a
    stop is seen within one step of a slow env or a huge batch."""
    self._watcher = callback

  def take_host_error(self) -> BaseException | None:
    """The exception a host env raised inside the last compiled call, if any.

    XLA reports a failed host call as a generic runtime error; `make_run`
    re-raises this original (e.g. a WorkerError naming the env) instead.
    """
    return self._reset_call.take_error() or self._step_call.take_error()

  def _reset_envs(self, mask: np.ndarray) -> np.ndarray:
    indices = np.flatnonzero(mask)
    seeds = [self._pending_seeds[i] for i in indices]
    for i in indices:
      self._pending_seeds[i] = None
    observ = np.zeros(self._observ_struct.shape, self._observ_dtype)
    observ[indices] = self._batch_env.reset(indices, seeds)
    self._episode_steps[indices] = 0
    self._check('observation', observ)
    self._check_mask(observ, mask)
    return observ

  def _step_envs(self, action: np.ndarray, after: np.ndarray
                 ) -> tuple[np.ndarray, ...]:
    del after  # Passed only to order the step after this step's reset.
    if self._watcher is not None:
      self._watcher()
    action = action.astype(self._host_action_dtype, copy=False)
    observ, reward, terminated, truncated, _ = self._batch_env.step(action)
    observ = np.asarray(observ, self._observ_dtype)
    reward = np.asarray(reward, np.float32)
    self._episode_steps += 1
    terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
    self._check('observation', observ)
    self._check('reward', reward)
    self._check_mask(observ, ~(terminated | truncated))
    return observ, reward, terminated, truncated

  def _check(self, field: str, values: np.ndarray) -> None:
    finite = np.isfinite(values).reshape(self.num_agents, -1).all(axis=1)
    if not finite.all():
      index = int(np.flatnonzero(~finite)[0])
      bad = values[index].ravel()
      raise EnvOutputError(index, field, int(self._episode_steps[index]),
                           bad[~np.isfinite(bad)][0])

  def _check_mask(self, observ: np.ndarray, acting: np.ndarray) -> None:
    """Raise EnvContractError naming the first env that acts next (`acting`)
    with a mask that leaves no valid action (in some dimension)."""
    if not self.spec.mask_size:
      return
    mask = observ[:, -self.spec.mask_size:] > 0.5
    if self.spec.kind == 'multi_discrete':
      starts = np.cumsum((0,) + tuple(self.spec.action_nvec[:-1]))
      valid = (np.add.reduceat(mask.astype(np.int32), starts, axis=1) > 0).all(axis=1)
    else:
      valid = mask.any(axis=1)
    broken = np.flatnonzero(acting & ~valid)
    if broken.size:
      index = int(broken[0])
      raise EnvContractError(
          f'env {index} gave an action mask with no valid action '
          f'{self._where(index)}: {mask[index].astype(int).tolist()} (for '
          f'{self.spec.describe()}). An episode whose state allows no action must '
          'end there (terminated=True).')

  def _where(self, index: int) -> str:
    steps = int(self._episode_steps[index])
    return 'from reset' if steps == 0 else f'at step {steps} of its episode'

  def close(self) -> None:
    self._batch_env.close()
