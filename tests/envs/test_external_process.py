import functools
import os
import threading
import time

import numpy as np
import psutil
import pytest

from agents.tools import ExternalProcess, WorkerDiedError, WorkerError, WorkerTimeoutError
from tests import helpers


def _children() -> set[int]:
  return {child.pid for child in psutil.Process().children(recursive=True)
          if child.status() != psutil.STATUS_ZOMBIE and 'forkserver' not in
          ' '.join(child.cmdline())}


def test_forwards_step_reset_and_attributes_and_steps_in_parallel():
  envs = [ExternalProcess(functools.partial(helpers.counting_env, i)) for i in range(3)]
  try:
    assert envs[0].observation_space.shape == (2,)
    assert [env.reset()[0][0] for env in envs] == [0, 1, 2]
    promises = [env.step(np.array([0.5]), blocking=False) for env in envs]
    results = [promise() for promise in promises]
    assert [r[0].tolist() for r in results] == [[0, 1], [1, 1], [2, 1]]
    assert envs[1].step(np.array([0.25]))[1] == 0.25
    promise = envs[2].reset(blocking=False)
    assert promise()[0].tolist() == [2, 0]
  finally:
    for env in envs:
      env.close()


def test_lambda_constructors_work():
  with ExternalProcess(lambda: helpers.CountingEnv(7)) as env:
    assert env.reset()[0][0] == 7


def test_exception_in_worker_names_env_index_and_carries_traceback():
  with ExternalProcess(helpers.RaisingEnv, index=4) as env:
    env.reset()
    env.step(np.zeros(1))
    env.step(np.zeros(1))
    with pytest.raises(WorkerError) as info:
      env.step(np.zeros(1))
    message = str(info.value)
    assert 'Env 4' in message
    assert 'deliberate failure inside step' in message
    assert 'Traceback' in message and 'helpers.py' in message


def test_worker_killed_mid_run_raises_within_seconds():
  with ExternalProcess(helpers.counting_env, index=1, timeout=60) as env:
    env.reset()
    pid = env._worker.pid
    start = time.time()
    killer = threading.Timer(0.3, os.kill, (pid, 9))
    killer.start()
    with pytest.raises(WorkerDiedError, match='Env 1.*signal 9'):
      while True:
        env.step(np.zeros(1))
    assert time.time() - start < 10


def test_worker_that_kills_itself_inside_step_raises():
  with ExternalProcess(helpers.SuicideEnv, index=2) as env:
    env.reset()
    with pytest.raises(WorkerDiedError, match='Env 2'):
      env.step(np.zeros(1))


def test_stuck_worker_times_out_and_close_leaves_no_process():
  before = _children()
  env = ExternalProcess(helpers.StuckEnv, index=0, timeout=1.0)
  env.reset()
  start = time.time()
  with pytest.raises(WorkerTimeoutError, match='within 1.0 s'):
    env.step(np.zeros(1))
  assert time.time() - start < 5
  start = time.time()
  env.close()
  assert time.time() - start < 5
  assert _children() <= before


def test_unserializable_constructor_raises_clear_error():
  lock = threading.Lock()
  with pytest.raises(TypeError, match='cannot be serialized'):
    ExternalProcess(lambda: (lock, helpers.CountingEnv())[1])
  with pytest.raises(TypeError, match='callable'):
    ExternalProcess(helpers.CountingEnv())


def test_constructor_that_raises_reports_it():
  def broken():
    raise RuntimeError('no such env here')
  with pytest.raises(WorkerError, match='no such env here'):
    ExternalProcess(broken, index=3)


def test_program_from_stdin_gets_advice_not_a_bare_error(tmp_path):
  import subprocess
  import sys
  program = (
      'from agents.tools import ExternalProcess\n'
      'from tests import helpers\n'
      'ExternalProcess(helpers.counting_env, timeout=30)\n')
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  result = subprocess.run([sys.executable, '-'], input=program, text=True,
                          capture_output=True, cwd=root, timeout=120)
  assert result.returncode != 0
  assert 'stdin' in result.stderr and '__main__' in result.stderr
