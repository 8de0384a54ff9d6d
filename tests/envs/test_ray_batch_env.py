"""RayBatchEnv: a batch of envs over Ray actors, with the workers' guarantees."""

import json
import os
import threading
import time

import numpy as np
import psutil
import pytest

from tests import helpers

ray = pytest.importorskip('ray')
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module', autouse=True)
def local_ray():
  os.environ['PYTHONPATH'] = ROOT   # Actors import tests.helpers.
  ray.init(_node_ip_address='127.0.0.1', include_dashboard=False, num_cpus=2,
           log_to_driver=False, configure_logging=False)
  yield
  ray.shutdown()


def _batch(constructors, **kwargs):
  from agents.envs.ray_batch_env import RayBatchEnv
  return RayBatchEnv(constructors, 2, **kwargs)


def test_steps_and_resets_subsets_in_order():
  with _batch([lambda i=i: helpers.CountingEnv(i, duration=3) for i in range(4)]) as env:
    observ = env.reset()
    np.testing.assert_array_equal(observ[:, 0], [0, 1, 2, 3])
    observ, reward, terminated, truncated, _ = env.step(np.full((4, 1), 0.5, np.float32))
    np.testing.assert_array_equal(observ, [[i, 1] for i in range(4)])
    assert reward.dtype == np.float32 and (reward == 0.5).all()
    np.testing.assert_array_equal(env.reset([3, 0])[:, 0], [3, 0])
    with pytest.raises(ValueError, match=r'Expected a batch of actions of shape \(4, 1\)'):
      env.step(np.zeros((3, 1)))


def test_a_stranger_without_the_key_cannot_connect_and_the_port_closes(monkeypatch):
  """The actors' connections are authenticated; the port is open only during start-up."""
  from multiprocessing.connection import AuthenticationError, Client
  from agents.envs import ray_batch_env
  refused = []

  class ListenerWithStranger(ray_batch_env.Listener):
    def __init__(self, *args, **kwargs):
      super().__init__(*args, **kwargs)
      threading.Thread(target=self.stranger, daemon=True).start()

    def stranger(self):
      try:
        Client(self.address, authkey=b'wrong key')
      except (AuthenticationError, EOFError, ConnectionError) as error:
        refused.append(error)

  monkeypatch.setattr(ray_batch_env, 'Listener', ListenerWithStranger)
  with _batch([lambda i=i: helpers.CountingEnv(i, duration=3) for i in range(4)]) as env:
    np.testing.assert_array_equal(env.reset()[:, 0], [0, 1, 2, 3])
    assert env.listen_address[0] == '127.0.0.1'
    with pytest.raises(ConnectionRefusedError):
      Client(env.listen_address, authkey=b'wrong key')
  assert refused and isinstance(refused[0], AuthenticationError)


def test_actors_connect_to_loopback_on_one_node_and_to_this_nodes_address_in_a_cluster():
  from agents.envs.ray_batch_env import connect_host
  me = {'NodeID': 'a', 'NodeManagerAddress': '10.0.0.5', 'Alive': True}
  other = {'NodeID': 'b', 'NodeManagerAddress': '10.0.0.6', 'Alive': True}
  assert connect_host([me], 'a') == '127.0.0.1'
  assert connect_host([me, dict(other, Alive=False)], 'a') == '127.0.0.1'
  assert connect_host([other, me], 'a') == '10.0.0.5'


def test_actors_that_cannot_connect_back_give_an_error_not_a_hang(monkeypatch):
  """E.g. a firewall between the nodes: the actors' connections are refused."""
  from agents.envs import ray_batch_env
  from agents.envs.process import WorkerError

  class ListenerOnAnotherPort(ray_batch_env.Listener):
    @property
    def address(self):
      host, _ = super().address
      return host, 1   # Nothing listens there.

  monkeypatch.setattr(ray_batch_env, 'Listener', ListenerOnAnotherPort)
  start = time.time()
  with pytest.raises(WorkerError, match=r'could not connect back to 127\.0\.0\.1:1: '
                     r'.*Connection refused'):
    _batch([helpers.counting_env, helpers.counting_env])
  assert time.time() - start < 30


