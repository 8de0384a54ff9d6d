"""A phase of the Loop (train, eval) and the host's bookkeeping of its visits."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import numpy as np

from agents.core import simulate as simulate_lib
from agents.core.in_graph_env import InGraphEnv


@dataclasses.dataclass
class Phase:
  """One phase of the Loop.

  name: e.g. 'train' or 'eval'; names the logs.
  env: the in-graph env this phase steps (phases may use different batches).
  steps: env-steps per visit of this phase (summed over the batch); a visit
    runs whole calls, so it rounds up to a multiple of steps_per_call x batch.
    A training visit that a resumed run starts inside runs only its rest.
  training: passed to the algorithm; only training phases count towards the
    Loop's step budget.
  report_every: env-steps between reports of mean score and length, over the
    episodes completed since the previous report; each visit also ends with a
    report. None: only at the end of a visit.
  log_every: env-steps between writes of the algorithm's metrics. None: never.
  checkpoint_every: env-steps between checkpoints (training phases). None:
    only at the end of the run.
    Reports, logs and checkpoints happen after the call in which the phase's
    step counter passes a multiple of their interval.
  restart: start fresh episodes (env.init) on every visit, from the algorithm
    state of the phase's first visit with the current learner; by default true
    for phases that do not train, so that each evaluation replays the same seeds.
  steps_per_call: batch steps scanned per call from Python. Every call of a
    phase scans this many, so each phase compiles its program once, whatever
    the budgets and intervals are.
  first_episodes: count only each agent's first episode of a visit, and end
    the visit after the call in which every agent has finished one (phases
    that do not train). An evaluation then scores a fixed set of episodes, the
    ones its seeds start; counting every episode that ends within `steps`
    would weigh short episodes more (an agent plays more of them).
  """
  name: str
  env: InGraphEnv
  steps: int
  training: bool
  report_every: int | None = None
  log_every: int | None = None
  checkpoint_every: int | None = None
  restart: bool | None = None
  steps_per_call: int = 1000
  first_episodes: bool = False

  def __post_init__(self) -> None:
    if self.restart is None:
      self.restart = not self.training
    if self.first_episodes and self.training:
      raise ValueError(f"Phase '{self.name}': first_episodes is for phases that do not train.")
    for field in ('steps', 'report_every', 'log_every', 'checkpoint_every',
                  'steps_per_call'):
      value = getattr(self, field)
      if value is not None and value < 1:
        raise ValueError(f"Phase '{self.name}': {field} must be >= 1 or None, got {value}.")


@dataclasses.dataclass
class PhaseProgress:
  """Host-side bookkeeping of one phase; scores and lengths per seed."""
  run: Callable[..., Any]
  num_seeds: int = 1
  init_algo: Callable[..., Any] | None = None   # key -> the algorithm's state.
  init_sim: Callable[..., Any] | None = None    # (algo state, key) -> SimState.
  steps: int = 0                          # Env-steps run in this phase, all visits.
  state: simulate_lib.SimState | None = None
  initial_algo: Any = None                # The algorithm's state from its first init.
  layout: Callable[..., Any] | None = None  # state -> shardings (several devices).
  # Per seed, the episodes finished since the last report: score, length and
  # the phase step at which each ended (reports inside a call take theirs).
  scores: list = dataclasses.field(default_factory=list)
  lengths: list = dataclasses.field(default_factory=list)
  ends: list = dataclasses.field(default_factory=list)
  # [seeds, agents]: who has finished an episode this visit (first_episodes).
  finished: np.ndarray | None = None

  def __post_init__(self) -> None:
    self.scores = [[] for _ in range(self.num_seeds)]
    self.lengths = [[] for _ in range(self.num_seeds)]
    self.ends = [[] for _ in range(self.num_seeds)]

  def keep_first(self, done: np.ndarray) -> np.ndarray:
    """A call's done flags [seeds, steps, agents]; with `finished`, only each
    agent's first episode of the visit (and `finished` updated)."""
    if self.finished is None:
      return done
    first = done & (np.cumsum(done, axis=1) == 1) & ~self.finished[:, None, :]
    self.finished |= done.any(axis=1)
    return first

  def all_finished(self) -> bool:
    """Whether every agent has finished its episode (first_episodes visits)."""
    return self.finished is not None and bool(self.finished.all())

  def take(self, upto: int | None = None) -> list[tuple[list, list]]:
    """Per seed, (scores, lengths) of the episodes that ended by phase step
    `upto` (None: all), removed from the record."""
    taken = []
    for index in range(self.num_seeds):
      ends = self.ends[index]
      count = len(ends) if upto is None else sum(1 for end in ends if end <= upto)
      taken.append((self.scores[index][:count], self.lengths[index][:count]))
      del self.scores[index][:count], self.lengths[index][:count], ends[:count]
    return taken


def visit_calls(phase: Phase, batch: int, steps_done: int, budget: int) -> int:
  """The calls of this visit of `phase`, which has run `steps_done` env-steps
  in all visits so far. Visits are whole calls (see Phase). A training visit
  runs at most `budget` more env-steps (rounded up to a call), and a resumed
  run that stopped inside one runs only its rest: it ends where the
  uninterrupted run's would, so evaluations come at the same steps. Other
  phases run whole visits (they start their episodes afresh)."""
  call = phase.steps_per_call * batch
  per_visit = math.ceil(phase.steps / call)
  if not phase.training:
    return per_visit
  return min(per_visit - (steps_done // call) % per_visit, math.ceil(budget / call))


def crossed(before: int, after: int, every: int) -> bool:
  """Whether a multiple of `every` lies in (before, after]."""
  return after // every > before // every


def boundaries(before: int, after: int, every: int) -> range:
  """The multiples of `every` in (before, after]."""
  return range((before // every + 1) * every, after + 1, every)
