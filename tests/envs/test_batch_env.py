import functools

import numpy as np
import pytest

from agents.tools import (BatchEnv, WorkerBatchEnv, WorkerError, make_batch_env)
from tests import helpers

BACKENDS = ['inprocess', 'process', 'worker']


def _counting(index):
  return functools.partial(helpers.counting_env, index, 3)


@pytest.fixture(params=BACKENDS)
def batch(request):
  if request.param == 'inprocess':
    env = BatchEnv([helpers.counting_env(i, 3) for i in range(4)], blocking=True)
  elif request.param == 'process':
    from agents.tools import ExternalProcess
    env = BatchEnv([ExternalProcess(_counting(i), index=i) for i in range(4)],
                   blocking=False)
  else:
    env = WorkerBatchEnv([_counting(i) for i in range(4)], num_workers=2)
  yield env
  env.close()


def test_steps_and_resets_as_one_batch(batch):
  assert len(batch) == 4
  observ = batch.reset()
  assert observ.tolist() == [[i, 0] for i in range(4)]
  actions = np.array([[0.1], [0.2], [0.3], [0.4]], np.float32)
  observ, reward, terminated, truncated, infos = batch.step(actions)
  assert observ.shape == (4, 2) and observ[:, 1].tolist() == [1, 1, 1, 1]
  assert reward.dtype == np.float32 and np.allclose(reward, actions[:, 0])
  assert terminated.dtype == bool and not terminated.any() and not truncated.any()
  assert len(infos) == 4
  batch.step(actions)
  terminated = batch.step(actions)[2]
  assert terminated.all()
  observ = batch.reset([1, 3])
  assert observ.tolist() == [[1, 0], [3, 0]]
  observ = batch.step(actions)[0]
  assert observ[:, 1].tolist() == [4, 1, 4, 1]


def test_wrong_action_shape_is_a_clear_error(batch):
  batch.reset()
  with pytest.raises(ValueError, match=r'shape \(4, 1\).*got shape \(3, 1\)'):
    batch.step(np.zeros((3, 1)))


def test_envs_that_disagree_on_spaces_are_rejected():
  with pytest.raises(ValueError, match='same observation space'):
    BatchEnv([helpers.CountingEnv(), helpers.WrongSpaceEnv()], blocking=True)
  with pytest.raises(ValueError, match='same observation space'):
    WorkerBatchEnv([helpers.CountingEnv, helpers.WrongSpaceEnv], num_workers=2)


def test_worker_backend_reports_env_index_of_a_raising_env():
  env = WorkerBatchEnv([helpers.CountingEnv, helpers.CountingEnv,
                        helpers.CountingEnv, helpers.RaisingEnv], num_workers=2)
  try:
    env.reset()
    env.step(np.zeros((4, 1)))
    env.step(np.zeros((4, 1)))
    with pytest.raises(WorkerError, match='(?s)in env 3.*deliberate failure'):
      env.step(np.zeros((4, 1)))
  finally:
    env.close()


def test_worker_backend_matches_in_process_results_on_pendulum():
  seeds = list(range(6))
  actions = np.random.RandomState(0).uniform(-2, 2, (20, 6, 1)).astype(np.float32)
  results = []
  for backend in ('inprocess', 'worker', 'process'):
    env = make_batch_env(helpers.pendulum, 6, backend, num_workers=2)
    try:
      observs = [env.reset(seeds=seeds)]
      observs += [env.step(a)[0] for a in actions]
      results.append(np.stack(observs))
    finally:
      env.close()
  np.testing.assert_allclose(results[0], results[1], rtol=1e-6)
  np.testing.assert_allclose(results[0], results[2], rtol=1e-6)


def test_unknown_backend_is_rejected():
  with pytest.raises(ValueError, match='Known: inprocess, process, worker'):
    make_batch_env(helpers.pendulum, 2, 'threads')
