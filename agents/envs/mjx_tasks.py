"""Gymnasium's v5 MuJoCo tasks as pure functions of MJX states.

Each task reads Gymnasium's own model file (through `gymnasium.make`, so the
bodies, joints, actuators and time steps are Gymnasium's) and repeats its
observation, reward, termination and reset noise, written for `mujoco.mjx`
arrays instead of `mujoco.MjData`. Only the constraint solver's settings
differ: MJX has no PGS solver (Humanoid's), and few fixed iterations are what
make MJX fast on accelerators (the settings Brax's MJX envs use). A policy
trained here therefore also runs on the Gymnasium env, which is what
`visualize` renders (with the same solver settings, `native_env`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp


def _impl(data: Any) -> Any:
  """MJX's fields of its JAX implementation (cinert, cfrc_ext): `Data._impl`
  since mujoco-mjx 3.3 (pyproject.toml bounds the extra)."""
  return data._impl


@dataclasses.dataclass(frozen=True)
class Task:
  """One Gymnasium v5 task, its parts as functions of MJX model and data.

  observe(model, data) -> observation [size];
  reward(model, before, after, action, dt) -> float;
  healthy(data) -> bool (False ends the episode: `terminated`);
  noise(key, model) -> (qpos offset [nq], qvel offset [nv]) for resets.
  solver: (mujoco.mjtSolver name, iterations, line-search iterations).
  """
  gym_id: str
  observe: Callable[[Any, Any], jax.Array]
  reward: Callable[[Any, Any, Any, jax.Array, float], jax.Array]
  healthy: Callable[[Any], jax.Array]
  noise: Callable[[jax.Array, Any], tuple[jax.Array, jax.Array]]
  solver: tuple[str, int, int] = ('mjSOL_NEWTON', 4, 8)


def _uniform_noise(qpos_scale: float, qvel_scale: float, qvel_normal: bool = False):
  """Gymnasium's reset noise: qpos + U(-s, s); qvel + U(-s, s) or s * N(0, 1)."""
  def noise(key: jax.Array, model: Any) -> tuple[jax.Array, jax.Array]:
    pos_key, vel_key = jax.random.split(key)
    qpos = jax.random.uniform(pos_key, (model.nq,), minval=-qpos_scale, maxval=qpos_scale)
    if qvel_normal:
      qvel = qvel_scale * jax.random.normal(vel_key, (model.nv,))
    else:
      qvel = jax.random.uniform(vel_key, (model.nv,), minval=-qvel_scale, maxval=qvel_scale)
    return qpos, qvel
  return noise


def _finite(data: Any) -> jax.Array:
  return jnp.isfinite(data.qpos).all() & jnp.isfinite(data.qvel).all()


# Ant-v5: torso x velocity + 1 while healthy - 0.5 |a|^2 - 5e-4 |clip(cfrc_ext, -1, 1)|^2.
def _ant_observe(model: Any, data: Any) -> jax.Array:
  forces = jnp.clip(_impl(data).cfrc_ext[1:], -1.0, 1.0)
  return jnp.concatenate([data.qpos[2:], data.qvel, forces.ravel()])


def _ant_healthy(data: Any) -> jax.Array:
  return _finite(data) & (data.qpos[2] >= 0.2) & (data.qpos[2] <= 1.0)


def _ant_reward(model: Any, before: Any, after: Any, action: jax.Array,
                dt: float) -> jax.Array:
  forward = (after.xpos[1, 0] - before.xpos[1, 0]) / dt
  contact = 5e-4 * jnp.sum(jnp.square(jnp.clip(_impl(after).cfrc_ext, -1.0, 1.0)))
  return forward + 1.0 * _ant_healthy(after) - 0.5 * jnp.sum(jnp.square(action)) - contact


# Humanoid-v5: 1.25 x velocity of the mass centre + 5 while healthy
# - 0.1 |ctrl|^2 - min(5e-7 |cfrc_ext|^2, 10).
def _humanoid_observe(model: Any, data: Any) -> jax.Array:
  impl = _impl(data)
  return jnp.concatenate([data.qpos[2:], data.qvel, impl.cinert[1:].ravel(),
                          data.cvel[1:].ravel(), data.qfrc_actuator[6:],
                          impl.cfrc_ext[1:].ravel()])


