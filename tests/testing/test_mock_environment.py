import numpy as np
import pytest

from agents.tools import MockEnvironment


def test_episodes_last_their_drawn_duration_within_bounds():
  env = MockEnvironment((3,), (2,), min_duration=2, max_duration=6, seed=0)
  for _ in range(20):
    observ, _ = env.reset()
    assert observ.shape == (3,)
    done = False
    while not done:
      observ, reward, terminated, truncated, _ = env.step(np.zeros(2))
      assert -1 <= reward <= 1 and not truncated
      done = terminated
  assert len(env.durations) == 20
  assert env.steps == env.durations
  assert all(2 <= d <= 6 for d in env.durations)
  assert len(set(env.durations)) > 1


def test_steps_record_lengths_actually_run_when_reset_early():
  env = MockEnvironment(min_duration=5, max_duration=5, seed=0)
  env.reset()
  env.step(np.zeros(1))
  env.reset()
  assert env.steps == [1, 0]
  assert env.durations == [5, 5]


def test_stepping_an_ended_episode_is_an_error():
  env = MockEnvironment(min_duration=1, max_duration=1, seed=0)
  with pytest.raises(RuntimeError, match='reset'):
    env.step(np.zeros(1))
  env.reset()
  env.step(np.zeros(1))
  with pytest.raises(RuntimeError, match='ended'):
    env.step(np.zeros(1))


def test_wrong_action_shape_is_an_error():
  env = MockEnvironment(action_shape=(2,))
  env.reset()
  with pytest.raises(ValueError, match='action shape'):
    env.step(np.zeros(3))
