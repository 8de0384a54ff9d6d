r"""Render a trained policy: `python -m agents.scripts.visualize --logdir=<run> --outdir=<dir>`.

Loads the run's config.yaml and its latest checkpoint (normalizers included),
runs the deterministic policy for --num_episodes episodes on the evaluation
seeds, and writes one video per episode plus stats.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import warnings
from typing import Any, Sequence

os.environ.setdefault('SDL_AUDIODRIVER', 'dummy')
os.environ.setdefault('SDL_VIDEODRIVER', 'dummy')
os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np

# imageio starts ffmpeg with fork+exec, which is safe; JAX warns about any fork.
warnings.filterwarnings('ignore', message='os.fork', category=RuntimeWarning)

from agents import settings
from agents.envs import gymnax_host, named_env
from agents.errors import ConfigError, EnvError, UsageError
from agents.scripts import configs
from agents.parts.attr_dict import AttrDict

GL_ADVICE = (
    'Rendering MuJoCo envs without a display needs EGL or OSMesa: install '
    "Debian's `libegl1 libopengl0 libgl1-mesa-dri` and set MUJOCO_GL=egl, or "
    '`libosmesa6` and set MUJOCO_GL=osmesa.')


class VisualizeError(UsageError):
  """A problem with the run directory or rendering; printed as one line."""


def render_episodes(config: AttrDict, checkpoint_path: str, num_episodes: int,
                    outdir: str, video_format: str, fps: int,
                    max_frames: int | None = None, every: int = 1,
                    downsample: int = 1) -> dict:
  """Run and record `num_episodes` deterministic episodes; returns the stats."""
  from agents.run.policy import Policy
  from agents.run import build
  from agents.core.in_graph_env import EnvSpec
  _check_renderable(config, outdir)
  if build.resolved_backend(config) == 'jax':
    return _render_jax_episodes(config, checkpoint_path, num_episodes, outdir,
                                video_format, fps, max_frames, every, downsample)
  if config.env_backend == 'gymnax' and gymnax_host.knows(config.env):
    print(f"Rendering gymnax's '{config.env}' stepped from Python, its observations "
          'drawn as frames (gymnax renders none).', file=sys.stderr)
  elif config.env_backend == 'gymnax':
    print(f"Rendering with Gymnasium's '{config.env}' (gymnax envs do not "
          'render frames); its episodes differ from the gymnax evaluation.',
          file=sys.stderr)
  if config.env_backend == 'mjx':
    print(f"Rendering with Gymnasium's '{config.env}' on native MuJoCo (MJX renders no "
          "frames): the same task and solver settings, float64 physics.", file=sys.stderr)
  mujoco = 'mujoco' in named_env.entry_point(config.env)
  try:
    env = build.env_constructor(config, render=True)()
  except (ConfigError, EnvError):
    raise
  except Exception as error:  # A renderer that cannot start fails at construction.
    raise _rendering_failed(error, mujoco) from None
  policy = Policy(config, checkpoint_path,
                  EnvSpec.from_spaces(env.observation_space, env.action_space),
                  configs.catalog())
  returns, lengths, videos = [], [], []
  os.makedirs(outdir, exist_ok=True)
  try:
    for episode in range(num_episodes):
      observ, _ = env.reset(seed=config.eval_seed + episode)
      policy.reset()
      frames = [_render(env, mujoco)[::downsample, ::downsample]]
      total, length, done = 0.0, 0, False
      while not done:
        observ, reward, terminated, truncated, _ = env.step(policy(observ))
        length += 1
        if length % every == 0 and (max_frames is None or len(frames) < max_frames):
          frames.append(_render(env, mujoco)[::downsample, ::downsample])
        total += float(reward)
        done = terminated or truncated
      path = _save_video(frames, outdir, episode, video_format, fps)
      returns.append(total)
      lengths.append(length)
      videos.append(os.path.basename(path))
      print(f'Episode {episode}: return {total:.1f}, length {length} -> {path}',
            file=sys.stderr)
  finally:
    env.close()
  return {'returns': returns, 'lengths': lengths, 'videos': videos,
          'checkpoint_step': policy.step}


def _check_renderable(config: AttrDict, outdir: str) -> None:
  """VisualizeError for an --outdir that is a file, or a vector env's run."""
  if os.path.exists(outdir) and not os.path.isdir(outdir):
    raise VisualizeError(f"--outdir '{outdir}' is a file; give a directory for the videos.")
  if named_env.is_vector(config.env, config.num_agents):
    raise VisualizeError(f"env={config.env} builds a vector env, and visualize plays single "
                         'envs: load the policy (agents.load_policy) and step one of its '
                         'envs, or train on a single-env class to visualize it.')


def _save_video(frames: list[np.ndarray], outdir: str, episode: int, video_format: str,
                fps: int) -> str:
  import imageio
  path = os.path.join(outdir, f'episode-{episode:03d}.{video_format}')
  if video_format == 'gif':
    imageio.mimsave(path, frames, duration=1000 / fps, loop=0)
  else:
    imageio.mimsave(path, frames, fps=fps, macro_block_size=1)
  return path


