"""Envs as users write them, right and wrong, for `--set env=tests.user_envs:Name`."""

from __future__ import annotations

import os
import pathlib
import time

import gymnasium as gym
import numpy as np


class Chain(gym.Env):
  """Ten steps; reward 1 for action 1. A constructor without render_mode and no
  registration, as many users' first env is."""
  observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
  action_space = gym.spaces.Discrete(2)

  def __init__(self) -> None:
    self.steps = 0

  def observe(self) -> np.ndarray:
    return np.full(3, self.steps / 10, np.float32)

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    self.steps = 0
    return self.observe(), {}

  def step(self, action):
    self.steps += 1
    return self.observe(), float(np.sum(action)), False, self.steps >= 10, {}


def make_chain() -> Chain:
  """A function that returns an env works as a class does."""
  return Chain()


class WrongShape(Chain):
  def observe(self):
    return np.zeros(4, np.float32)


class ShapeChange(Chain):
  """Right for four steps, then one element longer."""

  def observe(self):
    return np.zeros(3 if self.steps < 5 else 4, np.float32)


class ArrayReward(Chain):
  def step(self, action):
    observ, reward, terminated, truncated, info = super().step(action)
    return observ, np.array([reward]), terminated, truncated, info


class OldStepApi(Chain):
  """Gym < 0.26: step returns (observation, reward, done, info)."""

  def step(self, action):
    observ, reward, terminated, truncated, info = super().step(action)
    return observ, reward, terminated or truncated, info


class OldResetApi(Chain):
  def reset(self, *, seed=None, options=None):
    return super().reset(seed=seed)[0]


class ResetRaises(Chain):
  def reset(self, *, seed=None, options=None):
    raise ValueError('deliberate failure inside reset')


class ConstructorRaises(Chain):
  def __init__(self) -> None:
    raise RuntimeError('deliberate failure inside __init__')


class NoSpaces:
  def reset(self, *, seed=None, options=None):
    return np.zeros(3), {}


class TupleActions(Chain):
  action_space = gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Discrete(3)))


class Slow(Chain):
  """20 ms a step: a rollout of a few thousand steps is one long compiled call.
  After 20 steps of its life it touches $AGENTS_TEST_MARK (training has begun)."""

  def __init__(self) -> None:
    super().__init__()
    self.life = 0

  def step(self, action):
    time.sleep(0.02)
    self.life += 1
    if self.life == 20 and os.environ.get('AGENTS_TEST_MARK'):
      pathlib.Path(os.environ['AGENTS_TEST_MARK']).touch()
    return super().step(action)


NOT_AN_ENV = 3

gym.register('ChainNoRenderMode-v0', entry_point=Chain, max_episode_steps=10)


class CopyTargets(gym.Env):
  """MultiDiscrete([3, 4]): copy two targets shown one-hot; 1 per step when both
  match, 0.5 for one. Ten steps: a random policy scores ~2.9, the best 10."""
  observation_space = gym.spaces.Box(0.0, 1.0, (7,), np.float32)
  action_space = gym.spaces.MultiDiscrete([3, 4])

  def __init__(self) -> None:
    self.steps, self.targets = 0, np.zeros(2, np.int64)

  def observe(self) -> np.ndarray:
    observ = np.zeros(7, np.float32)
    observ[self.targets[0]] = observ[3 + self.targets[1]] = 1.0
    return observ

  def draw(self) -> None:
    self.targets = np.array([self.np_random.integers(3), self.np_random.integers(4)])

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    self.steps = 0
    self.draw()
    return self.observe(), {}

  def step(self, action):
    reward = float(np.mean(np.asarray(action) == self.targets))
    self.steps += 1
    self.draw()
    return self.observe(), reward, False, self.steps >= 10, {}


class CopyBits(gym.Env):
  """MultiBinary(3): copy three bits; the share matched per step. Ten steps:
  a random policy scores ~5, the best 10."""
  observation_space = gym.spaces.Box(0.0, 1.0, (3,), np.float32)
  action_space = gym.spaces.MultiBinary(3)

  def __init__(self) -> None:
    self.steps, self.bits = 0, np.zeros(3, np.int64)

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    self.steps = 0
    self.bits = self.np_random.integers(2, size=3)
    return self.bits.astype(np.float32), {}

  def step(self, action):
    reward = float(np.mean(np.asarray(action) == self.bits))
    self.steps += 1
    self.bits = self.np_random.integers(2, size=3)
    return self.bits.astype(np.float32), reward, False, self.steps >= 10, {}


