"""Every host backend satisfies one HostBatchEnv protocol, infos included."""

import functools

import gymnasium as gym
import numpy as np
import pytest

from agents.envs import BatchEnv, BatchStep, HostBatchEnv, make_batch_env
from agents.envs.external_process import ExternalProcess
from agents.envs.protocol import ColumnInfos
from tests import helpers


class TalkativeEnv(helpers.CountingEnv):
  """CountingEnv whose odd envs say something in their step info."""

  def step(self, action):
    observ, reward, terminated, truncated, _ = super().step(action)
    info = {'env': self._index, 'steps': self._steps} if self._index % 2 else {}
    return observ, reward, terminated, truncated, info


@pytest.mark.timeout(120)
@pytest.mark.parametrize('backend', ['inprocess', 'process', 'worker', 'ray'])
def test_every_backend_steps_as_the_protocol_says(backend):
  if backend == 'ray':
    pytest.importorskip('ray')
  # Each env learns its index from its position: build them in order, in-process.
  constructors = [functools.partial(TalkativeEnv, index=i) for i in range(4)]
  if backend == 'inprocess':
    env = BatchEnv([constructor() for constructor in constructors], blocking=True)
  elif backend == 'process':
    env = BatchEnv([ExternalProcess(c) for c in constructors], blocking=False)
  elif backend == 'worker':
    from agents.envs import WorkerBatchEnv
    env = WorkerBatchEnv(constructors, num_workers=2)
  else:
    from agents.envs import RayBatchEnv
    env = RayBatchEnv(constructors, num_actors=2)
  try:
    assert isinstance(env, HostBatchEnv) and len(env) == 4
    observ = env.reset()
    np.testing.assert_array_equal(observ[:, 0], [0, 1, 2, 3])
    result = env.step(np.full((4, 1), 0.5, np.float32))
    assert isinstance(result, BatchStep)
    observ, reward, terminated, truncated, infos = result    # Gymnasium's 5-tuple.
    assert reward.dtype == np.float32 and terminated.dtype == bool
    assert len(infos) == 4 and all(isinstance(info, dict) for info in infos)
    assert infos[0] == {} and infos[2] == {}
    assert infos[1] == {'env': 1, 'steps': 1} and infos[3] == {'env': 3, 'steps': 1}
  finally:
    env.close()


def test_column_infos_are_per_env_dicts_in_batch_order():
  columns = {'env_id': np.array([2, 0, 1]), 'lives': np.array([5, 3, 4])}
  infos = ColumnInfos(columns, np.array([1, 2, 0]), 3)
  assert len(infos) == 3
  assert [info['env_id'] for info in infos] == [0, 1, 2]
  assert infos[2]['lives'] == 5 and infos[-1]['env_id'] == 2
  with pytest.raises(IndexError):
    infos[3]


def test_envpool_batch_env_satisfies_the_protocol():
  envpool_env = pytest.importorskip('agents.envs.envpool_env')
  if not envpool_env.available():
    pytest.skip('EnvPool is not installed')
  env = envpool_env.EnvPoolBatchEnv('CartPole-v1', 3, seed=0)
  try:
    assert isinstance(env, HostBatchEnv)
    env.reset()
    result = env.step(np.zeros(3, np.int64))
    assert isinstance(result, BatchStep) and len(result.infos) == 3
    assert [int(info['env_id']) for info in result.infos] == [0, 1, 2]
  finally:
    env.close()


def test_gym_space_types_are_kept():
  env = make_batch_env(helpers.pendulum, 2)
  try:
    assert isinstance(env.action_space, gym.spaces.Box)
  finally:
    env.close()
