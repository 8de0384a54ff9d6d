"""Envs with faults, for the tests of the process backends."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time

import gymnasium as gym
import numpy as np
import psutil


class CountingEnv(gym.Env):
  """Observation = [index, steps]; reward = action; ends after `duration` steps."""

  def __init__(self, index: int = 0, duration: int = 5) -> None:
    self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    self.action_space = gym.spaces.Box(-1, 1, (1,), np.float32)
    self._index, self._duration, self._steps = index, duration, 0

  def reset(self, *, seed=None, options=None):
    self._steps = 0
    return np.array([self._index, 0], np.float32), {}

  def step(self, action):
    self._steps += 1
    observ = np.array([self._index, self._steps], np.float32)
    return observ, float(np.asarray(action).ravel()[0]), self._steps >= self._duration, False, {}


class RaisingEnv(CountingEnv):
  """Raises inside step after `after` steps."""

  def __init__(self, after: int = 2, duration: int = 5,
               render_mode: str | None = None) -> None:
    super().__init__(duration=duration)
    self._after = after

  def step(self, action):
    if self._steps >= self._after:
      raise ValueError('deliberate failure inside step')
    return super().step(action)


class StuckEnv(CountingEnv):
  """Sleeps (practically) forever inside step."""

  def step(self, action):
    time.sleep(3600)


class SuicideEnv(CountingEnv):
  """Kills its own process with SIGKILL inside step."""

  def step(self, action):
    os.kill(os.getpid(), signal.SIGKILL)


class WrongSpaceEnv(CountingEnv):
  def __init__(self) -> None:
    super().__init__()
    self.observation_space = gym.spaces.Box(-1, 1, (3,), np.float32)


def counting_env(index: int = 0, duration: int = 5) -> CountingEnv:
  return CountingEnv(index, duration)


def pendulum() -> gym.Env:
  return gym.make('Pendulum-v1')


# For the training program's tests: gym.make('tests.helpers:RaisingCounter-v0')
# imports this module (also inside a worker process) and finds the id.
gym.register('RaisingCounter-v0', entry_point=RaisingEnv, kwargs={'after': 40, 'duration': 1000})


class NanAfter(gym.Env):
  """Pendulum whose `after`-th step (counted over its whole life) returns a NaN
  observation."""
  metadata = {'render_modes': ['rgb_array'], 'render_fps': 30}

  def __init__(self, after: int = 300, render_mode: str | None = None) -> None:
    self._env = gym.make('Pendulum-v1', render_mode=render_mode)
    self.observation_space = self._env.observation_space
    self.action_space = self._env.action_space
    self.render_mode = render_mode
    self._after, self._steps = after, 0

  def reset(self, *, seed=None, options=None):
    return self._env.reset(seed=seed, options=options)

  def step(self, action):
    observ, reward, terminated, truncated, info = self._env.step(action)
    self._steps += 1
    if self._steps == self._after:
      observ = np.full_like(observ, np.nan)
    return observ, reward, terminated, truncated, info

  def render(self):
    return self._env.render()


class SequenceObservationEnv(CountingEnv):
  """Observations of varying length: no flat Box form."""

  def __init__(self, render_mode: str | None = None) -> None:
    super().__init__()
    self.observation_space = gym.spaces.Sequence(gym.spaces.Discrete(3))


gym.register('NanPendulum-v0', entry_point=NanAfter, max_episode_steps=200)
gym.register('SequenceObservation-v0', entry_point=SequenceObservationEnv,
             max_episode_steps=10)


# Ray processes a test starts, told apart from any other Ray on the machine by
# their temporary directory (RAY_TMPDIR; short, for Ray's socket paths).

@contextlib.contextmanager
def own_ray_dir():
  """A RAY_TMPDIR for one test; the Ray processes under it are killed at the end."""
  path = tempfile.mkdtemp(prefix='ray-', dir='/tmp')
  try:
    yield path
  finally:
    for process in ray_processes(path):
      try:
        process.kill()
      except psutil.Error:
        pass
    shutil.rmtree(path, ignore_errors=True)


def ray_processes(path: str) -> list:
  """The live processes whose command line names `path` (Ray's, for own_ray_dir)."""
  found = []
  for process in psutil.process_iter(['cmdline']):
    try:
      if path in ' '.join(process.info['cmdline'] or []) and process.is_running():
        found.append(process)
    except psutil.Error:
      continue
  return found


def kill_tree(process) -> None:
  """Kill a subprocess.Popen and every process under it (a failed test's cleanup)."""
  try:
    children = psutil.Process(process.pid).children(recursive=True)
  except psutil.Error:
    children = []
  for child in children:
    try:
      child.kill()
    except psutil.Error:
      pass
  if process.poll() is None:
    process.kill()
  process.communicate()


def replayed_return(run_dir: str) -> float:
  """The return of the run's first evaluation episode, replayed by hand with
  `agents.load_policy` and its own env (what visualize's stats must equal)."""
  import agents
  policy = agents.load_policy(str(run_dir))
  env = policy.make_env()
  observ, _ = env.reset(seed=policy.config.eval_seed)
  total, done = 0.0, False
  while not done:
    observ, reward, terminated, truncated, _ = env.step(policy(observ))
    total, done = total + float(reward), terminated or truncated
  env.close()
  return total


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_in_fresh_process(code: str, timeout: float = 240):
  """`python -c code` in a new process at the repo's root (so `tests` imports):
  the CompletedProcess, text output captured."""
  import subprocess
  import sys
  return subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                        text=True, timeout=timeout)


def last_line_in_fresh_process(code: str, timeout: float = 240) -> str:
  """The last line `code` prints in a fresh process, which must exit 0."""
  result = python_in_fresh_process(code, timeout)
  assert result.returncode == 0, result.stderr
  return result.stdout.strip().splitlines()[-1]
