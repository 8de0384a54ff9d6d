"""gymnax environments as in-graph batch envs: vmapped pure reset and step."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import flax.struct
import jax
import jax.numpy as jnp

from agents.core import in_graph_env
from agents.core.in_graph_env import EnvSpec, EnvState


@flax.struct.dataclass
class GymnaxInner:
  """gymnax's own states [batch], episodes started per agent, fixed first keys."""
  env_state: Any
  episodes: jax.Array
  first_keys: jax.Array


class GymnaxEnv:
  """A gymnax env for `num_agents` agents, compiled into the program.

  gymnax's `step` resets on its own; this adapter calls `step_env` and
  `reset_env` instead, so resets stay explicit (docs/design.md). Natural ends are
  `terminated`; reaching `max_steps_in_episode` is `truncated` (gymnax >= 1.0
  reports them apart).

  max_length: cap on episode length (gymnax's max_steps_in_episode).
  observ_keep: indices of the observation entries agents see (e.g. [0, 1]:
    Pendulum without its angular velocity); None: all.
  seeds: when given, each agent's first episode after `init` starts from
    `PRNGKey(seed)`, so evaluations replay the same episodes.
  stagger: the first episode of each agent is cut after a random fraction of
    the time limit, so the batch's episodes do not all end on the same step
    (decorrelates rollouts for time-limited tasks such as Pendulum).
  """

  def __init__(self, name: str, num_agents: int, seeds: Sequence[int] | None = None,
               stagger: bool = False, env_params: Any = None,
               max_length: int | None = None,
               observ_keep: Sequence[int] | None = None) -> None:
    import gymnax
    try:
      self._env, default_params = gymnax.make(name)
    except (ValueError, KeyError) as error:
      raise ValueError(
          f"Unknown gymnax env '{name}'. Known: "
          f"{', '.join(gymnax.registered_envs)}.") from error
    self.name = name
    self._params = env_params or default_params
    if max_length:  # A shorter time limit, as LimitDuration gives host envs.
      self._params = self._params.replace(max_steps_in_episode=int(max_length))
    self.num_agents = num_agents
    self.spec = EnvSpec.from_spaces(self._env.observation_space(self._params),
                                    self._env.action_space(self._params))
    self._keep = None
    if observ_keep is not None:
      self._keep = jnp.asarray(list(observ_keep), jnp.int32)
      self.spec = dataclasses.replace(self.spec, observ_shape=(len(observ_keep),))
    if seeds is not None and len(seeds) != num_agents:
      raise ValueError(f'Got {len(seeds)} seeds for {num_agents} agents.')
    self._seeds = None if seeds is None else jnp.asarray(seeds, jnp.uint32)
    self._stagger = stagger
    self._max_steps = getattr(self._params, 'max_steps_in_episode', None)
    self._vmap_reset = jax.vmap(self._env.reset_env, in_axes=(0, None))
    self._vmap_step = jax.vmap(self._env.step_env, in_axes=(0, 0, 0, None))

  @property
  def params(self) -> Any:
    return self._params

  def init(self, key: jax.Array) -> EnvState:
    keys = in_graph_env.first_keys(key, self.num_agents, self._seeds)
    _, env_state = self._vmap_reset(keys, self._params)
    inner = GymnaxInner(env_state, jnp.zeros(self.num_agents, jnp.int32), keys)
    return in_graph_env.initial_state(self.spec, self.num_agents, inner)

  def reset(self, state: EnvState, mask: jax.Array, key: jax.Array) -> EnvState:
    inner = state.inner
    keys = in_graph_env.reset_keys(key, inner.episodes, inner.first_keys,
                                   self._seeds is not None)
    first = inner.episodes == 0
    observ, env_state = self._vmap_reset(keys, self._params)
    if self._stagger and self._max_steps is not None and hasattr(env_state, 'time'):
      fraction = in_graph_env.stagger_fraction(key, self.num_agents)   # Start times.
      start = jnp.floor(fraction * self._max_steps).astype(env_state.time.dtype)
      env_state = env_state.replace(time=jnp.where(first, start, env_state.time))
    new_inner = GymnaxInner(env_state, inner.episodes + 1, inner.first_keys)
    return in_graph_env.after_reset(
        state, mask, self._observ(observ), new_inner)

  def step(self, state: EnvState, action: jax.Array, key: jax.Array) -> EnvState:
    keys = jax.random.split(key, self.num_agents)
    observ, env_state, reward, done, _ = self._vmap_step(
        keys, state.inner.env_state, action, self._params)
    # gymnax >= 1.0 (pyproject.toml): step_env reports natural terminations only.
    terminated = done.astype(bool)
    limit = jax.vmap(self._env.is_truncated, in_axes=(0, None))(env_state, self._params)
    truncated = limit.astype(bool) & ~terminated
    done = terminated | truncated
    return state.replace(
        observ=self._observ(observ), action=action,
        reward=reward.reshape(self.num_agents).astype(jnp.float32),
        terminated=terminated, truncated=truncated, done=done,
        inner=state.inner.replace(env_state=env_state))

  def _observ(self, observ: jax.Array) -> jax.Array:
    """float32 observations, only the kept entries where `observ_keep` is set."""
    if self._keep is not None:
      observ = observ[..., self._keep]
    return observ.astype(jnp.float32)
