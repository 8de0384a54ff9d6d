"""The sweep program: a grid of training runs as Ray tasks."""

import os
import subprocess
import sys

import psutil
import pytest

from agents.scripts import sweep

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ['--set', 'num_agents=4', '--set', 'update_every=16', '--set', 'num_minibatches=2',
        '--set', 'update_epochs=1', '--set', 'policy_layers=[16]',
        '--set', 'value_layers=[16]', '--set', 'eval_agents=2', '--set', 'steps=512',
        '--set', 'eval_every=256', '--set', 'stagger=false']


def _ray_processes():
  names = ('raylet', 'gcs_server')
  return [p for p in psutil.process_iter(['name', 'cmdline'])
          if any(n in ' '.join(p.info['cmdline'] or []) for n in names)]


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
  first = subprocess.run(command, capture_output=True, text=True, timeout=600)
  assert first.returncode == 1, first.stderr
  assert 'Traceback' not in first.stderr
  table = (logdir / 's-pendulum-sweep.md').read_text()
  assert '| env=Pendulum-v1 | 0 |' in table and '| ok |' in table
  assert 'returned a non-finite observation (nan)' in table   # The failure, in one line.
  assert (logdir / 's-pendulum-sweep.png').exists()
  good = logdir / 's-env=Pendulum-v1-seed0-pendulum'
  assert (good / 'checkpoints').is_dir() and (good / 'run.yaml').exists()
  assert not _ray_processes(), 'Ray left processes behind'
  # The same command again: the finished run is skipped, the failed one runs again.
  second = subprocess.run(command, capture_output=True, text=True, timeout=600)
  assert 'seed0-pendulum: finished before, skipped.' in second.stderr
  assert 'NanPendulum-v0-seed0-pendulum: FAILED' in second.stderr
  assert not _ray_processes()


def test_without_ray_the_sweep_names_the_extra(tmp_path):
  program = ("import sys; sys.modules['ray'] = None\n"
             'from agents.scripts import sweep\n'
             f"sys.exit(sweep.main(['--logdir', {str(tmp_path)!r}, '--config', 'pendulum']))\n")
  result = subprocess.run([sys.executable, '-c', program], capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and "pip install -e '.[ray]'" in lines[0]


def test_ctrl_c_stops_every_run_with_a_checkpoint_and_leaves_nothing(tmp_path):
  pytest.importorskip('ray')
  import signal
  import time
  logdir = tmp_path / 'runs'
  process = subprocess.Popen(
      [sys.executable, '-m', 'agents.scripts.sweep', f'--logdir={logdir}',
       '--config=pendulum_jax', '--seeds', '0', '1', '--timestamp=c',
       '--set', 'steps=50000000', '--set', 'checkpoint_every=100000000'],
      stderr=subprocess.PIPE, text=True)
  metrics = [logdir / f'c-seed{k}-pendulum_jax' / 'metrics.jsonl' for k in (0, 1)]
  deadline = time.time() + 120
  while not all(m.exists() and m.stat().st_size for m in metrics):
    assert time.time() < deadline and process.poll() is None
    time.sleep(0.5)
  process.send_signal(signal.SIGINT)
  start = time.time()
  _, err = process.communicate(timeout=120)
  assert process.returncode == 130 and time.time() - start < 30, err
  assert 'Resume with the same command and --timestamp=c' in err
  for seed in (0, 1):   # No checkpoint interval was reached: these are Ctrl-C's.
    assert os.listdir(logdir / f'c-seed{seed}-pendulum_jax' / 'checkpoints')
  assert not _ray_processes()
