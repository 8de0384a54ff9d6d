"""Bad input and faults: each ends in one line on stderr (no traceback), the
right exit code, and nothing lost on disk."""

import json
import os

import numpy as np
import pytest

from agents.scripts import train
from agents.run import checkpoint
from agents.run.run_lock import lock_run_dir

TINY = ['--set', 'num_agents=4', '--set', 'update_every=16',
        '--set', 'num_minibatches=2', '--set', 'update_epochs=1',
        '--set', 'policy_layers=[16]', '--set', 'value_layers=[16]',
        '--set', 'eval_agents=2', '--set', 'eval_every=128',
        '--set', 'report_every=64', '--set', 'log_every=64',
        '--set', 'checkpoint_every=64', '--quiet']
GYMNAX = ['--set', 'env_backend=gymnax']


def _main(tmp_path, *args, config='pendulum'):
  return train.main(['--logdir', str(tmp_path), '--config', config,
                     '--timestamp', 'run', *TINY, *args])


def _one_error_line(capfd):
  err = capfd.readouterr().err
  assert 'Traceback' not in err, err
  lines = [line for line in err.splitlines() if line.startswith('error:')]
  assert len(lines) == 1, err
  return lines[0]


def _strict_json_lines(path):
  def reject(constant):
    raise ValueError(f'{constant} is not JSON')
  with open(path) as stream:
    return [json.loads(line, parse_constant=reject) for line in stream]


def _checkpoint_files(run_dir):
  return sorted(os.listdir(run_dir / 'checkpoints'))


# 1. Overrides are parsed to the type of the key.

def test_overrides_take_numbers_in_any_notation(tmp_path):
  assert _main(tmp_path, *GYMNAX, '--set', 'learning_rate=3e-4',
               '--set', 'steps=2.56e2', '--set', 'anneal_learning_rate=false') == 0
  text = (tmp_path / 'run-pendulum' / 'config.yaml').read_text()
  assert 'learning_rate: 0.0003' in text and 'steps: 256' in text


@pytest.mark.parametrize('override, message', [
    ('num_agents=abc', "num_agents must be an integer, got 'abc'"),
    ('num_agents=2.5', "num_agents must be an integer, got '2.5'"),
    ('learning_rate=fast', "learning_rate must be a number (e.g. 3e-4), got 'fast'"),
    ('stagger=maybe', "stagger must be true or false, got 'maybe'"),
])
def test_a_value_of_the_wrong_type_is_named(tmp_path, capfd, override, message):
  assert _main(tmp_path, '--set', override) == 2
  assert message in _one_error_line(capfd)
  assert not os.path.exists(tmp_path / 'run-pendulum')


# 2. The whole config is validated before anything is written.

@pytest.mark.parametrize('override, message', [
    ('num_agents=0', 'num_agents must be >= 1, got 0'),
    ('steps=-5', 'steps must be >= 1, got -5'),
    ('discount=1.5', 'discount must be in (0.0, 1.0], got 1.5'),
    ('num_minibatches=3', 'num_minibatches (3) must divide the rollout of '
                          'num_agents x update_every = 64 steps'),
    ('network=transformer', "Unknown network 'transformer'. Known:"),
    ('objective=ppo2', "Unknown objective 'ppo2'. Known: clip, kl_penalty"),
    ('process_backend=threads', "Unknown process_backend 'threads'"),
    ('policy_layers=[0]', 'policy_layers must be a list of positive layer sizes'),
    ('steps=32', 'steps (32) is less than one rollout: num_agents x update_every = '
                 '4 x 16 = 64 env-steps. Raise steps to at least 64'),
    ('value_layers=[1000000,1000000]', 'value_layers=[1000000, 1000000] has '
                                       "1,000,002,000,000 weights: with gradients and Adam's"),
])
def test_out_of_range_values_are_rejected_before_anything_starts(
    tmp_path, capfd, override, message):
  assert _main(tmp_path, '--set', override) == 2
  assert message in _one_error_line(capfd)
  assert not os.path.exists(tmp_path / 'run-pendulum')


# 3. A resume cannot change the keys that shape the saved state.

