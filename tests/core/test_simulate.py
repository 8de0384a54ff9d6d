import functools

import jax
import numpy as np
import pytest

from agents.envs import GymnaxEnv
from agents.tools import (BatchEnv, ExternalProcess, InGraphBatchEnv,
                          MockAlgorithm, MockEnvironment)
from agents.core.simulate import init_state, make_run

MIN, MAX = 3, 8


def _mock(seed):
  return MockEnvironment((3,), (2,), MIN, MAX, seed=seed)


def _run(env, steps=60, seed=0):
  algorithm = MockAlgorithm()
  key = jax.random.PRNGKey(seed)
  state = init_state(env, algorithm.init(key, env.spec, env.num_agents), key)
  run = make_run(env, algorithm, training=True)
  state, output = run(state, jax.random.split(key, steps))
  return state, jax.device_get(output)


def _episodes(output):
  done, score, length = output.done, output.score, output.length
  return [(length[t, b], score[t, b]) for b in range(done.shape[1])
          for t in range(done.shape[0]) if done[t, b]]


class RecordingBatchEnv(BatchEnv):
  """Records the rewards it returns, per env."""

  def __init__(self, envs, blocking):
    super().__init__(envs, blocking)
    self.rewards = [[] for _ in envs]
    self.resets = [0 for _ in envs]

  def step(self, actions):
    result = super().step(actions)
    for index, reward in enumerate(result[1]):
      self.rewards[index].append(float(reward))
    return result

  def reset(self, indices=None, seeds=None):
    for index in (range(len(self)) if indices is None else indices):
      self.resets[index] += 1
    return super().reset(indices, seeds)


def test_episode_lengths_and_scores_match_the_envs_own_records():
  envs = [_mock(i) for i in range(4)]
  batch = RecordingBatchEnv(envs, blocking=True)
  _, output = _run(InGraphBatchEnv(batch))
  for index, env in enumerate(envs):
    lengths = output.length[output.done[:, index], index].tolist()
    scores = output.score[output.done[:, index], index]
    finished = len(lengths)
    assert finished >= 60 // MAX
    # Every episode ran exactly its drawn duration, within bounds.
    assert lengths == env.steps[:finished] == env.durations[:finished]
    assert all(MIN <= n <= MAX for n in lengths)
    # Scores are the summed rewards of each episode.
    rewards = np.array(batch.rewards[index])
    bounds = np.cumsum([0] + lengths)
    expected = [rewards[a:b].sum() for a, b in zip(bounds[:-1], bounds[1:])]
    np.testing.assert_allclose(scores, expected, rtol=1e-5)
    # Agents reset after done: one reset per started episode.
    assert batch.resets[index] == len(env.durations)


def test_same_results_in_process_and_in_processes_for_the_same_seed():
  inprocess = BatchEnv([_mock(i) for i in range(3)], blocking=True)
  processes = BatchEnv([ExternalProcess(functools.partial(_mock, i), index=i)
                        for i in range(3)], blocking=False)
  try:
    _, first = _run(InGraphBatchEnv(inprocess), seed=1)
    _, second = _run(InGraphBatchEnv(processes), seed=1)
  finally:
    processes.close()
  np.testing.assert_array_equal(first.done, second.done)
  np.testing.assert_allclose(first.score, second.score, rtol=1e-6)
  np.testing.assert_array_equal(first.length, second.length)


def test_fixed_seeds_replay_the_same_episodes_after_init():
  batch = BatchEnv([_mock(i) for i in range(2)], blocking=True)
  env = InGraphBatchEnv(batch, seeds=[5, 6])
  _, first = _run(env, 30, seed=0)
  _, second = _run(env, 30, seed=1)
  assert _episodes(first)[:2] != []
  np.testing.assert_array_equal(first.length, second.length)


def test_gymnax_adapter_runs_under_the_same_algorithm():
  env = GymnaxEnv('Pendulum-v1', 4)
  state, output = _run(env, steps=450)
  episodes = _episodes(output)
  assert len(episodes) == 8
  assert all(length == 200 for length, _ in episodes)
  assert all(score < 0 for _, score in episodes)
  # A time limit is a truncation, never a termination.
  assert not np.asarray(state.env.terminated).any()


def test_gymnax_terminations_are_not_truncations():
  env = GymnaxEnv('CartPole-v1', 8)
  algorithm = MockAlgorithm()
  key = jax.random.PRNGKey(0)
  state = init_state(env, algorithm.init(key, env.spec, 8), key)
  run = make_run(env, algorithm, True)
  terminated = []
  for _ in range(3):
    state, output = run(state, jax.random.split(key, 40))
    terminated.append(np.asarray(state.env.terminated))
  assert np.concatenate(terminated).any()


def test_gymnax_stagger_spreads_first_episode_ends():
  env = GymnaxEnv('Pendulum-v1', 16, stagger=True)
  _, output = _run(env, steps=200)
  first_ends = [int(np.argmax(output.done[:, b])) for b in range(16)]
  assert len(set(first_ends)) > 8


def test_gymnax_seeds_make_evaluations_repeat():
  env = GymnaxEnv('Pendulum-v1', 3, seeds=[10, 11, 12])
  observs = []
  for seed in (0, 1):
    key = jax.random.PRNGKey(seed)
    state = env.init(key)
    observs.append(env.reset(state, state.done, key).observ)
  np.testing.assert_array_equal(observs[0], observs[1])
  assert not np.allclose(observs[0][0], observs[0][1])


def test_unknown_gymnax_env_lists_known_ones():
  with pytest.raises(ValueError, match='Known:.*Pendulum-v1'):
    GymnaxEnv('Pendulm-v1', 2)


def test_an_env_raising_in_its_worker_surfaces_as_that_error_with_its_index():
  from agents.tools import WorkerBatchEnv, WorkerError
  from tests import helpers
  with WorkerBatchEnv([helpers.CountingEnv] * 3 + [helpers.RaisingEnv],
                      num_workers=2) as batch_env:
    with pytest.raises(WorkerError, match='(?s)in env 3.*deliberate failure'):
      _run(InGraphBatchEnv(batch_env), steps=10)
