"""The Python API: agents.train and agents.load_policy."""

import json
import os

import numpy as np
import pytest

import agents
from agents.scripts import visualize
from agents.errors import ConfigError
from agents.run import checkpoint

TINY = dict(num_agents=4, update_every=16, num_minibatches=2, update_epochs=1,
            policy_layers=[16], value_layers=[16], eval_agents=3,
            eval_every=256, steps=256)


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  logdir = tmp_path_factory.mktemp('runs')
  return agents.train('pendulum', logdir=str(logdir), seed=1, timestamp='api', **TINY)


def test_train_returns_the_run_directory_and_its_final_eval(run):
  assert run.code == 0 and run.run_dir.endswith('api-pendulum')
  assert os.path.exists(os.path.join(run.run_dir, 'config.yaml'))
  assert run.final_eval.episodes == 3 and run.final_eval.step == 256
  text = open(os.path.join(run.run_dir, 'config.yaml')).read()
  assert 'seed: 1' in text and 'policy_layers:\n- 16' in text


def test_a_gymnasium_loop_with_the_policy_gives_the_eval_phase_and_visualize_returns(
    run, tmp_path):
  policy = agents.load_policy(run.run_dir)
  assert policy.env_id == 'Pendulum-v1' and policy.step == 256
  returns = []
  for index in range(3):
    env = policy.make_env()
    observ, _ = env.reset(seed=10_000 + index)
    policy.reset()
    total, done = 0.0, False
    while not done:
      action = policy(observ)
      assert action.shape == (1,) and -2 <= action[0] <= 2   # The env's bounds.
      observ, reward, terminated, truncated, _ = env.step(action)
      total += float(reward)
      done = terminated or truncated
    returns.append(total)
  assert np.mean(returns) == pytest.approx(run.final_eval.mean_score, rel=1e-4)
  outdir = tmp_path / 'videos'
  assert visualize.main(['--logdir', run.run_dir, '--outdir', str(outdir),
                         '--num_episodes', '3', '--format', 'gif']) == 0
  stats = json.loads((outdir / 'stats.json').read_text())
  np.testing.assert_allclose(stats['returns'], returns, rtol=1e-5)


def test_evaluation_scores_the_first_episode_of_each_eval_seed(tmp_path):
  """CartPole's episodes differ in length: the eval is the episodes that the
  seeds 10000 + i start, once each, not every episode that fits in the time
  limit (which would weigh the short ones more)."""
  tiny = dict(TINY, steps=128, eval_every=128, eval_steps=None)
  run = agents.train('cartpole', logdir=str(tmp_path), timestamp='first', **tiny)
  policy = agents.load_policy(run.run_dir)
  returns = []
  for index in range(3):
    env = policy.make_env()
    observ, _ = env.reset(seed=10_000 + index)
    total, done = 0.0, False
    while not done:
      observ, reward, terminated, truncated, _ = env.step(policy(observ))
      total, done = total + float(reward), terminated or truncated
    returns.append(total)
  assert max(returns) < 500 and len(set(returns)) > 1   # Short and of several lengths.
  assert run.final_eval.episodes == 3
  assert run.final_eval.mean_score == pytest.approx(np.mean(returns))


def test_a_batch_of_observations_gives_the_actions_of_each(run):
  policy = agents.load_policy(run.run_dir)
  observ = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
  batch = policy(observ)
  assert batch.shape == (5, 1)
  single = np.stack([policy(o) for o in observ])
  np.testing.assert_allclose(batch, single, rtol=1e-5)
  with pytest.raises(ValueError, match=r'Expected an observation of shape \(3,\)'):
    policy(np.zeros(4))


def test_a_stochastic_policy_samples_and_is_seeded(run):
  observ = np.zeros(3, np.float32)
  first = [agents.load_policy(run.run_dir, deterministic=False, seed=3)(observ)
           for _ in range(2)]
  np.testing.assert_array_equal(first[0], first[1])
  policy = agents.load_policy(run.run_dir, deterministic=False, seed=3)
  assert not np.array_equal(policy(observ), policy(observ))