def test_resume_refuses_a_changed_network_and_leaves_the_run_untouched(tmp_path, capfd):
  assert _main(tmp_path, *GYMNAX, '--set', 'steps=128') == 0
  run_dir = tmp_path / 'run-pendulum'
  config_before = (run_dir / 'config.yaml').read_text()
  metrics_before = (run_dir / 'metrics.jsonl').read_text()
  files_before = _checkpoint_files(run_dir)
  capfd.readouterr()
  assert _main(tmp_path, *GYMNAX, '--set', 'steps=256',
               '--set', 'policy_layers=[32,32]') == 2
  line = _one_error_line(capfd)
  assert "Cannot change policy_layers [16] -> [32, 32] when resuming" in line
  assert 'another --timestamp' in line
  assert (run_dir / 'config.yaml').read_text() == config_before
  assert (run_dir / 'metrics.jsonl').read_text() == metrics_before
  assert _checkpoint_files(run_dir) == files_before
  # Budgets and intervals can change.
  assert _main(tmp_path, *GYMNAX, '--set', 'steps=256', '--set', 'eval_every=64') == 0
  assert 'eval_every: 64' in (run_dir / 'config.yaml').read_text()


# 4. A damaged newest checkpoint is moved aside; the newest intact one is used.

def test_a_truncated_checkpoint_is_moved_aside_and_the_run_resumes(tmp_path, capfd):
  assert _main(tmp_path, *GYMNAX, '--set', 'steps=256') == 0
  run_dir = tmp_path / 'run-pendulum'
  (step, newest), (previous_step, _) = reversed(
      checkpoint.list_checkpoints(run_dir / 'checkpoints')[-2:])
  with open(newest, 'r+b') as stream:
    stream.truncate(os.path.getsize(newest) // 2)
  capfd.readouterr()
  assert _main(tmp_path, *GYMNAX, '--set', 'steps=384') == 0
  err = capfd.readouterr().err
  assert 'Traceback' not in err
  warnings = [line for line in err.splitlines() if line.startswith('warning:')]
  assert len(warnings) == 1 and f'step {step}' in warnings[0]
  assert f'from step {previous_step}' in err
  assert os.path.exists(f'{newest}.corrupt')   # Kept, never deleted.
  assert checkpoint.list_checkpoints(run_dir / 'checkpoints')[-1][0] == 384


def test_checkpoints_carry_a_digest_that_is_verified(tmp_path, caplog):
  path = checkpoint.save(str(tmp_path), 7, {'x': np.arange(3.0)}, 'seed: 0\n')
  assert checkpoint.read_payload(path)['step'] == 7
  data = bytearray(open(path, 'rb').read())
  data[-3] ^= 0xFF  # One flipped byte that msgpack would still parse.
  open(path, 'wb').write(bytes(data))
  with pytest.raises(checkpoint.CorruptCheckpoint, match='digest'):
    checkpoint.read_payload(path)
  with caplog.at_level('WARNING', logger='agents'):
    assert checkpoint.latest_intact(str(tmp_path)) is None
  warnings = [r for r in caplog.records if 'damaged' in r.getMessage()]
  assert len(warnings) == 1 and os.path.exists(f'{path}.corrupt')


# 5. Divergence stops the run with the last finite checkpoint kept.

def test_divergence_stops_with_one_line_and_keeps_finite_checkpoints(tmp_path, capfd):
  assert _main(tmp_path, *GYMNAX, '--set', 'steps=128') == 0
  run_dir = tmp_path / 'run-pendulum'
  before = _checkpoint_files(run_dir)
  capfd.readouterr()
  assert _main(tmp_path, *GYMNAX, '--set', 'steps=2048',
               '--set', 'learning_rate=1.0e+6', '--set', 'max_grad_norm=0',
               '--set', 'anneal_learning_rate=false') == 1
  line = _one_error_line(capfd)
  assert 'training diverged' in line and 'non-finite' in line
  assert 'the last finite checkpoint is kept' in line
  assert 'learning_rate (now 1e+06)' in line and 'max_grad_norm' in line
  _strict_json_lines(run_dir / 'metrics.jsonl')   # Valid JSON, null for NaN.
  assert _checkpoint_files(run_dir)[0] == before[0]
  files = checkpoint.list_checkpoints(run_dir / 'checkpoints')
  for _, path in files:
    payload = checkpoint.read_payload(path)
    params = payload['state']['learner']['params']
    leaves = [np.asarray(x) for x in __import__('jax').tree_util.tree_leaves(params)]
    assert all(np.isfinite(leaf).all() for leaf in leaves)


# 6. A non-finite env output names the env, the field and the step.

def test_a_nan_observation_names_env_field_and_step(tmp_path, capfd):
  assert _main(tmp_path, '--set', 'env=tests.helpers:NanPendulum-v0',
               '--set', 'stagger=false', '--set', 'steps=4096') == 1
  line = _one_error_line(capfd)
  # Each env's 300th step of its life is step 100 of its second episode.
  assert 'returned a non-finite observation (nan) at step 100 of its episode' in line
  assert line.startswith('error: an environment failed at step ')
  run_dir = tmp_path / 'run-pendulum'
  assert _checkpoint_files(run_dir)     # Checkpoints before the fault are kept.
  _strict_json_lines(run_dir / 'metrics.jsonl')


# 7. One process per run directory.

def test_a_second_process_on_the_same_run_is_refused(tmp_path, capfd):
  run_dir = tmp_path / 'run-pendulum'
  os.makedirs(run_dir)
  held = lock_run_dir(str(run_dir))
  try:
    assert _main(tmp_path, *GYMNAX, '--set', 'steps=128') == 2
    line = _one_error_line(capfd)
    assert f'Another process (pid {os.getpid()}) is training in' in line
    assert not os.path.exists(run_dir / 'config.yaml')
  finally:
    held.close()
  assert _main(tmp_path, *GYMNAX, '--set', 'steps=128') == 0  # Released.


# 9. Extending an annealed run continues the schedule; toggling it keeps state.

def test_extending_a_finished_annealed_run_warns_and_anneal_can_be_switched_off(
    tmp_path, capfd):
  assert _main(tmp_path, *GYMNAX, '--set', 'steps=128') == 0
  capfd.readouterr()
  assert _main(tmp_path, *GYMNAX, '--set', 'steps=256') == 0
  err = capfd.readouterr().err
  assert 'learning rate had decayed to 0 by step 128' in err
  assert _main(tmp_path, *GYMNAX, '--set', 'steps=384',
               '--set', 'anneal_learning_rate=false') == 0


# 10. Observation spaces other than Box.

@pytest.mark.parametrize('env_id', ['FrozenLake-v1', 'Blackjack-v1'])
def test_discrete_and_tuple_observations_are_encoded_and_train(tmp_path, env_id):
  assert _main(tmp_path, '--set', f'env={env_id}', '--set', 'steps=256',
               '--set', 'eval_steps=200', config='cartpole') == 0
  reports = _strict_json_lines(tmp_path / 'run-cartpole' / 'metrics.jsonl')
  assert max(r['step'] for r in reports) == 256


def test_an_observation_space_without_a_flat_form_is_named(tmp_path, capfd):
  assert _main(tmp_path, '--set', 'env=tests.helpers:SequenceObservation-v0',
               '--set', 'steps=128', config='cartpole') == 2
  line = _one_error_line(capfd)
  assert 'SequenceObservation-v0' in line and 'no flat Box form' in line


def test_an_env_failure_leaves_one_line_also_when_the_process_exits(tmp_path):
  """JAX would report a failed host call again at interpreter exit."""
  import subprocess
  import sys
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  result = subprocess.run(
      [sys.executable, '-m', 'agents.scripts.train', '--logdir', str(tmp_path),
       '--config', 'pendulum', '--timestamp', 'run', *TINY,
       '--set', 'env=tests.helpers:NanPendulum-v0', '--set', 'stagger=false',
       '--set', 'steps=512', '--set', 'eval_every=256'],
      capture_output=True, text=True, timeout=300, cwd=root)
  assert result.returncode == 1
  assert 'Traceback' not in result.stderr, result.stderr
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert len(lines) == 1 and 'non-finite observation' in lines[0]


def test_a_program_that_does_not_fit_in_memory_is_one_line(tmp_path, capfd, monkeypatch):
  import jax
  from agents.run import training
  def exhausted(*args, **kwargs):
    raise jax.errors.JaxRuntimeError(
        'RESOURCE_EXHAUSTED: Out of memory while trying to allocate 85899345920 bytes.')
  monkeypatch.setattr(training, 'make_loop', exhausted)
  assert _main(tmp_path, *GYMNAX) == 1
  line = _one_error_line(capfd)
  assert 'out of memory (RESOURCE_EXHAUSTED: Out of memory while trying to allocate' in line
  assert 'Lower num_agents, update_every or the layer sizes' in line


@pytest.mark.parametrize('variable, value, message', [
    ('AGENTS_HOST_CALL', 'bogus', "AGENTS_HOST_CALL='bogus': expected one of ffi, io_callback"),
    ('AGENTS_JAX_CACHE_MIN_SECS', 'abc', "AGENTS_JAX_CACHE_MIN_SECS='abc': expected a number"),
    ('MUJOCO_GL', 'bogus', "MUJOCO_GL='bogus': expected egl"),
])
def test_a_bad_environment_variable_is_one_line_before_anything_is_written(
    tmp_path, capfd, monkeypatch, variable, value, message):
  from agents.scripts import sweep
  monkeypatch.setenv(variable, value)
  assert _main(tmp_path, *GYMNAX) == 2
  assert message in _one_error_line(capfd)
  assert sweep.main(['--logdir', str(tmp_path), '--config', 'pendulum_jax']) == 2
  assert message in _one_error_line(capfd)
  assert not os.listdir(tmp_path)