def _render_jax_episodes(config: AttrDict, checkpoint_path: str, num_episodes: int,
                         outdir: str, video_format: str, fps: int, max_frames: int | None,
                         every: int, downsample: int) -> dict:
  """`render_episodes` for a JAX env, stepped from Python (run/jax_episodes.py)."""
  from agents.run import build, jax_episodes
  from agents.run.policy import Policy
  batch = build.jax_batch_env(config, 1)
  source = jax_episodes.frame_source(batch.env, batch.spec)
  if source is None:
    print(f"'{config.env}' renders no frames and its observations are not images: "
          'the episodes run and their returns go to stats.json, without videos.',
          file=sys.stderr)
  elif source == 'observ':
    print(f"Rendering '{config.env}' from its image observations.", file=sys.stderr)
  policy = Policy(config, checkpoint_path, batch.spec, configs.catalog())
  os.makedirs(outdir, exist_ok=True)
  returns, lengths, videos = [], [], []
  for episode in range(num_episodes):
    try:
      played = jax_episodes.play(config, policy, policy.reset, episode,
                                 keep=lambda step: step % every == 0)
    except VisualizeError:
      raise
    except Exception as error:   # MuJoCo's renderer without a display, and the like.
      if source in (None, 'observ'):
        raise
      raise _rendering_failed(error, source == 'trajectory') from None
    frames = [frame[::downsample, ::downsample] for frame in played.frames][:max_frames]
    where = 'no video'
    if frames:
      path = _save_video(frames, outdir, episode, video_format, fps)
      videos.append(os.path.basename(path))
      where = path
    returns.append(played.total)
    lengths.append(played.length)
    print(f'Episode {episode}: return {played.total:.1f}, length {played.length} -> '
          f'{where}', file=sys.stderr)
  return {'returns': returns, 'lengths': lengths, 'videos': videos,
          'checkpoint_step': policy.step}


def _render(env: Any, mujoco: bool) -> np.ndarray:
  try:
    frame = env.render()
  except Exception as error:  # Renderers fail in many ways without a display.
    raise _rendering_failed(error, mujoco) from None
  if frame is None:
    raise VisualizeError('The env rendered no frame (render_mode rgb_array unsupported).')
  return np.asarray(frame)


def _rendering_failed(error: Exception, mujoco: bool) -> VisualizeError:
  text = f'{type(error).__name__}: {error}'.splitlines()[0][:300]
  gl = mujoco or bool(re.search(r'(?i:opengl|egl|osmesa|mujoco_gl)|\bgl[A-Z]', text))
  advice = GL_ADVICE if gl else (
      "Install the env's rendering extra (e.g. gymnasium[classic-control]).")
  return VisualizeError(f'Rendering failed ({text}). {advice}')


def _positive(text: str) -> int:
  try:
    value = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got '{text}'") from None
  if value < 1:
    raise argparse.ArgumentTypeError(f'expected a whole number >= 1, got {value}')
  return value


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
  """--logdir and --checkpoint: the run and the checkpoint a program reads."""
  parser.add_argument('--logdir', required=True,
                      help='Directory of one run: <logdir>/<timestamp>-<config>.')
  parser.add_argument('--checkpoint', default=None,
                      help="A checkpoint file, or best (the best evaluation's); "
                      'default: the latest.')


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m agents.scripts.visualize', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  add_run_arguments(parser)
  parser.add_argument('--outdir', required=True, help='Where videos go.')
  parser.add_argument('--num_episodes', type=_positive, default=5)
  parser.add_argument('--format', choices=('mp4', 'gif'), default='mp4')
  parser.add_argument('--fps', type=_positive, default=30)
  parser.add_argument('--max_frames', type=int, default=None,
                      help='Frames per video at most (the episode still runs to '
                           'its end, so the returns match evaluation).')
  parser.add_argument('--every', type=_positive, default=1,
                      help='Keep every k-th frame (a shorter, faster video).')
  parser.add_argument('--downsample', type=_positive, default=1,
                      help='Keep every k-th pixel row and column (smaller files).')
  parser.add_argument('--track', choices=('wandb', 'mlflow'), default=None,
                      help="Also add the videos to the run's W&B or MLflow run.")
  args = parser.parse_args(argv)
  from agents.run.policy import read_run
  try:
    settings.check()
    config, name, checkpoint_path = read_run(args.logdir, configs.catalog(),
                                             args.checkpoint)
    stats = render_episodes(config, checkpoint_path, args.num_episodes,
                            args.outdir, args.format, args.fps, args.max_frames,
                            args.every, args.downsample)
  except (UsageError, EnvError) as error:
    print(f'error: {error}', file=sys.stderr)
    return error.exit_code
  stats.update(config=name, checkpoint=os.path.abspath(checkpoint_path),
               seeds=[config.eval_seed + i for i in range(args.num_episodes)],
               mean_return=float(np.mean(stats['returns'])))
  with open(os.path.join(args.outdir, 'stats.json'), 'w') as stream:
    json.dump(stats, stream, indent=2)
  if args.track:
    from agents.run import tracking
    try:
      tracker = tracking.make(args.track, args.logdir, config)
    except UsageError as error:
      print(f'error: {error}', file=sys.stderr)
      return error.exit_code
    tracker.videos([os.path.join(args.outdir, v) for v in stats['videos']], args.fps)
    tracker.close()
  print(f"Mean return {stats['mean_return']:.1f} over {args.num_episodes} "
        f'episodes (checkpoint step {stats["checkpoint_step"]:,}); videos and '
        f'stats.json in {args.outdir}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
