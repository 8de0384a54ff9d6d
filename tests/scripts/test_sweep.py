"""The sweep program: a grid of training runs as Ray tasks."""

import os
import signal
import subprocess
import sys
import time

import pytest

from agents.scripts import sweep
from tests import helpers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ['--set', 'num_agents=4', '--set', 'update_every=16', '--set', 'num_minibatches=2',
        '--set', 'update_epochs=1', '--set', 'policy_layers=[16]',
        '--set', 'value_layers=[16]', '--set', 'eval_agents=2', '--set', 'steps=512',
        '--set', 'eval_every=256', '--set', 'stagger=false']


def test_grid_values_split_at_top_level_commas_only():
  assert sweep.split_values('1e-4,3e-4') == ['1e-4', '3e-4']
  assert sweep.split_values('[64,64],[32, 32]') == ['[64,64]', '[32, 32]']
  with pytest.raises(Exception, match="learning_rate must be a number"):
    sweep.grid('pendulum', ['learning_rate=1e-3,fast'])


def test_a_sweep_runs_the_grid_reports_failures_and_resumes(tmp_path, monkeypatch):
  pytest.importorskip('ray')
  monkeypatch.chdir(ROOT)   # So that workers import tests.helpers.
  logdir = tmp_path / 'runs'
  command = [sys.executable, '-m', 'agents.scripts.sweep', f'--logdir={logdir}',
             '--config=pendulum', '--seeds', '0', '--timestamp=s', *TINY,
             '--set', 'env=Pendulum-v1,tests.helpers:NanPendulum-v0']
  with helpers.own_ray_dir() as ray_dir:
    env = dict(os.environ, RAY_TMPDIR=ray_dir)
    first = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert first.returncode == 1, first.stderr
    assert 'Traceback' not in first.stderr
    table = (logdir / 's-pendulum-sweep.md').read_text()
    assert '| env=Pendulum-v1 | 0 |' in table and '| ok |' in table
    assert 'returned a non-finite observation (nan)' in table   # The failure, in one line.
    assert (logdir / 's-pendulum-sweep.png').exists()
    good = logdir / 's-env=Pendulum-v1-seed0-pendulum'
    assert (good / 'checkpoints').is_dir() and (good / 'run.yaml').exists()
    assert not helpers.ray_processes(ray_dir), 'Ray left processes behind'
    # The same command again: the finished run is skipped, the failed one runs again.
    second = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert 'seed0-pendulum: finished before, skipped.' in second.stderr
    assert 'NanPendulum-v0-seed0-pendulum: FAILED' in second.stderr
    assert not helpers.ray_processes(ray_dir)


def test_without_ray_the_sweep_names_the_extra(tmp_path):
  program = ("import sys; sys.modules['ray'] = None\n"
             'from agents.scripts import sweep\n'
             f"sys.exit(sweep.main(['--logdir', {str(tmp_path)!r}, '--config', 'pendulum']))\n")
  result = subprocess.run([sys.executable, '-c', program], capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and "pip install -e '.[ray]'" in lines[0]


@pytest.mark.timeout(400)
@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_every_run_with_a_checkpoint_and_leaves_nothing(tmp_path, signum):
  pytest.importorskip('ray')
  logdir = tmp_path / 'runs'
  metrics = [logdir / f'c-seed{k}-pendulum_jax' / 'metrics.jsonl' for k in (0, 1)]
  with helpers.own_ray_dir() as ray_dir:
    process = subprocess.Popen(
        [sys.executable, '-m', 'agents.scripts.sweep', f'--logdir={logdir}',
         '--config=pendulum_jax', '--seeds', '0', '1', '--timestamp=c',
         '--set', 'steps=50000000', '--set', 'checkpoint_every=100000000'],
        stderr=subprocess.PIPE, text=True, env=dict(os.environ, RAY_TMPDIR=ray_dir))
    try:
      deadline = time.time() + 180
      while not all(m.exists() and m.stat().st_size for m in metrics):
        assert time.time() < deadline and process.poll() is None, 'no run reported'
        time.sleep(0.5)
      process.send_signal(signum)
      start = time.time()
      _, err = process.communicate(timeout=120)
      waited = time.time() - start
    finally:
      if process.poll() is None:
        helpers.kill_tree(process)
    assert process.returncode == 128 + signum and waited < 30, err
    assert 'Resume with the same command and --timestamp=c' in err
    assert 'Traceback' not in err and 'SIGTERM received' not in err and 'PC: @' not in err
    for seed in (0, 1):   # No checkpoint interval was reached: these are the stop's.
      assert os.listdir(logdir / f'c-seed{seed}-pendulum_jax' / 'checkpoints')
    time.sleep(1.0)
    assert not helpers.ray_processes(ray_dir), 'Ray left processes behind'


def test_an_unreachable_ray_address_is_one_line_within_seconds(tmp_path):
  pytest.importorskip('ray')
  start = time.time()
  result = subprocess.run(
      [sys.executable, '-m', 'agents.scripts.sweep', f'--logdir={tmp_path}',
       '--config=pendulum_jax', '--ray_address=127.0.0.1:1'],
      capture_output=True, text=True, timeout=120)
  assert result.returncode == 2, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and "Cannot reach the Ray cluster at '127.0.0.1:1'" in lines[0]
  assert time.time() - start < 60