def test_bad_run_directories_and_checkpoints_give_one_clear_error(run, tmp_path):
  with pytest.raises(agents.PolicyLoadError, match="No run directory '.*nowhere'"):
    agents.load_policy(str(tmp_path / 'nowhere'))
  with pytest.raises(agents.PolicyLoadError, match='has no config.yaml'):
    agents.load_policy(str(tmp_path))
  with pytest.raises(agents.PolicyLoadError, match='does not exist'):
    agents.load_policy(run.run_dir, checkpoint=str(tmp_path / 'ckpt.msgpack'))
  damaged = tmp_path / 'damaged.msgpack'
  data = open(checkpoint.latest(os.path.join(run.run_dir, 'checkpoints')), 'rb').read()
  damaged.write_bytes(data[:len(data) // 2])
  with pytest.raises(agents.PolicyLoadError, match='Cannot load .*digest mismatch'):
    agents.load_policy(run.run_dir, checkpoint=str(damaged))


def test_train_checks_its_overrides_as_the_command_line_does(tmp_path):
  with pytest.raises(ConfigError, match="num_agents must be an integer, got 'abc'"):
    agents.train('pendulum', logdir=str(tmp_path), num_agents='abc')
  with pytest.raises(ConfigError, match="Unknown config key 'stepz'"):
    agents.train('pendulum', logdir=str(tmp_path), stepz=3)
  assert not os.listdir(tmp_path)


def test_a_recurrent_policy_keeps_its_state_until_reset(tmp_path):
  run = agents.train('pendulum_recurrent', logdir=str(tmp_path), timestamp='gru',
                     env_backend='gymnax', state_size=8, chunk_length=8, **TINY)
  policy = agents.load_policy(run.run_dir)
  observ = np.array([1.0, 0.0, 0.5], np.float32)
  first, second = policy(observ), policy(observ)
  assert not np.allclose(first, second)      # The GRU state moved on.
  policy.reset()
  np.testing.assert_allclose(policy(observ), first, rtol=1e-6)
  # In a batch, reset(mask) restarts only the masked rows.
  batch = np.stack([observ, observ])
  start = policy(batch)
  policy(batch)
  policy.reset(np.array([True, False]))
  after = policy(batch)
  np.testing.assert_allclose(after[0], start[0], rtol=1e-6)
  assert not np.allclose(after[1], start[1])


def test_importing_the_packages_is_cheap_and_names_resolve_on_use():
  import subprocess
  import sys
  program = ('import sys, agents, agents.tools as tools\n'
             "assert 'jax' not in sys.modules, 'import agents pulled in JAX'\n"
             'assert tools.wrappers.__name__ == "agents.tools.wrappers"\n'
             'from agents.envs.batch_env import BatchEnv\n'
             'from agents.envs.external_process import ExternalProcess\n'
             'assert tools.BatchEnv is BatchEnv   # One module path per class.\n'
             'assert tools.wrappers.ExternalProcess is ExternalProcess\n'
             'assert callable(agents.load_policy)\n'
             'try:\n  agents.nope\nexcept AttributeError as error:\n'
             '  assert "no attribute \'nope\'" in str(error)\n')
  result = subprocess.run([sys.executable, '-c', program], capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr


def test_the_readmes_python_example_runs_verbatim(tmp_path, monkeypatch, capsys):
  """The first code block of the README's 'From Python', as a user copies it."""
  readme = open(os.path.join(os.path.dirname(__file__), '..', 'README.md')).read()
  code = readme.split('## From Python', 1)[1].split('```python\n', 1)[1].split('```', 1)[0]
  monkeypatch.chdir(tmp_path)
  exec(compile(code, 'README.md', 'exec'), {})
  final, total = capsys.readouterr().out.split()[-2:]
  assert float(final) > -400 and float(total) > -400   # Pendulum learned (random: ~-1200).
