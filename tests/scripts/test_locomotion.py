"""MuJoCo configs, the EnvPool backend, and what locomotion tasks rely on."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from agents.run import build
from agents.scripts import configs, jax_env_configs, train
from agents.envs import make_batch_env

envpool_env = pytest.importorskip('agents.envs.envpool_env')
needs_envpool = pytest.mark.skipif(not envpool_env.available(),
                                   reason="needs the 'envpool' extra")

TINY = ['--set', 'num_agents=4', '--set', 'update_every=16',
        '--set', 'num_minibatches=2', '--set', 'update_epochs=1',
        '--set', 'policy_layers=[16]', '--set', 'value_layers=[16]',
        '--set', 'state_size=8', '--set', 'chunk_length=8', '--set', 'eval_agents=1',
        '--set', 'eval_every=256', '--set', 'steps=256', '--set', 'max_length=50',
        '--set', 'checkpoint_every=256', '--quiet']


# MJX configs compile for 30-100 s each: tests/envs/test_mjx_env.py builds them
# and trains inverted_pendulum_mjx. The MinAtar configs train (two seeds each) in
# tests/scripts/test_configs.py and pong in tests/scripts/test_atari.py.
# The JAX-family configs' envs train in tests/scripts/test_jax_envs.py (Navix, Jumanji,
# Pgx, Brax) and step in tests/envs/test_jax_env.py (all families); their configs
# pass validation in test_configs.py and train in bench/README.md.
TRAINED_ELSEWHERE = {'breakout_minatar', 'asterix_minatar', 'pong',
                     *jax_env_configs.CONFIGS}


@pytest.mark.parametrize('name', sorted(name for name in configs.CONFIGS
                                        if configs.get(name).env_backend != 'mjx'
                                        and name not in TRAINED_ELSEWHERE))
def test_every_listed_config_builds_its_envs_and_trains_a_few_hundred_steps(
    tmp_path, name):
  assert train.main(['--logdir', str(tmp_path), '--config', name,
                     '--timestamp', 't', *TINY]) == 0
  with open(tmp_path / f't-{name}' / 'metrics.jsonl') as stream:
    reports = [json.loads(line) for line in stream]
  assert max(r['step'] for r in reports) == 256
  assert any(r['phase'] == 'eval' and r['episodes'] for r in reports)


def test_list_shows_each_task_once_and_the_alias_still_works(capsys):
  assert train.main(['--list']) == 0
  listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
  for name in ('reacher', 'cheetah', 'walker', 'hopper', 'ant', 'humanoid'):
    assert listed.count(name) == 1
  assert 'half_cheetah' not in listed
  assert configs.get('half_cheetah') == configs.get('cheetah')


def _hopper_batches(max_length):
  config = configs.get('hopper')
  with config.unlocked:
    config.max_length = max_length
  batches = [('gymnasium', make_batch_env(build.env_constructor(config), 4))]
  if envpool_env.available():
    batches.append(('envpool', envpool_env.EnvPoolBatchEnv(
        'Hopper-v5', 4, seed=0, max_length=max_length)))
  return batches


def test_falling_ends_as_terminated_and_the_time_limit_as_truncated():
  for name, batch in _hopper_batches(max_length=400):
    with _closing(batch):
      batch.reset(seeds=[0, 1, 2, 3])
      rng = np.random.default_rng(0)
      fell = None
      for _ in range(300):
        _, _, terminated, truncated, _ = batch.step(rng.uniform(-1, 1, (4, 3)))
        assert not truncated.any(), name
        if terminated.any():
          fell = terminated
          break
      assert fell is not None, f'{name}: random actions never made the hopper fall'
  for name, batch in _hopper_batches(max_length=5):
    with _closing(batch):
      batch.reset(seeds=[0, 1, 2, 3])
      for step in range(5):
        _, _, terminated, truncated, _ = batch.step(np.zeros((4, 3)))
      assert truncated.all() and not terminated.any(), name


class _closing:
  def __init__(self, batch):
    self._batch = batch

  def __enter__(self):
    return self._batch

  def __exit__(self, *exc):
    self._batch.close()


@needs_envpool
def test_envpool_steps_the_task_gymnasium_steps_under_explicit_resets():
  pool = envpool_env.EnvPoolBatchEnv('HalfCheetah-v5', 2, seed=0, max_length=3)
  reference = build.env_constructor(configs.get('cheetah'))()
  try:
    assert pool.observation_space.shape == reference.observation_space.shape
    assert pool.action_space.shape == reference.action_space.shape
    observ = pool.reset()
    assert observ.dtype == np.float32 and np.isfinite(observ).all()
    action = np.array([[0.5, -0.5, 0.2, 0.0, 0.1, -0.3]] * 2, np.float32)
    for _ in range(3):
      observ, reward, terminated, truncated, info = pool.step(action)
    assert truncated.all() and not terminated.any()
    # The control cost is the same function of the action as Gymnasium's.
    reference.reset(seed=0)
    _, _, _, _, ref_info = reference.step(action[0])
    assert len(info) == 2   # One info dict per env, as every backend gives them.
    np.testing.assert_allclose(info[0]['reward_ctrl'], ref_info['reward_ctrl'], rtol=1e-5)
    # Reset explicitly, then step: a real step (EnvPool's auto-reset step,
    # which ignores the action and returns reward 0, never happens).
    first = pool.reset([1, 0])
    assert first.shape == (2, 17)
    observ, reward, _, truncated, info = pool.step(action)
    assert [int(i['elapsed_step']) for i in info] == [1, 1]
    assert (reward != 0).all() and not truncated.any()
  finally:
    pool.close()
    reference.close()


@needs_envpool
def test_envpool_stagger_cuts_only_each_first_episode():
  pool = envpool_env.EnvPoolBatchEnv('HalfCheetah-v5', 8, seed=3, max_length=10,
                                     stagger=True)
  try:
    pool.reset()
    ends = np.full(8, -1)
    for step in range(1, 11):
      _, _, _, truncated, _ = pool.step(np.zeros((8, 6)))
      ends[(ends < 0) & truncated] = step
    assert len(set(ends.tolist())) > 1 and (ends >= 1).all()
    pool.reset()
    for step in range(1, 11):
      _, _, _, truncated, _ = pool.step(np.zeros((8, 6)))
      assert truncated.all() == (step == 10) and truncated.any() == (step == 10)
  finally:
    pool.close()


def test_ppo_learns_inverted_pendulum_past_a_threshold(tmp_path):
  """The learning regression on a cheap MuJoCo task (the locomotion base config)."""
  assert train.main([
      '--logdir', str(tmp_path), '--config', 'cheetah', '--timestamp', 'ip',
      '--set', 'env=InvertedPendulum-v5', '--set', 'steps=49152',
      '--set', 'eval_every=16384', '--set', 'policy_layers=[32,32]',
      '--set', 'value_layers=[32,32]', '--set', 'update_epochs=4',
      '--set', 'num_minibatches=8', '--set', 'update_every=128',
      '--set', 'learning_rate=1e-3', '--quiet']) == 0
  with open(tmp_path / 'ip-cheetah' / 'metrics.jsonl') as stream:
    evals = [json.loads(line) for line in stream if '"eval"' in line]
  assert evals[-1]['mean_score'] >= 400, evals[-1]


def test_a_mujoco_config_without_mujoco_names_the_extra(tmp_path):
  program = (
      "import sys; sys.modules['mujoco'] = None\n"
      'from agents.scripts import train\n'
      f"sys.exit(train.main(['--logdir', {str(tmp_path)!r}, '--config', 'cheetah',"
      " '--set', 'env_backend=gymnasium', '--set', 'env_processes=false', '--quiet']))\n")
  result = subprocess.run([sys.executable, '-c', program], capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 2, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and "pip install -e '.[mujoco]'" in lines[0], result.stderr


def test_mujoco_runs_write_no_log_file_and_no_known_warning(tmp_path):
  program = ('from agents.run import build\nfrom agents.scripts import configs\n'
             "env = build.env_constructor(configs.get('cheetah'))()\n"
             'env.reset(seed=0)\n')
  result = subprocess.run([sys.executable, '-c', program], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
  assert result.returncode == 0, result.stderr
  assert 'settotalmass' not in result.stdout + result.stderr
  assert not os.path.exists(tmp_path / 'MUJOCO_LOG.TXT')


def _body_pixels(frame):
  """Pixels of the cheetah's orange-brown body (the floor is black and green-white,
  the sky grey)."""
  frame = frame.astype(int)
  return int(((frame[..., 0] - frame[..., 2]) > 60).sum())


def test_cheetah_videos_keep_the_body_in_view(monkeypatch):
  monkeypatch.setenv('MUJOCO_GL', os.environ.get('MUJOCO_GL', 'egl'))
  env = build.env_constructor(configs.get('cheetah'), render=True)()
  try:
    env.reset(seed=0)
    model = env.unwrapped
    start = _body_pixels(env.render())
    for _ in range(100):  # Carry the body 10 m forward, as a running cheetah goes.
      qpos = model.data.qpos.copy()
      qpos[0] += 0.1
      model.set_state(qpos, model.data.qvel.copy())
      env.step(np.zeros(6))
    assert model.data.qpos[0] > 9.5
    moved = _body_pixels(env.render())
    # The metric sees a missing body: the same view with the body's geoms hidden.
    rgba = model.model.geom_rgba.copy()
    model.model.geom_rgba[1:, 3] = 0.0   # Geom 0 is the floor.
    hidden = _body_pixels(env.render())
    model.model.geom_rgba[:] = rgba
  finally:
    env.close()
  assert start > 1000 and hidden < 50, (start, hidden)
  assert moved > 0.5 * start, (start, moved)
