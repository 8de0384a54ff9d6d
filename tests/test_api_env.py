"""agents.train(env=..., config=..., seeds=...): envs and configs as Python objects."""

import os

import gymnasium as gym
import pytest

import agents
from agents.errors import ConfigError
from agents.scripts import configs
from tests import user_envs, user_jax_envs
from tests.helpers import last_line_in_fresh_process, python_in_fresh_process

TINY = dict(num_agents=4, update_every=16, num_minibatches=2, update_epochs=1,
            policy_layers=[16], value_layers=[16], eval_agents=2, eval_every=128,
            steps=128, report_every=64, checkpoint_every=64)


def _saved_env(run):
  text = open(os.path.join(run.run_dir, 'config.yaml')).read()
  return next(line.split(': ', 1)[1] for line in text.splitlines() if line.startswith('env:'))


@pytest.mark.parametrize('env, recorded', [
    (user_jax_envs.copy_env, 'tests.user_jax_envs:copy_env'),      # A JAX env object.
    (user_jax_envs.make_copy, 'tests.user_jax_envs:make_copy'),    # Its factory.
    (user_envs.make_chain, 'tests.user_envs:make_chain'),          # A host env factory.
    (user_envs.Chain, 'tests.user_envs:Chain'),                    # A host env class.
    ('tests.user_jax_envs:Copy', 'tests.user_jax_envs:Copy'),      # A name, as --set env=.
])
def test_envs_from_python_train_and_the_run_records_how_to_rebuild_them(tmp_path, env,
                                                                        recorded):
  run = agents.train('cartpole', logdir=str(tmp_path), env=env, timestamp='run', **TINY)
  assert _saved_env(run) == recorded
  assert run.final_eval.mean_length == 10.0
  assert agents.load_policy(run.run_dir) is not None


def test_an_object_no_module_holds_works_here_and_elsewhere_only_when_given_again(tmp_path):
  run = agents.train('cartpole', logdir=str(tmp_path), env=lambda: user_envs.Chain(),
                     timestamp='run', **TINY)
  assert _saved_env(run).startswith('agents.envs.env_objects:env_')
  code = ('import agents\n'
          f'agents.load_policy({run.run_dir!r})\n')
  result = python_in_fresh_process(code)
  assert result.returncode != 0
  assert 'give it again: agents.load_policy(run_dir, env=' in result.stderr
  code = ('import agents\nfrom tests import user_envs\n'
          f'policy = agents.load_policy({run.run_dir!r}, env=user_envs.make_chain)\n'
          'print(policy.spec.observ_shape)\n')
  assert last_line_in_fresh_process(code) == '(3,)'


def test_a_config_object_trains_under_the_name_custom(tmp_path):
  config = configs.cartpole()
  with config.unlocked:
    config.env = 'tests.user_jax_envs:Copy'
  run = agents.train(config, logdir=str(tmp_path), timestamp='run', **TINY)
  assert run.run_dir.endswith('run-custom') and run.final_eval.mean_length == 10.0
  with pytest.raises(ConfigError, match='Unknown config key'):
    agents.train({'no_such_key': 1}, logdir=str(tmp_path))


def test_seeds_from_python_give_one_outcome_each(tmp_path):
  runs = agents.train('cartpole', logdir=str(tmp_path), env=user_jax_envs.copy_env,
                      seeds=[0, 1], timestamp='run', **TINY)
  assert [os.path.basename(run.run_dir) for run in runs] == [
      'run-cartpole-seed0', 'run-cartpole-seed1']


def test_one_gymnasium_env_instance_is_refused_with_the_fix(tmp_path):
  with pytest.raises(ConfigError, match='pass its class or a function that builds one'):
    agents.train('cartpole', logdir=str(tmp_path), env=gym.make('CartPole-v1'))
