import gymnasium as gym
import numpy as np
import pytest

from agents.envs import wrappers
from tests.helpers import CountingEnv


def test_limit_duration_truncates_without_terminating():
  env = wrappers.LimitDuration(CountingEnv(duration=100), 3)
  env.reset()
  flags = [env.step(np.zeros(1))[2:4] for _ in range(3)]
  assert flags == [(False, False), (False, False), (False, True)]


def test_range_normalize_maps_observations_and_actions_to_unit_range():
  env = wrappers.RangeNormalize(gym.make('Pendulum-v1'))
  assert np.allclose(env.observation_space.low, -1)
  assert np.allclose(env.action_space.high, 1)
  observ, _ = env.reset(seed=0)
  assert np.all(np.abs(observ) <= 1)
  # Action 1.0 is the env's maximum torque of 2.0.
  inner = gym.make('Pendulum-v1')
  inner.reset(seed=0)
  expected = inner.step(np.array([2.0], np.float32))[1]
  assert env.step(np.array([1.0], np.float32))[1] == pytest.approx(expected)


def test_range_normalize_leaves_discrete_and_unbounded_spaces_alone():
  env = wrappers.RangeNormalize(gym.make('CartPole-v1'))
  assert isinstance(env.action_space, gym.spaces.Discrete)
  assert env.observation_space == gym.make('CartPole-v1').observation_space
  with pytest.raises(ValueError, match='observ=False'):
    wrappers.RangeNormalize(gym.make('CartPole-v1'), observ=True)


def test_clip_action_clips_to_bounds():
  env = wrappers.ClipAction(CountingEnv())
  env.reset()
  assert env.step(np.array([5.0]))[1] == 1.0


def test_convert_to_32bit_converts_observations_and_reward():
  class Float64Env(CountingEnv):
    def __init__(self):
      super().__init__()
      self.observation_space = gym.spaces.Box(-1, 1, (2,), np.float64)
    def reset(self, **kwargs):
      return np.zeros(2, np.float64), {}
  env = wrappers.ConvertTo32Bit(Float64Env())
  assert env.observation_space.dtype == np.float32
  assert env.reset()[0].dtype == np.float32
  observ, reward, *_ = env.step(np.zeros(1))
  assert isinstance(reward, np.float32)


def test_cache_spaces_reads_spaces_once():
  class CountingSpaces(CountingEnv):
    reads = 0
    @property
    def observation_space(self):
      CountingSpaces.reads += 1
      return gym.spaces.Box(-1, 1, (2,), np.float32)
    @observation_space.setter
    def observation_space(self, value):
      pass
  env = wrappers.CacheSpaces(CountingSpaces())
  before = CountingSpaces.reads
  for _ in range(5):
    _ = env.observation_space
  assert CountingSpaces.reads == before


def test_auto_reset_starts_a_new_episode_on_the_step_after_done():
  env = wrappers.AutoReset(CountingEnv(duration=2))
  env.reset()
  env.step(np.zeros(1))
  assert env.step(np.zeros(1))[2] is True
  observ, reward, terminated, truncated, _ = env.step(np.ones(1))
  assert observ[1] == 0 and reward == 0 and not terminated and not truncated


def test_action_repeat_sums_rewards_and_stops_at_episode_end():
  env = wrappers.ActionRepeat(CountingEnv(duration=5), 3)
  env.reset()
  observ, reward, terminated, _, _ = env.step(np.array([0.5]))
  assert observ[1] == 3 and reward == pytest.approx(1.5) and not terminated
  observ, reward, terminated, _, _ = env.step(np.array([0.5]))
  assert observ[1] == 5 and reward == pytest.approx(1.0) and terminated


def test_random_start_takes_random_steps_after_reset():
  env = wrappers.RandomStart(CountingEnv(duration=1000), max_steps=10)
  counts = {int(env.reset(seed=seed)[0][1]) for seed in range(20)}
  assert len(counts) > 3 and max(counts) <= 10


def test_frame_history_stacks_frames_at_offsets():
  env = wrappers.FrameHistory(CountingEnv(duration=10), [0, 2])
  observ, _ = env.reset()
  assert observ.shape == (2, 2) and env.observation_space.shape == (2, 2)
  assert observ[:, 1].tolist() == [0, 0]
  for _ in range(3):
    observ = env.step(np.zeros(1))[0]
  assert observ[:, 1].tolist() == [3, 1]
  flat = wrappers.FrameHistory(CountingEnv(), [0, 1], flatten=True)
  assert flat.reset()[0].shape == (4,)


def test_frame_delta_returns_differences():
  env = wrappers.FrameDelta(CountingEnv(duration=10))
  assert env.reset()[0].tolist() == [0, 0]
  assert env.step(np.zeros(1))[0].tolist() == [0, 1]
  both = wrappers.FrameDelta(CountingEnv(duration=10), concat=True)
  both.reset()
  assert both.step(np.zeros(1))[0].tolist() == [0, 1, 0, 1]


def test_stagger_start_cuts_only_the_first_episode():
  lengths = set()
  for seed in range(10):
    env = wrappers.StaggerStart(CountingEnv(duration=1000), 50)
    env.reset(seed=seed)
    steps = 0
    while not env.step(np.zeros(1))[3]:
      steps += 1
    lengths.add(steps + 1)
    env.reset()
    assert not any(env.step(np.zeros(1))[3] for _ in range(60))
  assert len(lengths) > 3 and max(lengths) <= 50


def test_select_observation_hides_entries_and_names_bad_indices():
  import gymnasium as gym
  from agents.envs.wrappers import SelectObservation
  env = SelectObservation(gym.make('Pendulum-v1'), [0, 1])
  observ, _ = env.reset(seed=0)
  assert observ.shape == (2,) and env.observation_space.shape == (2,)
  full, _ = gym.make('Pendulum-v1').reset(seed=0)
  np.testing.assert_array_equal(observ, full[:2])
  with pytest.raises(ValueError, match=r'indices \[3\] are out of range for 3'):
    SelectObservation(gym.make('Pendulum-v1'), [3])
