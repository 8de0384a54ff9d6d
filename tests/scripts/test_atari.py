"""Atari: EnvPool trains on uint8 frames, Gymnasium's ALE evaluates whole games
and renders the raw RGB frame (agents/envs/atari.py)."""

import json

import imageio
import numpy as np
import pytest

pytest.importorskip('envpool')
pytest.importorskip('ale_py')

from agents.envs import atari  # noqa: E402
from agents.run import build  # noqa: E402
from agents.scripts import configs, train, visualize  # noqa: E402


def test_envpool_atari_ids_map_to_the_ale_games():
  assert atari.game('Pong-v5') == 'pong' and atari.game('Breakout-v5') == 'breakout'
  assert atari.game('HalfCheetah-v5') is None and atari.game('Pendulum-v1') is None


def test_training_and_evaluation_see_the_same_frames_but_whole_unclipped_games():
  config = configs.get('pong')
  pool = build.envpool_batch_env(config)
  try:
    frames = pool.reset()
    assert frames.shape == (8, 4, 84, 84) and frames.dtype == np.uint8
    assert pool._pool.spec.config.episodic_life and pool._pool.spec.config.reward_clip
  finally:
    pool.close()
  env = build.env_constructor(config)()
  observ, _ = env.reset(seed=0)
  assert observ.shape == (4, 84, 84) and observ.dtype == np.uint8
  assert env.observation_space.dtype == np.uint8
  # A random player loses a whole game 21 (or 20) to nil: one episode, not one per point.
  env.action_space.seed(0)
  score, steps, done = 0.0, 0, False
  while not done:
    observ, reward, terminated, truncated, _ = env.step(env.action_space.sample())
    score, steps, done = score + reward, steps + 1, terminated or truncated
  assert terminated and score <= -19 and steps > 500
  env.close()


def test_pong_trains_evaluates_and_renders_rgb_frames(tmp_path, capfd):
  assert train.main(['--logdir', str(tmp_path), '--config', 'pong', '--timestamp', 'run',
                     '--set', 'steps=1024', '--set', 'eval_every=1024',
                     '--set', 'eval_agents=2', '--set', 'max_length=100']) == 0
  err = capfd.readouterr().err
  assert ('network feed_forward_shared: Nature-CNN torso (channels first) on uint8 images '
          '4x84x84 observations (shared by policy and value), categorical head for '
          'Discrete(6) actions') in err
  with open(tmp_path / 'run-pong' / 'metrics.jsonl') as stream:
    evaluation = [json.loads(line) for line in stream
                  if json.loads(line)['phase'] == 'eval'][-1]
  assert evaluation['episodes'] == 2 and -21 <= evaluation['mean_score'] <= 21
  outdir = tmp_path / 'videos'
  assert visualize.main(['--logdir', str(tmp_path / 'run-pong'), '--outdir', str(outdir),
                         '--num_episodes', '1']) == 0
  stats = json.loads((outdir / 'stats.json').read_text())
  assert stats['lengths'] == [100]
  with imageio.get_reader(str(outdir / stats['videos'][0])) as reader:
    frame = reader.get_data(0)
  assert frame.shape[:2] == (210, 160) or frame.shape[:2] == (208, 160)   # Raw RGB.
  assert frame.shape[2] == 3