def test_actors_the_cluster_cannot_place_are_named_within_the_allowance(monkeypatch):
  """Actors asking for more CPUs than the cluster has wait in Ray's queue for
  ever; start-up gives up after its allowance and says what to check."""
  from agents.envs import ray_batch_env
  from agents.envs.process import WorkerTimeoutError
  monkeypatch.setattr(ray_batch_env, '_START_TIMEOUT', 3.0)
  start = time.time()
  with pytest.raises(WorkerTimeoutError, match=r'did not start within 3 s \(does the '
                     r'cluster have 64 free CPU for each of the 2 actors\? `ray status`'):
    _batch([helpers.counting_env, helpers.counting_env], timeout=1.0, cpus_per_actor=64)
  assert time.time() - start < 30


@pytest.mark.parametrize('constructor, error, text', [
    (lambda: helpers.RaisingEnv(after=1), 'WorkerError', 'deliberate failure inside step'),
    (helpers.SuicideEnv, 'WorkerDiedError', 'died during step()'),
    (helpers.StuckEnv, 'WorkerTimeoutError', 'did not answer step() within 3 s'),
])
def test_failures_name_the_env_and_never_hang(constructor, error, text):
  env = _batch([helpers.counting_env, constructor, helpers.counting_env], timeout=3.0)
  pids = env.actor_pids
  try:
    env.reset()
    start = time.time()
    with pytest.raises(Exception) as caught:
      for _ in range(3):
        env.step(np.zeros((3, 1), np.float32))
    assert type(caught.value).__name__ == error and text in str(caught.value)
    if error == 'WorkerError':
      assert '(in env 1)' in str(caught.value)
    if error == 'WorkerDiedError':
      assert 'envs 1..2' in str(caught.value)   # Env 1 lives in the second actor.
    assert time.time() - start < 10
  finally:
    start = time.time()
    env.close()
    assert time.time() - start < 10
  time.sleep(1.0)
  alive = [p for p in pids if psutil.pid_exists(p) and
           psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
  assert not alive, 'close() left actor processes running'


@pytest.mark.parametrize('env', [None, 'tests.user_envs:PickValidPair'])
def test_the_training_program_runs_on_ray_actors(tmp_path, env):
  """Also with action masks (PickValidPair raises on an invalid action)."""
  from agents.scripts import train
  extra = [] if env is None else ['--set', f'env={env}']
  assert train.main(['--logdir', str(tmp_path), '--config', 'pendulum', '--timestamp', 'r',
                     *extra,
                     '--set', 'env_processes=true', '--set', 'process_backend=ray',
                     '--set', 'num_agents=4', '--set', 'update_every=16',
                     '--set', 'num_minibatches=2', '--set', 'steps=128',
                     '--set', 'eval_every=128', '--set', 'eval_agents=2',
                     '--quiet']) == 0
  with open(tmp_path / 'r-pendulum' / 'metrics.jsonl') as stream:
    assert max(json.loads(line)['step'] for line in stream) == 128


def test_ctrl_c_saves_a_checkpoint_and_leaves_no_actor(tmp_path):
  """Ctrl-C reaches the whole process group, Ray's actors included."""
  import signal
  import subprocess
  import sys
  from tests import helpers
  with helpers.own_ray_dir() as ray_dir:
    process = subprocess.Popen(
        [sys.executable, '-m', 'agents.scripts.train', '--logdir', str(tmp_path),
         '--config', 'pendulum', '--timestamp', 'r', '--set', 'env_processes=true',
         '--set', 'process_backend=ray', '--set', 'num_agents=4', '--set', 'steps=10000000',
         '--set', 'report_every=512', '--quiet'],
        start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=ROOT, RAY_TMPDIR=ray_dir))
    try:
      metrics = tmp_path / 'r-pendulum' / 'metrics.jsonl'
      deadline = time.time() + 120
      while time.time() < deadline and not (metrics.exists() and metrics.read_text()):
        time.sleep(0.5)
      os.killpg(process.pid, signal.SIGINT)
      _, err = process.communicate(timeout=60)
    finally:
      if process.poll() is None:
        helpers.kill_tree(process)
    assert process.returncode == 130, err
    assert 'checkpoint saved' in err and 'Traceback' not in err
    assert os.listdir(tmp_path / 'r-pendulum' / 'checkpoints')
    time.sleep(1.0)
    assert not helpers.ray_processes(ray_dir), 'Ctrl-C left Ray processes running'
