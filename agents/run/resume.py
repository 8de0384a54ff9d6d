"""Resuming: load each run's newest intact checkpoint of a step all of them have."""

from __future__ import annotations

import dataclasses
import logging


import jax
import jax.numpy as jnp

from agents.core.loop import Loop
from agents.core.reports import LoopState
from agents.errors import CheckpointError
from agents.parts.attr_dict import AttrDict
from agents.run import checkpoint
from agents.run.run_dir import RunDir

LOG = logging.getLogger(__name__)


class ResumeMismatch(CheckpointError):
  """The seeds of a multi-seed run have no checkpoint step in common."""


@dataclasses.dataclass(frozen=True)
class RunTarget:
  """One run directory of a training program: its config (seed) and place.
  resume: the directory holds a run already (its config.yaml was read)."""
  config: AttrDict
  run_dir: RunDir
  resume: bool = False


def seed_slice(state: LoopState, index: int, seeded: bool) -> LoopState:
  """One seed's part of the Loop's state (the learner and key per seed)."""
  if not seeded:
    return state
  learner, key = jax.device_get((state.learner, state.key))  # Sliced on the host.
  pick = lambda tree: jax.tree_util.tree_map(lambda x: x[index], tree)
  return dataclasses.replace(state, learner=pick(learner), key=pick(key))


def resume(targets: list[RunTarget], loop: Loop) -> None:
  """Load each run's checkpoint of the newest step they all have (if any)."""
  seeded = len(targets) > 1
  newest = [checkpoint.latest_intact(t.run_dir.checkpoints) for t in targets]
  for target, found in zip(targets, newest):
    if found is None and (checkpoint.damaged(target.run_dir.checkpoints) or
                          checkpoint.list_checkpoints(target.run_dir.checkpoints)):
      raise CheckpointError(
          f'every checkpoint of {target.run_dir.path} is damaged (kept as '
          f'checkpoints/*.corrupt), so it cannot resume without losing its history; '
          'start a new run with another --timestamp, or delete that checkpoints/ '
          'folder and metrics.jsonl to train this one again from step 0')
  if not any(newest):
    for target in targets:
      if target.resume:
        LOG.info('Resuming %s: no checkpoint yet, starting at step 0.', target.run_dir.path)
    return
  steps = [dict(checkpoint.list_checkpoints(t.run_dir.checkpoints)) for t in targets]
  common = sorted(set.intersection(*[set(s) for s in steps]))
  if not common or not all(newest):
    raise ResumeMismatch('the seeds have no checkpoint of a common step; resume '
                         'them one by one with --seed')
  step = common[-1]
  template = seed_slice(loop.state, 0, seeded).to_state_dict()
  states = [LoopState.from_state_dict(checkpoint.load(found[step], template)[0])
            for found in steps]
  state = states[0]
  if seeded:
    state = dataclasses.replace(
        state, learner=jax.tree_util.tree_map(lambda *xs: jnp.stack(xs),
                                              *[s.learner for s in states]),
        key=jnp.stack([s.key for s in states]))
  if state.step > targets[0].config.steps:
    raise CheckpointError(
        f'steps={targets[0].config.steps:,} is below the step this run has reached '
        f'({state.step:,}); give --set steps={state.step:,} or more to train on')
  loop.restore(state)
  for target, found in zip(targets, steps):
    LOG.info('Resuming %s from step %s (%s).', target.run_dir.path, f'{step:,}', found[step])
  _warn_if_rate_spent(targets[0].config, loop)


def _warn_if_rate_spent(config: AttrDict, loop: Loop) -> None:
  """An annealed run extended after its rate reached 0 would not learn."""
  scale = getattr(loop.learner, 'lr_scale', None)
  if (config.anneal_learning_rate and scale is not None and
      float(jnp.max(scale)) < 1e-6 and loop.step < config.steps):
    LOG.warning('anneal_learning_rate: the learning rate had decayed to 0 by step '
                '%s, so training on to %s changes nothing; add --set '
                'anneal_learning_rate=false to train on at the constant learning_rate.',
                f'{loop.step:,}', f'{config.steps:,}')
