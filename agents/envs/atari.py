"""Atari: trained on EnvPool's C++ emulators, evaluated and rendered on Gymnasium's.

Training steps EnvPool's Atari tasks (`Pong-v5`, `Breakout-v5`, ...) with the
standard preprocessing: 84x84 grey frames, a stack of 4, a frame skip of 4
(the max of the last two frames), up to 30 no-op starts, and for training only
the end of a life as the end of an episode (`episodic_life`) and rewards
clipped to their sign (`reward_clip`). No automatic FIRE after a reset: the
evaluation env has none either, so the policy learns to press it.

Evaluation plays whole games with the unclipped score on Gymnasium's ALE env
(`ale-py`), preprocessed the same way (`AtariPreprocessing`,
`FrameStackObservation`), because EnvPool cannot re-seed an env at reset and
evaluations must replay the same games (reset seeds eval_seed + i). Its
`render()` is the raw 210x160 RGB frame, which `visualize` records.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

INSTALL = "pip install -e '.[atari]'"
FRAME_SKIP = 4
STACK = 4
NOOP_MAX = 30
MAX_STEPS = 27_000   # Agent steps (108,000 frames), EnvPool's and ALE v5's limit.

# EnvPool's options for training pools of an Atari task.
TRAINING_OPTIONS = dict(episodic_life=True, reward_clip=True, use_fire_reset=False,
                        stack_num=STACK, frame_skip=FRAME_SKIP, noop_max=NOOP_MAX,
                        img_height=84, img_width=84, gray_scale=True,
                        repeat_action_probability=0.0)


def game(env_id: str) -> str | None:
  """The ALE game of an EnvPool Atari task id ('Pong-v5' -> 'pong'), or None
  when EnvPool is missing or the id is no Atari task."""
  try:
    from envpool.registration import registry
  except ImportError:
    return None
  entry = registry.specs.get(env_id)
  if not entry or entry[0] != 'envpool.atari':
    return None
  return str(entry[2].get('task'))


def make_eval_env(env_id: str, render_mode: str | None = None) -> gym.Env:
  """Gymnasium's ALE env of the EnvPool task `env_id`, preprocessed as training
  sees it, but whole games and unclipped rewards."""
  name = game(env_id)
  if name is None:
    raise ValueError(f"'{env_id}' is no EnvPool Atari task.")
  try:
    import ale_py
  except ImportError:
    from agents.errors import ConfigError
    raise ConfigError(f"Evaluating '{env_id}' needs Gymnasium's Atari envs: {INSTALL}") from None
  gym.register_envs(ale_py)
  ale_id = 'ALE/' + ''.join(part.capitalize() for part in name.split('_')) + '-v5'
  env = gym.make(ale_id, frameskip=1, repeat_action_probability=0.0,
                 full_action_space=False, render_mode=render_mode,
                 max_num_frames_per_episode=MAX_STEPS * FRAME_SKIP)
  env = gym.wrappers.AtariPreprocessing(
      env, noop_max=NOOP_MAX, frame_skip=FRAME_SKIP, screen_size=84,
      terminal_on_life_loss=False, grayscale_obs=True, scale_obs=False)
  env = gym.wrappers.FrameStackObservation(env, STACK)
  return gym.wrappers.TimeLimit(env, MAX_STEPS)


class EvalEnv:
  """A picklable constructor of `make_eval_env(env_id)` (for named_env.make)."""

  def __init__(self, env_id: str) -> None:
    self.env_id = env_id

  def __call__(self, render_mode: str | None = None) -> Any:
    return make_eval_env(self.env_id, render_mode)