class PickValid(gym.Env):
  """Discrete(5) with an invalid-action mask in info['action_mask']: the values
  of the five actions (a shuffle of 0, .25, .5, .75, 1) are shown; two of them
  are valid per step and the reward is the value picked. An invalid action
  raises. Ten steps: a random valid policy scores 5, the best 7.5."""
  observation_space = gym.spaces.Box(0.0, 1.0, (5,), np.float32)
  action_space = gym.spaces.Discrete(5)
  values = np.linspace(0.0, 1.0, 5, dtype=np.float32)

  def __init__(self) -> None:
    self.steps, self.order, self.valid = 0, np.arange(5), np.ones(5, np.int8)

  def draw(self) -> tuple[np.ndarray, dict]:
    self.order = self.np_random.permutation(5)
    self.valid = np.zeros(5, np.int8)
    self.valid[self.np_random.choice(5, 2, replace=False)] = 1
    return self.values[self.order], {'action_mask': self.valid.copy()}

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    self.steps = 0
    return self.draw()

  def step(self, action):
    if not self.valid[int(action)]:
      raise ValueError(f'invalid action {int(action)} (mask {self.valid.tolist()})')
    reward = float(self.values[self.order][int(action)])
    self.steps += 1
    observ, info = self.draw()
    return observ, reward, False, self.steps >= 10, info


class PickValidMethod(PickValid):
  """The same, with the mask from an `action_masks()` method (sb3-contrib's)."""

  def reset(self, *, seed=None, options=None):
    observ, _ = super().reset(seed=seed, options=options)
    return observ, {}

  def step(self, action):
    observ, reward, terminated, truncated, _ = super().step(action)
    return observ, reward, terminated, truncated, {}

  def action_masks(self) -> np.ndarray:
    return self.valid.astype(bool)


class PickValidPair(gym.Env):
  """MultiDiscrete([3, 4]) with masks concatenated (3 + 4 entries): one valid
  value per dimension, rewarded 0.5 each; an invalid value raises."""
  observation_space = gym.spaces.Box(0.0, 1.0, (7,), np.float32)
  action_space = gym.spaces.MultiDiscrete([3, 4])

  def draw(self) -> tuple[np.ndarray, dict]:
    self.valid = np.zeros(7, np.int8)
    self.valid[self.np_random.integers(3)] = self.valid[3 + self.np_random.integers(4)] = 1
    return self.valid.astype(np.float32), {'action_mask': self.valid.copy()}

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    self.steps = 0
    return self.draw()

  def step(self, action):
    first, second = (int(a) for a in action)
    if not (self.valid[first] and self.valid[3 + second]):
      raise ValueError(f'invalid action {[first, second]} (mask {self.valid.tolist()})')
    self.steps += 1
    observ, info = self.draw()
    return observ, 1.0, False, self.steps >= 10, info


class NoValidAction(PickValid):
  """Its mask allows nothing at the third step of the second env's episode."""
  instances = 0

  def __init__(self) -> None:
    super().__init__()
    self.number = NoValidAction.instances
    NoValidAction.instances += 1

  def draw(self):
    observ, info = super().draw()
    if self.steps == 3 and self.number % 2 == 1:
      info['action_mask'] = np.zeros(5, np.int8)
    return observ, info


class WrongMaskShape(PickValid):
  def draw(self):
    observ, info = super().draw()
    return observ, {'action_mask': np.ones(4, np.int8)}


class _Guess(gym.Env):
  """Ten steps of naming a hidden answer among `action_space.n` (drawn anew
  each step, shown by `observe`); 1 per right answer."""

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    self.steps, self.answer = 0, int(self.np_random.integers(self.action_space.n))
    return self.observe(), {}

  def step(self, action):
    reward = float(int(action) == self.answer)
    self.steps += 1
    self.answer = int(self.np_random.integers(self.action_space.n))
    return self.observe(), reward, False, self.steps >= 10, {}


class DictPick(_Guess):
  """A Dict observation (a 2x2 'grid' and a 3-vector 'goal'): Discrete(3), pick
  the goal's hot entry; ten steps."""
  observation_space = gym.spaces.Dict({
      'goal': gym.spaces.Box(0.0, 1.0, (3,), np.float32),
      'grid': gym.spaces.Box(0.0, 1.0, (2, 2), np.float32)})
  action_space = gym.spaces.Discrete(3)

  def observe(self):
    return {'goal': np.eye(3, dtype=np.float32)[self.answer],
            'grid': np.full((2, 2), 0.5, np.float32)}


class BrightSquare(_Guess):
  """A 36x36 RGB image (uint8) with a bright 8x8 square in its left or right
  half: Discrete(2), name the side; 1 per right answer, ten steps. Random play
  scores 5, the best 10."""
  observation_space = gym.spaces.Box(0, 255, (36, 36, 3), np.uint8)
  action_space = gym.spaces.Discrete(2)

  def observe(self):
    image = self.np_random.integers(0, 40, (36, 36, 3), dtype=np.uint8)
    row = int(self.np_random.integers(0, 28))
    column = int(self.np_random.integers(0, 10)) + 18 * self.answer
    image[row:row + 8, column:column + 8] = 255
    return image


