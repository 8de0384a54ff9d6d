"""JAX envs as users write them, right and wrong, for `--set env=tests.user_jax_envs:Name`."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from agents.envs.jax_env import Transition


class Copy:
  """The protocol: observe a random sign, act 1 for +1 and 0 for -1 (reward 1
  when right). Ten steps, then truncated; a `target` leaf in the state."""
  observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
  action_space = gym.spaces.Discrete(2)
  max_steps = 10

  def _observe(self, sign: jax.Array, time: jax.Array) -> jax.Array:
    return jnp.stack([sign, time / 10.0]).astype(jnp.float32)

  def reset(self, key: jax.Array) -> tuple[Any, jax.Array]:
    sign = jnp.where(jax.random.bernoulli(key), 1.0, -1.0)
    state = {'sign': sign, 'time': jnp.zeros((), jnp.int32)}
    return state, self._observe(sign, state['time'])

  def step(self, state: Any, action: jax.Array, key: jax.Array) -> Transition:
    right = (action == 1) == (state['sign'] > 0)
    sign = jnp.where(jax.random.bernoulli(key), 1.0, -1.0)
    time = state['time'] + 1
    new = {'sign': sign, 'time': time}
    return Transition(new, self._observe(sign, time), right.astype(jnp.float32),
                      jnp.asarray(False), time >= 10)


def make_copy() -> Copy:
  return Copy()


copy_env = Copy()   # A module-level object works as a class or function does.


class Bytes(Copy):
  """Copy, observed as a uint8 image 8x8x3 (all 255 for +1, all 0 for -1)."""
  observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)

  def _observe(self, sign: jax.Array, time: jax.Array) -> jax.Array:
    return jnp.full((8, 8, 3), jnp.where(sign > 0, 255, 0), jnp.uint8)


class Masked(Copy):
  """Copy with a dict observation whose `action_mask` allows only the right action."""
  observation_space = gym.spaces.Dict({
      'action_mask': gym.spaces.Box(0, 1, (2,), np.bool_),
      'observ': gym.spaces.Box(-1.0, 1.0, (2,), np.float32)})

  def _observe(self, sign: jax.Array, time: jax.Array) -> Any:
    return {'observ': super()._observe(sign, time),
            'action_mask': jnp.stack([sign < 0, sign > 0])}


class Ends(Copy):
  """Copy that terminates (no bootstrap) on a wrong action."""

  def step(self, state: Any, action: jax.Array, key: jax.Array) -> Transition:
    result = super().step(state, action, key)
    return result._replace(terminated=result.reward < 0.5)


def make_gymnax_env() -> Any:
  """A user's own gymnax env (a subclass of gymnax's Environment) and its params."""
  from gymnax.environments import environment, spaces
  import flax.struct

  @flax.struct.dataclass
  class State(environment.EnvState):
    sign: jax.Array

  @flax.struct.dataclass
  class Params(environment.EnvParams):
    max_steps_in_episode: int = 10

  class CopyGymnax(environment.Environment):
    @property
    def default_params(self) -> Params:
      return Params()

    def reset_env(self, key: jax.Array, params: Params) -> tuple[jax.Array, State]:
      state = State(time=0, sign=jnp.where(jax.random.bernoulli(key), 1.0, -1.0))
      return self.get_obs(state), state

    def step_env(self, key, state, action, params):
      reward = ((action == 1) == (state.sign > 0)).astype(jnp.float32)
      new = State(time=state.time + 1, sign=jnp.where(jax.random.bernoulli(key), 1.0, -1.0))
      return self.get_obs(new), new, reward, jnp.asarray(False), {}

    def get_obs(self, state, params=None, key=None) -> jax.Array:
      return jnp.stack([state.sign, state.time / 10.0]).astype(jnp.float32)

    def action_space(self, params=None) -> Any:
      return spaces.Discrete(2)

    def observation_space(self, params) -> Any:
      return spaces.Box(-1.0, 1.0, (2,), jnp.float32)

  env = CopyGymnax()
  return env, env.default_params


# Wrong ones --------------------------------------------------------------------


class NoStep:
  observation_space = Copy.observation_space
  action_space = Copy.action_space

  def reset(self, key):
    return Copy().reset(key)


class PythonBranch(Copy):
  """Branches in Python on an array value: not traceable under jit."""

  def step(self, state, action, key):
    if action == 1:
      return super().step(state, action, key)
    return super().step(state, action, key)


class WrongDtype(Copy):
  """Declares float32 observations, returns float16 ones."""

  def _observe(self, sign, time):
    return super()._observe(sign, time).astype(jnp.float16)


class StepRaises(Copy):
  def step(self, state, action, key):
    raise ValueError('deliberate failure inside step')
