"""MuJoCo tasks stepped by MJX: in-graph batch envs, physics inside the program.

Needs the `mjx` extra (`pip install -e '.[mjx]'`). The tasks are Gymnasium's
v5 ones (`mjx_tasks`): same model file, observation, reward, termination and
reset noise. On a GPU or TPU the whole training step (physics, policy,
update) is one compiled program; on a CPU, MJX is slower than native MuJoCo
(EnvPool), so the CPU configs keep `env_backend=envpool`.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from agents.core import in_graph_env
from agents.core.in_graph_env import EnvSpec, EnvState
from agents.envs import mjx_tasks

INSTALL = "pip install -e '.[mjx]'"


def available() -> bool:
  try:
    from mujoco import mjx  # noqa: F401
  except ImportError:
    return False
  return True


@flax.struct.dataclass
class MjxInner:
  """MJX's physics states [batch], steps of each episode, episodes started,
  and the fixed first keys (evaluation)."""
  data: Any
  time: jax.Array
  episodes: jax.Array
  first_keys: jax.Array


class _Space:
  """The Box spaces EnvSpec reads (shape, bounds, dtype)."""

  def __init__(self, shape: tuple[int, ...], low: Any = -np.inf, high: Any = np.inf,
               dtype: Any = np.float32) -> None:
    self.shape, self.low, self.high, self.dtype = shape, low, high, dtype


class MjxEnv:
  """A Gymnasium v5 MuJoCo task for `num_agents` agents, stepped by MJX.

  Resets are explicit (`reset` with a mask). An unhealthy state (the task's
  own rule, or non-finite physics) is `terminated`; `max_length` steps
  (Gymnasium's TimeLimit, 1000 by default) are `truncated`. A state that went
  non-finite gives a zero observation and reward on its last step, so that
  NaNs never reach the network. `seeds`: each agent's first episode after
  `init` starts from `PRNGKey(seed)`, so evaluations replay the same episodes.
  """

  def __init__(self, env_id: str, num_agents: int, seeds: Sequence[int] | None = None,
               max_length: int | None = None) -> None:
    import gymnasium as gym
    import mujoco
    from mujoco import mjx
    self._mjx = mjx
    self.task = mjx_tasks.task(env_id)
    self.name = env_id
    native = gym.make(env_id)
    try:
      model = native.unwrapped.model
      mjx_tasks.tune(model, self.task, mujoco)
      self.native_model = model
      self.model = mjx.put_model(model)
      self.frame_skip = int(native.unwrapped.frame_skip)
      self.max_length = int(max_length or native.spec.max_episode_steps or 1000)
      action_space = native.action_space
    finally:
      native.close()
    self.dt = float(model.opt.timestep) * self.frame_skip
    self._init_qpos = jnp.asarray(model.qpos0, jnp.float32)
    self._init_qvel = jnp.zeros(model.nv, jnp.float32)
    self.num_agents = num_agents
    size = int(jax.eval_shape(self._observe_one, self._blank()).shape[0])
    self.spec = EnvSpec.from_spaces(_Space((size,)), action_space)
    self._low = jnp.asarray(action_space.low, jnp.float32)
    self._high = jnp.asarray(action_space.high, jnp.float32)
    if seeds is not None and len(seeds) != num_agents:
      raise ValueError(f'Got {len(seeds)} seeds for {num_agents} agents.')
    self._seeds = None if seeds is None else jnp.asarray(seeds, jnp.uint32)

  def _blank(self) -> Any:
    return self._mjx.make_data(self.model)

  def _observe_one(self, data: Any) -> jax.Array:
    return self.task.observe(self.model, data).astype(jnp.float32)

  def reset_one(self, key: jax.Array) -> Any:
    """One agent's first state: Gymnasium's qpos0 and zero velocity plus the
    task's noise, then forward kinematics (as `MujocoEnv.set_state`)."""
    qpos_noise, qvel_noise = self.task.noise(key, self.model)
    data = self._blank().replace(qpos=self._init_qpos + qpos_noise,
                                 qvel=self._init_qvel + qvel_noise)
    return self._mjx.forward(self.model, data)

  def step_one(self, data: Any, action: jax.Array) -> tuple[Any, jax.Array, jax.Array]:
    """(next data, reward, healthy) of one agent: `frame_skip` physics steps,
    then the constraint forces that observation and reward read."""
    after = data.replace(ctrl=action)
    after = jax.lax.fori_loop(0, self.frame_skip,
                              lambda _, d: self._mjx.step(self.model, d), after)
    after = self._mjx.rne_postconstraint(self.model, after)
    reward = self.task.reward(self.model, data, after, action, self.dt)
    return after, reward, self.task.healthy(after)

  def init(self, key: jax.Array) -> EnvState:
    keys = in_graph_env.first_keys(key, self.num_agents, self._seeds)
    data = jax.vmap(self.reset_one)(keys)
    inner = MjxInner(data, jnp.zeros(self.num_agents, jnp.int32),
                     jnp.zeros(self.num_agents, jnp.int32), keys)
    return in_graph_env.initial_state(self.spec, self.num_agents, inner)

  def reset(self, state: EnvState, mask: jax.Array, key: jax.Array) -> EnvState:
    inner = state.inner
    keys = in_graph_env.reset_keys(key, inner.episodes, inner.first_keys,
                                   self._seeds is not None)
    data = jax.vmap(self.reset_one)(keys)
    observ = jax.vmap(self._observe_one)(data)
    new_inner = MjxInner(data, jnp.zeros_like(inner.time), inner.episodes + 1,
                         inner.first_keys)
    return in_graph_env.after_reset(state, mask, observ, new_inner)

  def step(self, state: EnvState, action: jax.Array, key: jax.Array) -> EnvState:
    del key   # The physics is deterministic; only resets draw noise.
    action = jnp.clip(action.astype(jnp.float32), self._low, self._high)
    data, reward, healthy = jax.vmap(self.step_one)(state.inner.data, action)
    observ = jax.vmap(self._observe_one)(data)
    finite = jnp.isfinite(observ).all(axis=1) & jnp.isfinite(reward)
    observ = jnp.where(finite[:, None], observ, 0.0)
    reward = jnp.where(finite, reward, 0.0).astype(jnp.float32)
    time = state.inner.time + 1
    terminated = ~healthy | ~finite
    truncated = (time >= self.max_length) & ~terminated
    return state.replace(
        observ=observ, action=action, reward=reward, terminated=terminated,
        truncated=truncated, done=terminated | truncated,
        inner=state.inner.replace(data=data, time=time))

