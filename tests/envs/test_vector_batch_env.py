"""Gymnasium vector envs as the host batch: every autoreset mode gives the true
final observation of a truncated episode, and trains."""

import json

import numpy as np
import pytest

from agents.envs.vector_batch_env import VectorBatchEnv
from agents.scripts import train
from tests import user_envs
from tests.scripts.test_user_envs import TINY

MODES = ['NextStep', 'SameStep', 'Disabled']


@pytest.mark.parametrize('mode', MODES)
def test_a_truncated_episode_ends_on_its_final_observation_and_resets_explicitly(mode):
  batch = VectorBatchEnv(user_envs.CountVector(3, mode), 'count')
  observ = batch.reset(seeds=[1, 2, 3])
  assert np.all(observ[:, 0] == 0.0)
  for step in range(1, 11):
    result = batch.step(np.ones(3, np.int64))
    assert np.allclose(result.observ[:, 0], step / 10)   # Never a reset's observation.
  assert result.truncated.all() and not result.terminated.any()
  observ = batch.reset([0, 2])
  assert observ.shape == (2, 2) and np.all(observ[:, 0] == 0.0)
  observ = batch.reset([1])
  assert np.all(observ[:, 0] == 0.0)
  result = batch.step(np.array([2, 1, 1]))   # Env 0 quits: terminated, not truncated.
  assert list(result.terminated) == [True, False, False] and not result.truncated.any()
  assert np.allclose(result.observ[:, 0], 0.1)


def test_infos_stay_columns_read_per_env():
  batch = VectorBatchEnv(user_envs.CountVector(2, 'SameStep'), 'count')
  batch.reset()
  for _ in range(10):
    result = batch.step(np.ones(2, np.int64))
  assert len(result.infos) == 2 and bool(result.infos[1]['_final_obs'])


@pytest.mark.parametrize('env', ['make_count_vector', 'make_same_step_vector',
                                 'make_disabled_vector', 'make_gymnasium_vector'])
def test_vector_envs_train_from_their_factories_name(tmp_path, capfd, env):
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp', 'run',
                     '--set', f'env=tests.user_envs:{env}', *TINY]) == 0, (
                         capfd.readouterr().err)
  with open(tmp_path / 'run-cartpole' / 'metrics.jsonl') as stream:
    evals = [json.loads(line) for line in stream if '"eval"' in line]
  assert evals and evals[-1]['episodes'] >= 1


def test_a_vector_env_learns_the_sign_it_sees(tmp_path, capfd):
  """Random play scores ~3.3 of 10 (three actions); the best 10."""
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp', 'run',
                     '--set', 'env=tests.user_envs:make_count_vector', '--set', 'steps=16384',
                     '--set', 'eval_every=16384', '--set', 'eval_steps=1000',
                     '--quiet']) == 0, capfd.readouterr().err
  with open(tmp_path / 'run-cartpole' / 'metrics.jsonl') as stream:
    evals = [json.loads(line) for line in stream if '"eval"' in line]
  assert evals[-1]['mean_score'] >= 9.0


def test_a_vector_env_of_another_size_is_one_line_with_the_fix(tmp_path, capfd):
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp', 'run',
                     '--set', 'env=tests.user_envs:make_fixed_vector', *TINY]) == 2
  lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith('error:')]
  assert len(lines) == 1 and 'is a vector env of 3 envs, but the run needs 4' in lines[0]
  assert 'set num_agents and eval_agents to its size' in lines[0]


def test_a_batched_env_that_is_no_vector_env_is_told_how_to_be_one(tmp_path, capfd):
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp', 'run',
                     '--set', 'env=tests.user_envs:BatchedNotVector', *TINY]) == 1
  err = capfd.readouterr().err
  assert 'one per env of a batch' in err and 'gymnasium.vector.VectorEnv' in err
