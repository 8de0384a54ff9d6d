"""Exported policies (ONNX under onnxruntime, StableHLO) act as load_policy does
on the evaluation episodes."""

import os

import numpy as np
import pytest

import agents
from agents.run import export as export_lib
from agents.scripts import export

TINY = dict(num_agents=4, update_every=16, num_minibatches=2, update_epochs=1,
            policy_layers=[16], value_layers=[16], eval_agents=2, eval_every=128,
            steps=128, state_size=8, chunk_length=8)


def _runner(path, fmt):
  if fmt == 'stablehlo':
    return export_lib.load_stablehlo(path)
  onnxruntime = pytest.importorskip('onnxruntime')
  session = onnxruntime.InferenceSession(path)
  names = [i.name for i in session.get_inputs()]
  return lambda *args: tuple(session.run(None, dict(zip(names, args))))


def _compare(run_dir, fmt, tmp_path, recurrent=False, episodes=2, extra=()):
  out = str(tmp_path / f'policy.{fmt}')
  assert export.main(['--logdir', run_dir, '--format', fmt, '--out', out, *extra]) == 0
  run = _runner(out, fmt)
  policy = agents.load_policy(run_dir)
  env = policy.make_env()
  steps = 0
  for episode in range(episodes):
    observ, _ = env.reset(seed=policy.config.eval_seed + episode)
    policy.reset()
    state = np.zeros((1, policy._algorithm.network.state_size), np.float32)
    done = False
    while not done:
      expected = policy(observ)
      batch = observ[None].astype(np.float32)
      if recurrent:
        action, state = run(batch, state)
      else:
        result = run(batch)
        action = result[0] if isinstance(result, tuple) else result
      action = np.asarray(action)[0]
      np.testing.assert_allclose(action, expected, atol=1e-5, rtol=1e-5)
      observ, _, terminated, truncated, _ = env.step(expected)
      done, steps = terminated or truncated, steps + 1
  return steps


@pytest.mark.parametrize('config, env, recurrent', [
    ('pendulum', None, False),                       # Gaussian, scaled to the bounds.
    ('cartpole', None, False),                       # Categorical.
    ('pendulum_recurrent', None, True),              # GRU state in and out.
    ('cartpole', 'tests.user_envs:PickValidPair', False),   # Masked MultiDiscrete.
    ('cartpole', 'tests.user_envs:BrightSquare', False),    # uint8 images, Nature-CNN.
])
def test_an_exported_policy_acts_as_load_policy_does(tmp_path, config, env, recurrent):
  values = dict(TINY, env=env) if env else TINY
  run = agents.train(config, logdir=str(tmp_path), timestamp='x', **values)
  assert _compare(run.run_dir, 'stablehlo', tmp_path, recurrent) >= 20
  pytest.importorskip('jax2onnx')
  assert _compare(run.run_dir, 'onnx', tmp_path, recurrent) >= 20
  if config == 'cartpole' and not env:          # A fixed batch of one acts the same.
    assert _compare(run.run_dir, 'onnx', tmp_path, recurrent, extra=('--batch', '1')) >= 20


def test_export_errors_are_one_line(tmp_path, capfd):
  assert export.main(['--logdir', str(tmp_path / 'none'), '--out', str(tmp_path / 'p')]) == 2
  assert "No run directory" in capfd.readouterr().err
  assert export.main(['--logdir', str(tmp_path), '--out', str(tmp_path)]) == 2
  assert 'is a directory; give a file name' in capfd.readouterr().err
  assert export.main(['--logdir', str(tmp_path), '--out', 'p', '--batch', '0']) == 2
  assert '--batch must be >= 1' in capfd.readouterr().err


def test_onnx_without_the_export_extra_names_it(tmp_path, capfd, monkeypatch):
  import sys
  run = agents.train('cartpole', logdir=str(tmp_path), timestamp='x', **TINY)
  monkeypatch.setitem(sys.modules, 'jax2onnx', None)     # As if not installed.
  out = tmp_path / 'p.onnx'
  assert export.main(['--logdir', run.run_dir, '--format', 'onnx', '--out', str(out)]) == 2
  assert "needs jax2onnx and onnxruntime: pip install -e '.[export]'" in capfd.readouterr().err
  assert not out.exists()
