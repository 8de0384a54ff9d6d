import json
import os

import imageio
import numpy as np
import pytest

from agents.scripts import plot, train, visualize
from tests import helpers

HOST = ['--set', 'num_agents=4', '--set', 'update_every=16',
        '--set', 'num_minibatches=2', '--set', 'update_epochs=1',
        '--set', 'policy_layers=[16]', '--set', 'value_layers=[16]',
        '--set', 'eval_agents=3', '--set', 'eval_every=256',
        '--set', 'steps=256', '--quiet']


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
  logdir = tmp_path_factory.mktemp('runs')
  assert train.main(['--logdir', str(logdir), '--config', 'pendulum',
                     '--timestamp', 'run', *HOST]) == 0
  return logdir / 'run-pendulum'


def _count_frames(path):
  with imageio.get_reader(path) as reader:
    return sum(1 for _ in reader)


def test_videos_have_a_frame_per_step_and_returns_match_evaluation(run_dir, tmp_path):
  outdir = tmp_path / 'videos'
  assert visualize.main(['--logdir', str(run_dir), '--outdir', str(outdir),
                         '--num_episodes', '3']) == 0
  stats = json.loads((outdir / 'stats.json').read_text())
  assert stats['config'] == 'pendulum' and stats['checkpoint_step'] == 256
  assert len(stats['returns']) == 3 and stats['lengths'] == [200, 200, 200]
  for video, length in zip(stats['videos'], stats['lengths']):
    assert video.endswith('.mp4')
    assert _count_frames(str(outdir / video)) == length + 1
  with open(run_dir / 'metrics.jsonl') as stream:
    evaluation = [json.loads(line) for line in stream
                  if json.loads(line)['phase'] == 'eval'][-1]
  # Same checkpoint, same reset seeds, deterministic policy: same returns.
  assert evaluation['episodes'] == 3
  assert np.mean(stats['returns']) == pytest.approx(evaluation['mean_score'], rel=1e-4)


def test_gif_videos_and_their_stats_equal_the_summed_rewards(run_dir, tmp_path):
  outdir = tmp_path / 'gifs'
  assert visualize.main(['--logdir', str(run_dir), '--outdir', str(outdir),
                         '--num_episodes', '1', '--format', 'gif']) == 0
  stats = json.loads((outdir / 'stats.json').read_text())
  # GIF writers merge identical consecutive frames, so count at most one per step.
  frames = _count_frames(str(outdir / stats['videos'][0]))
  assert stats['lengths'][0] // 2 < frames <= stats['lengths'][0] + 1
  # Replay the episode by hand: the return is the sum of its rewards.
  assert stats['returns'][0] == pytest.approx(helpers.replayed_return(run_dir), rel=1e-5)


def test_missing_config_or_checkpoint_is_one_clear_line(tmp_path, capsys):
  assert visualize.main(['--logdir', str(tmp_path), '--outdir', str(tmp_path / 'o')]) == 2
  assert 'has no config.yaml' in capsys.readouterr().err
  (tmp_path / 'config.yaml').write_text('env: Pendulum-v1\n')
  assert visualize.main(['--logdir', str(tmp_path), '--outdir', str(tmp_path / 'o')]) == 2
  err = capsys.readouterr().err
  assert 'has no checkpoint' in err and len(err.strip().splitlines()) == 1


def test_plot_draws_one_line_per_run(run_dir, tmp_path):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  out = tmp_path / 'curves.png'
  logdir = os.path.dirname(run_dir)
  lines = []
  original = plt.Axes.plot
  def recording(self, *args, **kwargs):
    lines.append(kwargs.get('label'))
    return original(self, *args, **kwargs)
  plt.Axes.plot = recording
  try:
    assert plot.main(['--logdir', str(logdir), '--out', str(out)]) == 0
  finally:
    plt.Axes.plot = original
  assert out.stat().st_size > 1000
  assert imageio.v2.imread(str(out)).ndim == 3
  # One run: one line in each of the train and eval panels.
  assert len(lines) == 2


def test_plot_without_runs_is_one_clear_line(tmp_path, capsys):
  assert plot.main(['--logdir', str(tmp_path), '--out', str(tmp_path / 'x.png')]) == 2
  assert 'No run with a metrics.jsonl' in capsys.readouterr().err


def test_a_bad_mujoco_gl_is_one_line_before_anything_renders(run_dir, tmp_path, capsys,
                                                             monkeypatch):
  monkeypatch.setenv('MUJOCO_GL', 'bogus')
  assert visualize.main(['--logdir', str(run_dir), '--outdir', str(tmp_path / 'o')]) == 2
  err = capsys.readouterr().err.strip()
  assert err.splitlines() == [
      "error: MUJOCO_GL='bogus': expected egl (a GPU or Mesa's EGL), osmesa (software) "
      'or glfw (a display), or unset it.']
  assert not (tmp_path / 'o').exists()


def test_a_renderer_that_cannot_start_gets_the_gl_advice(run_dir, tmp_path, capsys,
                                                         monkeypatch):
  from agents.run import build
  def no_gl(*args, **kwargs):
    raise AttributeError("'NoneType' object has no attribute 'glGetError'")
  monkeypatch.setattr(build, 'env_constructor', lambda *a, **k: no_gl)
  assert visualize.main(['--logdir', str(run_dir), '--outdir', str(tmp_path / 'o')]) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and 'Rendering failed' in err and 'MUJOCO_GL=egl' in err


def test_a_run_of_an_env_that_cannot_be_imported_here_is_a_policy_load_error(
    run_dir, tmp_path, capsys):
  import shutil
  import agents
  from agents.errors import PolicyLoadError
  copy = tmp_path / 'moved-pendulum'
  shutil.copytree(run_dir, copy)
  config = (copy / 'config.yaml').read_text()
  (copy / 'config.yaml').write_text(config.replace('env: Pendulum-v1',
                                                   'env: my_lab_envs:Arm'))
  with pytest.raises(PolicyLoadError, match="the run's env 'my_lab_envs:Arm' cannot be "
                                            "built here: .*cannot import the module"):
    agents.load_policy(str(copy))
  assert visualize.main(['--logdir', str(copy), '--outdir', str(tmp_path / 'o')]) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and "cannot import the module 'my_lab_envs'" in err


@pytest.mark.parametrize('out, written, code', [
    ('curves', 'curves.png', 0), ('curves.pdf', 'curves.pdf', 0),
    ('curves.xyz', None, 2), ('.', None, 2)])
def test_plot_says_the_file_it_wrote(run_dir, tmp_path, capsys, monkeypatch, out,
                                     written, code):
  monkeypatch.chdir(tmp_path)
  assert plot.main(['--logdir', str(os.path.dirname(run_dir)), '--out', out]) == code
  captured = capsys.readouterr()
  if written:
    assert captured.out.startswith(f'Wrote {written} (') and (tmp_path / written).exists()
  else:
    assert len(captured.err.strip().splitlines()) == 1 and 'error: ' in captured.err