class SquareAndFlip(_Guess):
  """A Dict observation: a 10x10 grey image (uint8) with a bright 3x3 square in
  its left or right half, and a 'flip' bit. Discrete(2): name the side, or the
  other side when flip is 1, so neither part alone beats chance (5 of 10)."""
  observation_space = gym.spaces.Dict({
      'flip': gym.spaces.Box(0.0, 1.0, (1,), np.float32),
      'view': gym.spaces.Box(0, 255, (10, 10, 1), np.uint8)})
  action_space = gym.spaces.Discrete(2)

  def observe(self):
    flip = int(self.np_random.integers(2))
    side = self.answer ^ flip
    image = self.np_random.integers(0, 40, (10, 10, 1), dtype=np.uint8)
    row, column = int(self.np_random.integers(0, 8)), int(self.np_random.integers(0, 3))
    image[row:row + 3, column + 5 * side:column + 5 * side + 3] = 255
    return {'flip': np.array([flip], np.float32), 'view': image}


class SmallSquare(SquareAndFlip):
  """SquareAndFlip's 10x10 image alone (flip always 0): name the square's side."""
  observation_space = SquareAndFlip.observation_space['view']

  def observe(self):
    flip = self.answer   # Draws nothing more; the side is then the answer.
    image = self.np_random.integers(0, 40, (10, 10, 1), dtype=np.uint8)
    row, column = int(self.np_random.integers(0, 8)), int(self.np_random.integers(0, 3))
    image[row:row + 3, column + 5 * flip:column + 5 * flip + 3] = 255
    return image


class CountVector(gym.vector.VectorEnv):
  """A batched NumPy env, as users write vector envs: observation [t/10, sign],
  reward 1 when the action matches the sign; episodes truncated at 10 steps, or
  terminated early by action 2 (a 'quit'). `mode` is Gymnasium's autoreset mode."""

  def __init__(self, num_envs: int = 4, mode: str = 'NextStep') -> None:
    self.num_envs = num_envs
    self.single_observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    self.single_action_space = gym.spaces.Discrete(3)
    self.observation_space = gym.vector.utils.batch_space(self.single_observation_space,
                                                         num_envs)
    self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
    self.metadata = {'autoreset_mode': gym.vector.AutoresetMode(mode)}
    self.time = np.zeros(num_envs, np.int64)
    self.sign = np.ones(num_envs, np.float32)
    self.pending = np.zeros(num_envs, bool)
    self.rng = np.random.default_rng(0)

  def _observe(self) -> np.ndarray:
    return np.stack([self.time / 10, self.sign], axis=1).astype(np.float32)

  def _start(self, mask: np.ndarray) -> None:
    self.time[mask] = 0
    self.sign[mask] = self.rng.choice([-1.0, 1.0], size=int(mask.sum()))
    self.pending[mask] = False

  def reset(self, *, seed=None, options=None):
    if seed is not None:
      self.rng = np.random.default_rng(seed if isinstance(seed, int) else
                                       [s or 0 for s in seed])
    mask = (options or {}).get('reset_mask', np.ones(self.num_envs, bool))
    self._start(mask)
    return self._observe(), {}

  def step(self, actions):
    mode = self.metadata['autoreset_mode'].value
    if mode == 'NextStep' and self.pending.any():
      restart = self.pending.copy()
      self._start(restart)
    actions = np.asarray(actions)
    reward = ((actions == 1) == (self.sign > 0)).astype(np.float64) * (actions != 2)
    self.time += 1
    self.sign = self.rng.choice([-1.0, 1.0], size=self.num_envs).astype(np.float32)
    terminated = actions == 2
    truncated = (self.time >= 10) & ~terminated
    done = terminated | truncated
    observ, infos = self._observe(), {}
    if mode == 'SameStep' and done.any():
      infos = {'final_obs': observ.copy(), '_final_obs': done.copy()}
      self._start(done)
      observ = self._observe()
    elif mode == 'NextStep':
      self.pending = done
    return observ, reward, terminated, truncated, infos


def make_count_vector(num_envs: int = 4, mode: str = 'NextStep') -> CountVector:
  return CountVector(num_envs, mode)


def make_same_step_vector(num_envs: int = 4) -> CountVector:
  return CountVector(num_envs, 'SameStep')


def make_disabled_vector(num_envs: int = 4) -> CountVector:
  return CountVector(num_envs, 'Disabled')


def make_gymnasium_vector(num_envs: int = 4):
  """gymnasium.make_vec, as users get vector envs of registered ids."""
  return gym.make_vec('CartPole-v1', num_envs=num_envs, vectorization_mode='sync')


def make_fixed_vector():
  """A vector env of a size of its own (3), as some simulators come."""
  return CountVector(3)


class BatchedNotVector(Chain):
  """Steps a batch of 8 but is no gymnasium.vector.VectorEnv."""

  def step(self, action):
    observ, reward, terminated, truncated, info = super().step(action)
    return observ, np.full(8, reward), terminated, truncated, info


class WhereAmI(Chain):
  """Chain that counts its steps per process: a line in $AGENTS_TEST_PIDS/<pid> each."""

  def step(self, action):
    folder = os.environ.get('AGENTS_TEST_PIDS')
    if folder:
      with open(pathlib.Path(folder, str(os.getpid())), 'a') as stream:
        stream.write('.\n')
    return super().step(action)
