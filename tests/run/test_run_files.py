"""Damaged or contradictory run files: one line naming the file and the fix, never a
silent restart; environment variables checked before anything is written."""

import os
import subprocess
import sys

import pytest

from agents.scripts import plot, train

TINY = ['--set', 'env_backend=gymnax', '--set', 'num_agents=4', '--set', 'update_every=16',
        '--set', 'num_minibatches=2', '--set', 'update_epochs=1',
        '--set', 'policy_layers=[16]', '--set', 'value_layers=[16]',
        '--set', 'eval_agents=2', '--set', 'eval_every=128', '--set', 'report_every=64',
        '--set', 'checkpoint_every=64', '--quiet']


def _train(tmp_path, *args):
  return train.main(['--logdir', str(tmp_path), '--config', 'pendulum',
                     '--timestamp', 'run', *TINY, *args])


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
  logdir = tmp_path_factory.mktemp('finished')
  assert _train(logdir, '--set', 'steps=128') == 0
  return logdir


def _copy(finished, tmp_path):
  import shutil
  shutil.copytree(finished, tmp_path, dirs_exist_ok=True)
  return tmp_path / 'run-pendulum'


@pytest.mark.parametrize('content', [b'\xff\xfe\x00bytes', b'steps: [1, 2\n', b'- a\n- list\n'])
def test_a_damaged_config_yaml_is_one_line_naming_it(finished, tmp_path, capsys, content):
  run = _copy(finished, tmp_path)
  (run / 'config.yaml').write_bytes(content)
  assert _train(tmp_path, '--set', 'steps=192') == 2
  err = capsys.readouterr().err
  assert 'config.yaml is damaged' in err and 'another --timestamp' in err
  assert 'Traceback' not in err and (run / 'config.yaml').read_bytes() == content


def test_when_every_checkpoint_is_damaged_the_resume_is_refused(finished, tmp_path, capsys):
  run = _copy(finished, tmp_path)
  for name in os.listdir(run / 'checkpoints'):
    if (run / 'checkpoints' / name).is_file():       # checkpoints/best/ is a folder.
      (run / 'checkpoints' / name).write_bytes(b'agents-checkpoint 1 sha256=00\nbroken')
  history = (run / 'metrics.jsonl').read_text()
  assert _train(tmp_path, '--set', 'steps=192') == 2
  err = capsys.readouterr().err
  assert 'every checkpoint' in err and 'damaged' in err and 'another --timestamp' in err
  assert (run / 'metrics.jsonl').read_text() == history   # The history is kept.


def test_resuming_a_finished_run_reports_its_last_evaluation(finished, tmp_path, capsys):
  _copy(finished, tmp_path)
  assert _train(tmp_path, '--set', 'steps=128') == 0
  out = capsys.readouterr().out
  assert 'Done at step 128: final eval mean score' in out


def test_a_budget_below_the_step_reached_is_refused(finished, tmp_path, capsys):
  run = _copy(finished, tmp_path)
  assert _train(tmp_path, '--set', 'steps=64') == 2
  err = capsys.readouterr().err
  assert 'steps=64 is below the step this run has reached (128)' in err
  assert 'steps: 128' in (run / 'config.yaml').read_text()


@pytest.mark.parametrize('name, value', [('AGENTS_HOST_CALL', 'bogus'),
                                         ('AGENTS_JAX_CACHE_MIN_SECS', 'abc')])
def test_bad_environment_variables_are_one_line_before_anything_is_written(
    tmp_path, name, value):
  env = dict(os.environ, **{name: value})
  result = subprocess.run(
      [sys.executable, '-m', 'agents.scripts.train', '--logdir', str(tmp_path),
       '--config', 'pendulum', '--timestamp', 'run', *TINY],
      capture_output=True, text=True, timeout=120, env=env)
  assert result.returncode == 2, result.stderr
  assert result.stderr.strip().startswith(f"error: {name}='{value}'")
  assert 'Traceback' not in result.stderr and not os.listdir(tmp_path)


@pytest.mark.parametrize('timestamp', ['../../escape', '/tmp/abs', '.hidden'])
def test_timestamps_are_names_not_paths(tmp_path, capsys, timestamp):
  code = train.main(['--logdir', str(tmp_path / 'logs'), '--config', 'pendulum',
                     '--timestamp', timestamp, *TINY])
  assert code == 2 and '--timestamp must be a plain name' in capsys.readouterr().err
  assert not os.path.exists(tmp_path / 'logs') and not os.path.exists(tmp_path / 'escape')


def test_the_resume_command_is_shell_quoted(tmp_path, capsys):
  from agents.run.run_dir import RunDir
  command = RunDir(str(tmp_path / 'my runs'), 'pendulum', 'a').resume_command()
  assert f"'--logdir={tmp_path}/my runs'" in command


def test_plot_counts_a_run_once_through_symlinks_and_loops(finished, tmp_path):
  logdir = tmp_path / 'logs'
  logdir.mkdir()
  os.symlink(finished / 'run-pendulum', logdir / 'run-pendulum')
  os.symlink(finished / 'run-pendulum', logdir / 'again')
  os.symlink(logdir, logdir / 'loop')
  assert len(plot.find_runs(str(logdir))) == 1


def test_plot_skips_a_metrics_line_cut_short(finished, tmp_path, caplog):
  run = _copy(finished, tmp_path)
  with open(run / 'metrics.jsonl', 'a') as stream:
    stream.write('{"phase": "train", "st')
  curves = plot.read_curves(str(run))
  assert list(curves['eval'][0]) == [128]   # The intact lines still count.
  assert any('not reports' in record.getMessage() for record in caplog.records)