def _humanoid_healthy(data: Any) -> jax.Array:
  return _finite(data) & (data.qpos[2] > 1.0) & (data.qpos[2] < 2.0)


def _mass_centre_x(model: Any, data: Any) -> jax.Array:
  return jnp.sum(model.body_mass * data.xipos[:, 0]) / jnp.sum(model.body_mass)


def _humanoid_reward(model: Any, before: Any, after: Any, action: jax.Array,
                     dt: float) -> jax.Array:
  forward = 1.25 * (_mass_centre_x(model, after) - _mass_centre_x(model, before)) / dt
  contact = jnp.minimum(5e-7 * jnp.sum(jnp.square(_impl(after).cfrc_ext)), 10.0)
  return (forward + 5.0 * _humanoid_healthy(after)
          - 0.1 * jnp.sum(jnp.square(after.ctrl)) - contact)


# HalfCheetah-v5: x velocity - 0.1 |a|^2, never terminates.
def _cheetah_observe(model: Any, data: Any) -> jax.Array:
  return jnp.concatenate([data.qpos[1:], data.qvel])


def _cheetah_reward(model: Any, before: Any, after: Any, action: jax.Array,
                    dt: float) -> jax.Array:
  return (after.qpos[0] - before.qpos[0]) / dt - 0.1 * jnp.sum(jnp.square(action))


# InvertedPendulum-v5: 1 per step while the pole stays within 0.2 rad.
def _pendulum_observe(model: Any, data: Any) -> jax.Array:
  return jnp.concatenate([data.qpos, data.qvel])


def _pendulum_healthy(data: Any) -> jax.Array:
  return _finite(data) & (jnp.abs(data.qpos[1]) <= 0.2)


def _pendulum_reward(model: Any, before: Any, after: Any, action: jax.Array,
                     dt: float) -> jax.Array:
  return _pendulum_healthy(after).astype(jnp.float32)


TASKS: dict[str, Task] = {
    'Ant-v5': Task('Ant-v5', _ant_observe, _ant_reward, _ant_healthy,
                   _uniform_noise(0.1, 0.1, qvel_normal=True),
                   solver=('mjSOL_NEWTON', 1, 4)),
    'Humanoid-v5': Task('Humanoid-v5', _humanoid_observe, _humanoid_reward,
                        _humanoid_healthy, _uniform_noise(0.01, 0.01),
                        solver=('mjSOL_CG', 6, 6)),
    'HalfCheetah-v5': Task('HalfCheetah-v5', _cheetah_observe, _cheetah_reward,
                           _finite, _uniform_noise(0.1, 0.1, qvel_normal=True)),
    'InvertedPendulum-v5': Task('InvertedPendulum-v5', _pendulum_observe,
                                _pendulum_reward, _pendulum_healthy,
                                _uniform_noise(0.01, 0.01)),
}


def task(env_id: str) -> Task:
  """The task of a Gymnasium id, or a ValueError that lists the known ones."""
  if env_id not in TASKS:
    raise ValueError(f"env_backend=mjx has no task '{env_id}'. Known: "
                     f"{', '.join(TASKS)} (or env_backend=envpool / gymnasium for "
                     'the other MuJoCo tasks).')
  return TASKS[env_id]


def native_env(env_id: str, **kwargs: Any) -> Any:
  """Gymnasium's env of the task with the MJX solver settings (same physics as
  the MJX env up to float32 rounding), e.g. for rendering a trained policy."""
  import gymnasium as gym
  import mujoco
  env = gym.make(env_id, **kwargs)
  tune(env.unwrapped.model, task(env_id), mujoco)
  return env


def tune(model: Any, spec: Task, mujoco: Any) -> None:
  """Set a native MjModel's constraint solver to the task's MJX settings."""
  solver, iterations, line_search = spec.solver
  model.opt.solver = getattr(mujoco.mjtSolver, solver)
  model.opt.iterations = iterations
  model.opt.ls_iterations = line_search
