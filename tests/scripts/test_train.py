import json
import os
import subprocess
import sys

import numpy as np
import pytest

from agents.scripts import train

TINY = ['--set', 'env_backend=gymnax', '--set', 'num_agents=4',
        '--set', 'update_every=16', '--set', 'num_minibatches=2',
        '--set', 'update_epochs=1', '--set', 'policy_layers=[16]',
        '--set', 'value_layers=[16]', '--set', 'eval_agents=2',
        '--set', 'eval_every=128', '--set', 'report_every=64',
        '--set', 'log_every=64', '--set', 'checkpoint_every=128', '--quiet']


def _run(tmp_path, *args):
  return train.main(['--logdir', str(tmp_path), '--config', 'pendulum',
                     '--timestamp', 'run', *TINY, *args])


def _reports(run_dir):
  with open(os.path.join(run_dir, 'metrics.jsonl')) as stream:
    return [json.loads(line) for line in stream]


def test_writes_config_metrics_events_and_checkpoints(tmp_path, capsys):
  assert _run(tmp_path, '--set', 'steps=256') == 0
  run_dir = tmp_path / 'run-pendulum'
  assert (run_dir / 'config.yaml').exists()
  assert os.listdir(run_dir / 'checkpoints')
  assert any(name.startswith('events') for name in os.listdir(run_dir / 'train'))
  assert any(name.startswith('events') for name in os.listdir(run_dir / 'eval'))
  reports = _reports(run_dir)
  assert {'phase', 'step', 'mean_score', 'mean_length', 'time'} <= set(reports[0])
  assert {r['phase'] for r in reports} == {'train', 'eval'}
  final = capsys.readouterr().out.strip().splitlines()[-1]
  assert 'final eval mean score' in final and str(run_dir) in final


def test_resume_continues_the_step_counter_and_set_extends_steps(tmp_path):
  assert _run(tmp_path, '--set', 'steps=256') == 0
  run_dir = tmp_path / 'run-pendulum'
  first = _reports(run_dir)
  assert max(r['step'] for r in first) == 256
  assert _run(tmp_path, '--set', 'steps=512') == 0
  second = _reports(run_dir)[len(first):]
  assert min(r['step'] for r in second) > 256
  assert max(r['step'] for r in second) == 512
  assert 'steps: 512' in (run_dir / 'config.yaml').read_text()


def test_the_same_seed_gives_identical_metrics(tmp_path):
  scores = []
  for name in ('a', 'b'):
    assert train.main(['--logdir', str(tmp_path / name), '--config', 'pendulum',
                       '--timestamp', 'run', '--seed', '3', *TINY,
                       '--set', 'steps=256']) == 0
    scores.append([(r['phase'], r['step'], r['mean_score'])
                   for r in _reports(tmp_path / name / 'run-pendulum')])
  assert scores[0] == scores[1]


def test_set_parsing_and_its_errors():
  from agents.run.config_checks import apply_overrides
  from agents.errors import ConfigError
  config = apply_overrides(
      train.configs.get('pendulum'), ['steps=1000', 'policy_layers=[8, 8]',
                                      'objective=kl_penalty', 'max_length=null'])
  assert config.steps == 1000 and config.policy_layers == [8, 8]
  assert config.objective == 'kl_penalty' and config.max_length is None
  with pytest.raises(ConfigError, match='expected KEY=VALUE'):
    apply_overrides(config, ['steps'])
  with pytest.raises(ConfigError, match="Unknown config key 'stepz'.*steps"):
    apply_overrides(config, ['stepz=3'])
  with pytest.raises(ConfigError, match='Cannot parse the value of policy_layers'):
    apply_overrides(config, ['policy_layers=[1,'])


@pytest.mark.parametrize('args, message', [
    (['--config', 'pendlum'], "Unknown config 'pendlum'. Known: default, pendulum"),
    (['--config', 'pendulum', '--set', 'nope=1'], "Unknown config key 'nope'"),
    (['--config', 'pendulum', '--set', 'steps'], 'Malformed --set'),
    (['--config', 'pendulum', '--set', 'network=feed_forward_categorical',
      '--set', 'steps=4096'], "needs a Discrete, MultiDiscrete or MultiBinary action space"),
])
def test_bad_input_gets_one_clear_line(tmp_path, capsys, args, message):
  assert train.main(['--logdir', str(tmp_path), '--quiet', *args]) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and message in err


def test_unwritable_logdir_is_one_clear_line(tmp_path, capsys):
  blocker = tmp_path / 'file'
  blocker.write_text('not a directory')
  assert train.main(['--logdir', str(blocker), '--config', 'pendulum']) == 2
  err = capsys.readouterr().err
  assert 'Cannot write the log directory' in err and 'Traceback' not in err


