"""The original's `agents.tools` names, called the way its README and tests call them."""

import jax
import numpy as np
import pytest

from agents import tools


def _mock():
  # The original's tests: MockEnvironment(observ_shape, action_shape, min_duration, max_duration).
  return tools.MockEnvironment(observ_shape=(2, 3), action_shape=(3,),
                               min_duration=5, max_duration=5)


def test_attr_dict_is_locked_unless_opened():
  config = tools.AttrDict(a=1)
  assert config.a == 1
  with pytest.raises(RuntimeError, match='locked'):
    config.b = 2
  with config.unlocked:
    config.b = 2
  assert config.b == 2


def test_mock_environment_episodes_last_their_duration():
  env = _mock()
  observ, _ = env.reset()
  assert observ.shape == (2, 3)
  for step in range(5):
    observ, reward, terminated, truncated, _ = env.step(np.zeros(3, np.float32))
  assert terminated and env.steps == [5] and env.durations == [5]


@pytest.mark.timeout(120)
def test_wrappers_external_process_forwards_step_reset_and_attributes():
  env = tools.wrappers.ExternalProcess(_mock)
  try:
    assert env.observation_space.shape == (2, 3)
    assert env.action_space.shape == (3,)
    observ, _ = env.reset()
    assert observ.shape == (2, 3)
    promise = env.step(np.zeros(3, np.float32), blocking=False)
    observ, reward, terminated, truncated, _ = promise()
    assert observ.shape == (2, 3) and not terminated
  finally:
    env.close()
  assert tools.ExternalProcess is tools.wrappers.ExternalProcess


def test_batch_env_steps_many_envs_as_one_batch():
  batch = tools.BatchEnv([_mock(), _mock(), _mock()], blocking=True)
  observ = batch.reset()
  assert observ.shape == (3, 2, 3) and len(batch) == 3
  observ, reward, terminated, truncated, infos = batch.step(np.zeros((3, 3), np.float32))
  assert observ.shape == (3, 2, 3) and reward.shape == (3,) and len(infos) == 3
  batch.close()


def test_simulate_is_callable_and_fuses_env_and_algorithm_into_one_step():
  env = tools.InGraphBatchEnv(tools.BatchEnv([_mock(), _mock()], blocking=True))
  algorithm = tools.MockAlgorithm()
  step = tools.simulate(env, algorithm, training=True)
  key = jax.random.PRNGKey(0)
  from agents.core.simulate import init_state
  state = init_state(env, algorithm.init(key, env.spec, env.num_agents), key)
  for index in range(5):
    state, output = step(state, jax.random.fold_in(key, index))
  # Every mock episode lasts 5 steps: the fifth step ends both, scoring their rewards.
  assert bool(np.all(output.done)) and list(np.asarray(output.length)) == [5, 5]


def test_loop_alternates_phases_until_the_budget():
  train = tools.InGraphBatchEnv(tools.BatchEnv([_mock(), _mock()], blocking=True))
  evaluation = tools.InGraphBatchEnv(tools.BatchEnv([_mock()], blocking=True))
  loop = tools.Loop(tools.MockAlgorithm(), [
      tools.Phase('train', train, 20, training=True, steps_per_call=5),
      tools.Phase('eval', evaluation, 5, training=False, steps_per_call=5)],
      jax.random.PRNGKey(0))
  reports = loop.run(40)
  assert loop.step == 40
  assert [r.phase for r in reports].count('eval') == 2
