"""A user's JAX env from `--set env=...`: trains in the compiled program, and
resume, visualize, export, load_policy (in a fresh process) and --seeds work."""

import importlib.util
import json
import os

import numpy as np
import pytest

from agents.scripts import export, train, visualize
from tests.helpers import last_line_in_fresh_process
from tests.scripts.test_user_envs import TINY

def _train(tmp_path, env, *args, timestamp='run'):
  return train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp',
                     timestamp, '--set', f'env={env}', *TINY, *args])


def _evals(run_dir):
  with open(os.path.join(run_dir, 'metrics.jsonl')) as stream:
    return [json.loads(line) for line in stream if '"eval"' in line]


def test_a_protocol_env_trains_resumes_and_its_tools_work(tmp_path, capfd):
  env = 'tests.user_jax_envs:Copy'
  assert _train(tmp_path, env) == 0, capfd.readouterr().err
  run_dir = tmp_path / 'run-cartpole'
  saved = (run_dir / 'config.yaml').read_text()
  assert 'env: tests.user_jax_envs:Copy' in saved and 'env_backend: auto' in saved
  assert _evals(run_dir)[-1]['mean_length'] == 10.0
  # Resume with a larger budget: the run goes on from its checkpoint.
  assert _train(tmp_path, env, '--set', 'steps=256') == 0, capfd.readouterr().err
  assert [e['step'] for e in _evals(run_dir)] == [128, 256]
  # visualize: the episodes run; Copy renders nothing and has no image observations.
  capfd.readouterr()
  assert visualize.main(['--logdir', str(run_dir), '--outdir', str(tmp_path / 'videos'),
                         '--num_episodes', '2']) == 0
  err = capfd.readouterr().err
  assert 'renders no frames' in err
  stats = json.loads((tmp_path / 'videos' / 'stats.json').read_text())
  assert stats['lengths'] == [10, 10] and stats['videos'] == []
  assert export.main(['--logdir', str(run_dir), '--format', 'stablehlo',
                      '--out', str(tmp_path / 'policy.stablehlo')]) == 0
  assert (tmp_path / 'policy.stablehlo').stat().st_size > 0


def test_load_policy_rebuilds_the_env_in_a_fresh_process(tmp_path, capfd):
  assert _train(tmp_path, 'tests.user_jax_envs:Masked') == 0, capfd.readouterr().err
  code = ('import agents, numpy as np\n'
          f"policy = agents.load_policy({str(tmp_path / 'run-cartpole')!r})\n"
          # observ (2) then the mask (2): only action 0 is valid.
          'print(policy(np.array([0.5, 0.0, 1.0, 0.0], np.float32)))\n')
  assert last_line_in_fresh_process(code) == '0'


def test_uint8_image_observations_learn_and_render_as_frames(tmp_path, capfd):
  """Bytes: the sign as an all-white or all-black 8x8 image; random play scores 5
  of 10."""
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp', 'run',
                     '--set', 'env=tests.user_jax_envs:Bytes', '--set', 'steps=16384',
                     '--set', 'eval_every=16384', '--set', 'eval_steps=200',
                     '--quiet']) == 0, capfd.readouterr().err
  run_dir = tmp_path / 'run-cartpole'
  assert _evals(run_dir)[-1]['mean_score'] >= 9.0
  assert visualize.main(['--logdir', str(run_dir), '--outdir', str(tmp_path / 'videos'),
                         '--num_episodes', '1', '--format', 'gif']) == 0
  import imageio
  frames = imageio.mimread(tmp_path / 'videos' / 'episode-000.gif')
  assert len(frames) == 10 and np.asarray(frames[0]).shape[:2] == (160, 160)


def test_seeds_train_side_by_side_in_one_program(tmp_path, capfd):
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp', 'run',
                     '--set', 'env=tests.user_jax_envs:make_gymnax_env', *TINY,
                     '--seeds', '0', '1']) == 0, capfd.readouterr().err
  for seed in (0, 1):
    assert _evals(tmp_path / f'run-cartpole-seed{seed}')[-1]['mean_length'] == 10.0


@pytest.mark.parametrize('env, message', [
    ('tests.user_jax_envs:NoStep', 'has no step'),
    ('tests.user_jax_envs:WrongDtype', 'dtype float16, but observation_space declares'),
    ('tests.user_jax_envs:PythonBranch', 'is not a pure JAX function'),
])
def test_an_env_that_breaks_the_protocol_is_one_line_and_exit_2(tmp_path, capfd, env,
                                                                 message):
  assert _train(tmp_path, env) == 2
  err = capfd.readouterr().err
  lines = [line for line in err.splitlines() if line.startswith('error:')]
  assert len(lines) == 1 and message in lines[0], err


def test_a_jax_env_with_env_backend_gymnasium_is_refused_with_the_fix(tmp_path, capfd):
  assert _train(tmp_path, 'tests.user_jax_envs:Copy', '--set', 'env_backend=gymnasium') == 2
  assert 'use env_backend=auto or jax' in capfd.readouterr().err


@pytest.mark.parametrize('env, package', [
    ('navix:Navix-Empty-5x5-v0', 'navix'),
    ('jumanji:Knapsack-v1', 'jumanji'),
    ('pgx:tic_tac_toe', 'pgx'),
    ('xminigrid:MiniGrid-Empty-5x5', 'xminigrid'),
])
def test_a_family_env_trains_from_its_name_alone_and_its_tools_work(tmp_path, capfd, env,
                                                                     package):
  """Two seeds in one program, then each run's policy loads and exports."""
  if importlib.util.find_spec(package) is None:
    pytest.skip(f'{package} is not installed (the jax-envs extra has it)')
  assert _train(tmp_path, env, '--set', 'cnn=flat', '--seeds', '0', '1') == 0, (
      capfd.readouterr().err)
  import agents
  for seed in (0, 1):
    run_dir = tmp_path / f'run-cartpole-seed{seed}'
    assert _evals(run_dir)
    policy = agents.load_policy(str(run_dir))
    observ = np.zeros(policy.spec.observ_shape, policy.spec.observ_jnp_dtype)
    if policy.spec.mask_size:
      observ[-policy.spec.mask_size:] = 1
    assert 0 <= int(policy(observ)) < policy.spec.num_actions
  assert export.main(['--logdir', str(tmp_path / 'run-cartpole-seed0'), '--format',
                      'stablehlo', '--out', str(tmp_path / 'policy.stablehlo')]) == 0


def test_a_brax_run_is_rendered_through_mujoco(tmp_path, capfd):
  if importlib.util.find_spec('brax') is None:
    pytest.skip('brax is not installed (the jax-envs extra has it)')
  assert _train(tmp_path, 'brax:inverted_pendulum', '--set', 'max_length=12') == 0, (
      capfd.readouterr().err)
  code = visualize.main(['--logdir', str(tmp_path / 'run-cartpole'), '--outdir',
                         str(tmp_path / 'videos'), '--num_episodes', '1', '--format', 'gif'])
  err = capfd.readouterr().err
  if code != 0 and 'EGL or OSMesa' in err:
    pytest.skip('MuJoCo cannot render here (no EGL or OSMesa)')
  assert code == 0, err
  import imageio
  frames = imageio.mimread(tmp_path / 'videos' / 'episode-000.gif')
  stats = json.loads((tmp_path / 'videos' / 'stats.json').read_text())
  assert len(frames) == stats['lengths'][0] <= 12 and np.asarray(frames[0]).std() > 1