def test_an_env_failing_in_its_worker_is_reported_with_a_resume_command(
    tmp_path, capsys):
  code = _run(tmp_path, '--set', 'env_backend=gymnasium', '--set',
              'env=tests.helpers:RaisingCounter-v0', '--set', 'env_processes=true',
              '--set', 'steps=1024', '--set', 'eval_every=4096')
  assert code == 1
  err = capsys.readouterr().err
  assert 'error: an environment failed at step' in err
  assert '(in env 0)' in err and 'deliberate failure inside step' in err
  assert '--timestamp=run' in err and 'JaxRuntimeError' not in err


def test_list_shows_every_config_with_what_it_trains(capsys):
  assert train.main(['--list']) == 0
  out = capsys.readouterr().out
  for name in ('default', 'pendulum', 'cartpole', 'pendulum_jax'):
    assert name in out
  assert 'Pendulum-v1' in out


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  command = [sys.executable, '-m', 'agents.scripts.train', '--logdir', str(tmp_path),
             '--config', 'pendulum', '--timestamp', 'run', '--set', 'steps=100000000',
             *TINY]
  process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
  metrics = tmp_path / 'run-pendulum' / 'metrics.jsonl'
  import time
  deadline = time.time() + 120
  while time.time() < deadline and not (metrics.exists() and metrics.stat().st_size):
    time.sleep(0.2)
  process.send_signal(2)
  out, err = process.communicate(timeout=60)
  assert process.returncode == 130, err
  assert 'Interrupted by SIGINT at step' in err and 'Traceback' not in err
  assert 'SIGINT: stopping after the current step' in err   # Acknowledged at once.
  assert os.listdir(tmp_path / 'run-pendulum' / 'checkpoints')


def test_programs_that_step_host_envs_are_kept_in_the_compilation_cache(tmp_path):
  cache = tmp_path / 'cache'
  env = dict(os.environ, AGENTS_JAX_CACHE=str(cache), AGENTS_JAX_CACHE_MIN_SECS='0')
  subprocess.run(
      [sys.executable, '-m', 'agents.scripts.train', '--logdir', str(tmp_path),
       '--config', 'pendulum', '--timestamp', 'run', *TINY, '--set', 'steps=128',
       '--set', 'env_backend=gymnasium'], check=True, env=env, timeout=240,
      stdout=subprocess.DEVNULL)
  entries = [name for name in os.listdir(cache) if name.startswith('jit_run_steps')]
  assert len(entries) >= 2, os.listdir(cache)  # The train and the eval program.


def test_seeds_train_side_by_side_and_match_single_runs(tmp_path):
  seeds_dir, single_dir = tmp_path / 'seeds', tmp_path / 'single'
  # In a process of its own, so that JAX starts with a CPU device per core
  # and the two seeds run on two devices (one where the machine has one core).
  result = subprocess.run(
      [sys.executable, '-m', 'agents.scripts.train', '--logdir', str(seeds_dir),
       '--config', 'pendulum', '--timestamp', 'run',
       *[item for item in TINY if item != '--quiet'], '--set', 'steps=256',
       '--seeds', '0', '2'], capture_output=True, text=True, timeout=240)
  assert result.returncode == 0, result.stderr
  devices = min(2, os.cpu_count() or 1)
  assert f'2 seeds in one program, split over {devices} CPU device(s).' in result.stderr
  for seed in (0, 2):
    run_dir = seeds_dir / f'run-pendulum-seed{seed}'
    assert os.listdir(run_dir / 'checkpoints')
    assert f'seed: {seed}' in (run_dir / 'config.yaml').read_text()
    assert train.main(['--logdir', str(single_dir), '--config', 'pendulum',
                       '--timestamp', f's{seed}', '--seed', str(seed), *TINY,
                       '--set', 'steps=256']) == 0
    together = [(r['phase'], r['step'], r['mean_score']) for r in _reports(run_dir)]
    alone = [(r['phase'], r['step'], r['mean_score'])
             for r in _reports(single_dir / f's{seed}-pendulum')]
    assert [t[:2] for t in together] == [a[:2] for a in alone]
    # Batched kernels may round differently: the same curve within 1e-4.
    scores = lambda reports: [np.nan if r[2] is None else r[2] for r in reports]
    np.testing.assert_allclose(scores(together), scores(alone), rtol=1e-4)
  # Resumable like any run, together or one seed alone.
  assert train.main(['--logdir', str(seeds_dir), '--config', 'pendulum',
                     '--timestamp', 'run', *TINY, '--set', 'steps=384',
                     '--seeds', '0', '2']) == 0
  assert max(r['step'] for r in _reports(seeds_dir / 'run-pendulum-seed2')) == 384
  import agents
  assert agents.load_policy(str(seeds_dir / 'run-pendulum-seed2')).step == 384


def test_seeds_of_a_host_env_config_point_to_sweep(tmp_path, capfd):
  assert train.main(['--logdir', str(tmp_path), '--config', 'pendulum',
                     '--seeds', '0', '1', '--quiet']) == 2
  err = capfd.readouterr().err
  assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err
  assert 'python -m agents.scripts.sweep' in err and 'env_backend=gymnax' in err
  assert not os.listdir(tmp_path)
