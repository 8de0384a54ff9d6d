import json

import imageio
import numpy as np
import pytest

from agents.envs import gymnax_host, named_env
from agents.scripts import train, visualize
from tests import helpers

TINY = ['--set', 'num_agents=4', '--set', 'update_every=16', '--set', 'num_minibatches=2',
        '--set', 'update_epochs=1', '--set', 'policy_layers=[16]', '--set', 'value_layers=[16]',
        '--set', 'eval_agents=2', '--set', 'eval_every=128', '--set', 'eval_steps=None',
        '--set', 'steps=128', '--quiet']


def test_only_names_gymnasium_lacks_go_to_gymnax():
  assert gymnax_host.knows('Breakout-MinAtar')
  assert not gymnax_host.knows('Pendulum-v1')       # Both have it: Gymnasium's.
  assert not gymnax_host.knows('NoSuchEnv-v0')
  env = named_env.make('Breakout-MinAtar')
  assert isinstance(env, gymnax_host.GymnaxHostEnv)
  assert env.observation_space.shape == (10, 10, 4) and env.action_space.n == 3


def test_a_cell_takes_the_colour_of_its_last_lit_channel():
  observ = np.zeros((10, 8, 3), np.float32)
  observ[0, 0, 0] = 1
  observ[1, 1, [0, 2]] = 1
  frame = gymnax_host.channel_frame(observ)
  assert frame.shape == (200, 160, 3) and frame.dtype == np.uint8   # 20 px a cell.
  palette = gymnax_host._palette(3)
  assert (frame[:20, :20] == palette[1]).all()
  assert (frame[20:40, 20:40] == palette[3]).all()
  assert (frame[40:, :] == 0).all() and len({tuple(c) for c in palette}) == 4


def test_seeded_episodes_repeat_and_end_as_terminated():
  env = gymnax_host.GymnaxHostEnv('Breakout-MinAtar', 'rgb_array')

  def episode(seed):
    observ, _ = env.reset(seed=seed)
    observs, done, steps = [observ], False, 0
    while not done:
      observ, reward, terminated, truncated, _ = env.step(steps % 3)
      observs.append(observ)
      done, steps = terminated or truncated, steps + 1
    return np.stack(observs), terminated, truncated

  first, terminated, truncated = episode(5)
  again, _, _ = episode(5)
  np.testing.assert_array_equal(first, again)
  assert terminated and not truncated        # The ball was lost: a natural end.
  others = {episode(seed)[0].tobytes() for seed in range(8)}
  assert len(others) > 1                     # The seed picks the ball's start.
  assert env.render().shape == (160, 160, 3)


def test_visualize_renders_a_minatar_run_and_its_returns_are_the_rewards(tmp_path):
  logdir = tmp_path / 'runs'
  assert train.main(['--logdir', str(logdir), '--config', 'breakout_minatar',
                     '--timestamp', 'run', *TINY]) == 0
  run_dir = logdir / 'run-breakout_minatar'
  outdir = tmp_path / 'videos'
  assert visualize.main(['--logdir', str(run_dir), '--outdir', str(outdir),
                         '--num_episodes', '2']) == 0
  stats = json.loads((outdir / 'stats.json').read_text())
  for video, length in zip(stats['videos'], stats['lengths']):
    with imageio.get_reader(str(outdir / video)) as reader:
      frames = [frame for frame in reader]
    assert len(frames) == length + 1 and frames[0].shape == (160, 160, 3)
  assert stats['returns'][0] == pytest.approx(helpers.replayed_return(run_dir))
