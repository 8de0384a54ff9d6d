"""eval_processes: evaluation envs step where the training envs step."""

from agents.scripts import train
from tests.scripts.test_user_envs import TINY


def test_eval_processes_steps_the_evaluation_envs_in_workers(tmp_path, capfd, monkeypatch):
  """With eval_processes, no env steps in the trainer's process but the start-up
  check's; without, evaluation does too."""
  import os
  import shutil
  pids = tmp_path / 'pids'   # One folder: forkserver workers keep the first environment.
  monkeypatch.setenv('AGENTS_TEST_PIDS', str(pids))
  for eval_processes in ('true', 'false'):
    shutil.rmtree(pids, ignore_errors=True)
    pids.mkdir()
    assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp',
                       eval_processes, '--set', 'env=tests.user_envs:WhereAmI', *TINY,
                       '--set', 'env_processes=true', '--set',
                       f'eval_processes={eval_processes}']) == 0, capfd.readouterr().err
    # Workers write where their forkserver's environment says (perhaps elsewhere);
    # this process's steps: the start-up check steps one env 3 times here.
    here = len((pids / str(os.getpid())).read_text().split())
    assert (here == 3) == (eval_processes == 'true'), here


def test_a_host_envs_evaluation_stops_soon_after_its_last_episode(tmp_path, capfd,
                                                                 monkeypatch):
  """WhereAmI declares no time limit (evaluation budgets 1,000 steps an episode) and
  ends its episodes at 10 steps: its evaluation of 2 first episodes runs one call of
  100 steps per env, not 1,000."""
  import os
  pids = tmp_path / 'pids'
  pids.mkdir()
  monkeypatch.setenv('AGENTS_TEST_PIDS', str(pids))
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp', 'r',
                     '--set', 'env=tests.user_envs:WhereAmI', *TINY,
                     '--set', 'eval_steps=none']) == 0, capfd.readouterr().err
  here = len((pids / str(os.getpid())).read_text().split())
  # The start-up check's 3 steps, 128 training steps (4 envs x 32), 2 eval envs x 100.
  assert here == 3 + 128 + 2 * 100
