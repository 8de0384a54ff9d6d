"""SIGINT and SIGTERM, at any moment: a checkpoint at the stop once training
has begun, one line, exit 128 + the signal, and nothing left running."""

import signal
import subprocess
import sys
import time

import pytest

from agents.run import checkpoint

TINY = ['--set', 'env_backend=gymnax', '--set', 'num_agents=4', '--set', 'update_every=16',
        '--set', 'num_minibatches=2', '--set', 'update_epochs=1',
        '--set', 'policy_layers=[16]', '--set', 'value_layers=[16]',
        '--set', 'eval_agents=2', '--set', 'eval_every=256', '--set', 'report_every=64',
        '--set', 'checkpoint_every=1000000', '--set', 'steps=100000000', '--quiet']


def _start(tmp_path, extra=(), **kwargs):
  command = [sys.executable, '-m', 'agents.scripts.train', '--logdir', str(tmp_path),
             '--config', 'pendulum', '--timestamp', 'run', *TINY, *extra]
  return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kwargs)


def _wait_for_reports(tmp_path, process, timeout=120):
  metrics = tmp_path / 'run-pendulum' / 'metrics.jsonl'
  deadline = time.time() + timeout
  while time.time() < deadline and process.poll() is None:
    if metrics.exists() and metrics.stat().st_size:
      return
    time.sleep(0.2)
  raise AssertionError('the run wrote no report in time')


def _stop_after_reports(tmp_path, process, signum):
  """Send `signum` once the run has reported; its output when it has ended."""
  try:
    _wait_for_reports(tmp_path, process)
    process.send_signal(signum)
  finally:
    output = _finish(process)
  return output


def _finish(process, timeout=90):
  try:
    return process.communicate(timeout=timeout)
  finally:
    if process.poll() is None:
      process.kill()
      process.communicate()


@pytest.mark.timeout(240)
def test_sigterm_saves_a_checkpoint_at_the_stop_and_exits_143(tmp_path):
  process = _start(tmp_path)
  out, err = _stop_after_reports(tmp_path, process, signal.SIGTERM)
  assert process.returncode == 143, err
  assert 'Interrupted by SIGTERM at step' in err
  assert 'Traceback' not in err
  # checkpoint_every is 1M: the only checkpoint is the one written at the stop.
  found = checkpoint.list_checkpoints(str(tmp_path / 'run-pendulum' / 'checkpoints'))
  assert len(found) == 1 and found[0][0] > 0
  assert f'step {found[0][0]:,}' in err


@pytest.mark.timeout(240)
def test_a_signal_during_start_up_ends_with_one_line_and_claims_no_checkpoint(tmp_path):
  process = _start(tmp_path)
  try:
    time.sleep(2.0)    # Importing JAX, building the envs, compiling.
    process.send_signal(signal.SIGINT)
  finally:
    out, err = _finish(process)
  assert process.returncode == 130, err
  assert 'Traceback' not in err and 'KeyboardInterrupt' not in err
  if 'before training began' in err:
    assert not checkpoint.list_checkpoints(str(tmp_path / 'run-pendulum' / 'checkpoints'))
  else:   # A fast machine got past start-up within the two seconds.
    assert 'Interrupted by SIGINT at step' in err


@pytest.mark.timeout(240)
def test_a_second_signal_quits_at_once_with_a_line(tmp_path):
  # Long updates (~1 s or more), so that the second signal comes during the stop.
  process = _start(tmp_path, ['--set', 'update_every=512', '--set', 'num_agents=64',
                              '--set', 'num_minibatches=8', '--set', 'update_epochs=100'])
  try:
    _wait_for_reports(tmp_path, process, timeout=180)
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    start = time.time()
  finally:
    out, err = _finish(process, timeout=30)
  assert time.time() - start < 10
  assert 'Traceback' not in err
  if 'Interrupted by SIGINT at step' in err:
    # The first stop was done (checkpoint saved) before the second signal came:
    # it reached Python's interpreter exit, which restores the default
    # handlers, and ended the process by the signal itself.
    assert process.returncode in (130, -signal.SIGINT), err
    assert checkpoint.list_checkpoints(str(tmp_path / 'run-pendulum' / 'checkpoints'))
  else:
    assert process.returncode == 130, err
    assert 'second SIGINT: quitting at once' in err


@pytest.mark.timeout(240)
def test_sigint_inherited_as_ignored_still_stops_the_run(tmp_path):
  def ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # As `cmd &` in a script leaves it.
  process = _start(tmp_path, preexec_fn=ignore_sigint)
  out, err = _stop_after_reports(tmp_path, process, signal.SIGINT)
  assert process.returncode == 130, err
  assert 'Interrupted by SIGINT at step' in err
