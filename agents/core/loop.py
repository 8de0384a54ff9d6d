"""Phases of simulation (train, eval) that alternate until a step budget is spent."""

from __future__ import annotations

import functools
import itertools
import time
from typing import Any, Callable, Iterator

import jax
import numpy as np

from agents.core import phase as phase_lib, sharding, simulate as simulate_lib
from agents.core.algorithm import Algorithm
from agents.core.compile_clock import CompileClock
from agents.core.phase import Phase, PhaseProgress  # noqa: F401  (loop.Phase, as before)
from agents.core.reports import LoopState, Report
from agents.core.seeds import (fold_in, fold_in_seeds, seed_devices, seed_shardings,
                               split_seeds)
from agents.errors import Interrupted, TrainingDiverged


class Loop:
  """Alternates phases until the training phases ran `max_step` env-steps.

  The algorithm's `learner` state passes from phase to phase; each phase keeps
  its own per-agent state. Side effects are injected callables:
  `on_report(report: Report)`, `on_metrics(phase_name, step, metrics: dict)`,
  `on_checkpoint(loop)`, `on_progress(step)`. `should_stop()` is asked
  between calls, and between the steps of host envs inside a call (envs with
  `watch`, such as InGraphBatchEnv: a call of a slow env or a huge batch is
  ended there and its work dropped); when it says yes, the Loop saves a
  checkpoint and returns early (e.g. on Ctrl-C). `on_progress` is told the
  training step reached inside long host calls, at most once a second.
  After every training call the algorithm's `diagnose(learner)` is asked;
  a problem raises TrainingDiverged without a new checkpoint, so the last
  checkpoint stays the last finite one.

  Seeds: a `key` of shape [seeds, 2] (e.g. `jax.vmap(jax.random.PRNGKey)`)
  runs that many independent copies in one program (vmapped; JAX-native envs
  only). Every key operation is the single run's, per seed, so seed k follows
  the run with `PRNGKey(k)` (up to the rounding of batched kernels). The
  learner and the key then have a leading seed axis; reports carry
  `seed_index`, and `on_metrics` receives arrays with a leading seed axis.
  The seed axis is sharded over as many devices as divide the seed count
  (`seed_devices`; on the CPU see `run/cpu_backend.start`), so the seeds
  of one program run on several cores or accelerators at once.

  devices: a single run's env batch is split over this many devices (data
  parallel, core/sharding.py; the training batch must divide, phases whose
  batch does not run replicated); with seeds, it caps the seeds' devices.
  """

  def __init__(self, algorithm: Algorithm, phases: list[Phase], key: jax.Array,
               learner: Any = None,
               on_report: Callable[[Report], None] | None = None,
               on_metrics: Callable[[str, int, dict], None] | None = None,
               on_checkpoint: Callable[['Loop'], None] | None = None,
               should_stop: Callable[[], bool] | None = None,
               on_progress: Callable[[int], None] | None = None,
               devices: int = 1) -> None:
    if not any(phase.training for phase in phases):
      raise ValueError('The Loop needs at least one training phase.')
    names = [phase.name for phase in phases]
    if len(set(names)) != len(names):
      raise ValueError(f'Phase names must differ, got {names}.')
    self._algorithm = algorithm
    self._phases = phases
    self._key = key
    self.num_seeds = int(key.shape[0]) if key.ndim == 2 else None
    seeded = self.num_seeds is not None
    self.seed_devices = seed_devices(self.num_seeds, devices) if seeded else 1
    self._seed_sharding = seed_shardings(self.seed_devices)
    layouts = {phase.name: None for phase in phases}
    self.devices = devices if not seeded else 1
    if self.devices > 1:
      layouts = sharding.phase_layouts(phases, sharding.agent_mesh(devices))
    self._progress = {phase.name: PhaseProgress(
        simulate_lib.make_run(phase.env, algorithm, phase.training, seeds=seeded,
                              layout=layouts[phase.name]),
        num_seeds=self.num_seeds or 1, layout=layouts[phase.name],
        init_algo=self._prepare(functools.partial(
            _init_algo, algorithm, phase.env.spec, phase.env.num_agents)),
        init_sim=self._prepare(functools.partial(simulate_lib.init_state, phase.env),
                               host=hasattr(phase.env, 'take_host_error')))
        for phase in phases}
    if learner is None:
      key, self._key = self._split(self._key)
      learner = self._progress[phases[0].name].init_algo(key).learner
    self.learner = learner
    self.step = 0
    self.train_time = 0.0      # Training phases' seconds, compile excluded.
    self.compile_time = 0.0    # Seconds JAX spent preparing programs, all phases.
    self._visiting = None      # (start time, training) of the visit in progress.
    self._clock, self._start_time = CompileClock(), time.time()
    self._on_report = on_report or (lambda report: None)
    self._on_metrics = on_metrics or (lambda name, step, metrics: None)
    self._on_checkpoint = on_checkpoint or (lambda loop: None)
    self._cursor = 0                # The phase being visited, or the next one.
    self._last_checkpoint = (0, 0)  # (step, cursor) of the last checkpoint.
    self._should_stop = should_stop or (lambda: False)
    self._on_progress = on_progress or (lambda step: None)
    self._call_steps = 0            # Host batch steps of the current call so far.
    self._last_progress = time.monotonic()
    for phase in phases:
      watch = getattr(phase.env, 'watch', None)
      if watch is not None:   # Host envs: a stop is seen between their steps.
        watch(functools.partial(self._host_step, phase))

  @property
  def state(self) -> LoopState:
    """What a checkpoint needs to continue the Loop (its times include the visit
    in progress, so a resumed run's times go on from the checkpoint's)."""
    train_time, compile_time = self._times(time.time())
    return LoopState(learner=self.learner, step=self.step, key=self._key,
                     train_time=train_time, compile_time=compile_time,
                     phase_steps={name: p.steps for name, p in self._progress.items()},
                     cursor=self._cursor)

  def restore(self, state: LoopState) -> None:
    """Continue from a saved state (as `state` gave it)."""
    self.learner = state.learner
    self.step = int(state.step)
    self._key = state.key
    self.train_time = float(state.train_time)
    self.compile_time = float(state.compile_time)
    self._cursor = int(state.cursor) if 0 <= state.cursor < len(self._phases) else 0
    self._last_checkpoint = (self.step, self._cursor)
    for name, steps in state.phase_steps.items():
      if name in self._progress:
        self._progress[name].steps = int(steps)

  def metrics(self, phase: str = 'train') -> dict:
    """The algorithm's metrics of a phase's latest state, on the host ({} before
    the phase has run)."""
    state = self._progress[phase].state
    return {} if state is None else jax.device_get(self._algorithm.metrics(state.algo))

  def state_dict(self) -> dict:
    """`state` as the checkpoint's dict."""
    return self.state.to_state_dict()

  def load_state_dict(self, state: dict) -> None:
    self.restore(LoopState.from_state_dict(state))

  def run(self, max_step: int) -> list[Report]:
    """Run phases in turn until `max_step` training env-steps; returns the reports.

    Rounds of all phases in order start while training steps are left; a
    resumed run goes on with the phase its checkpoint was taken in or before.
    """
    reports: list[Report] = []
    with self._clock:
      while not self._should_stop() and (self._cursor or self.step < max_step):
        phase = self._phases[self._cursor]
        if phase.training and self.step >= max_step:
          self._cursor = (self._cursor + 1) % len(self._phases)
        else:
          reports.extend(self._visit(phase, max_step))
    if (self.step, self._cursor) != self._last_checkpoint:
      self._checkpoint()
    return reports

  def _prepare(self, fn: Callable[..., Any], host: bool = False) -> Callable[..., Any]:
    """A set-up function (the algorithm's init, a simulation's first state) as
    the Loop calls it: jitted for a single run, one program instead of ~1 s of
    first-time op-by-op dispatch; vmapped over seeds op by op, since under jax
    0.10.2 a jitted, vmapped PPO init froze the CPU backend for good in about
    half of 4-seed runs (seen 2026-11-30). `host`: it resets host envs, which
    take concrete keys, so it runs op by op."""
    if self.num_seeds is not None:
      return jax.vmap(fn)
    return fn if host else jax.jit(fn)

  def _split(self, key: jax.Array, num: int = 2) -> jax.Array:
    """jax.random.split, per seed: [num, 2], or [num, seeds, 2] with seeds."""
    if self.num_seeds is None:
      return jax.random.split(key, num)
    return split_seeds(key, num)

  def _next_key(self) -> jax.Array:
    self._key, key = self._split(self._key)
    return key

  def _visit(self, phase: Phase, max_step: int) -> list[Report]:
    progress = self._progress[phase.name]
    batch = phase.env.num_agents
    count = phase.steps_per_call
    calls = phase_lib.visit_calls(phase, batch, progress.steps, max_step - self.step)
    self._start_visit(phase, progress)
    reports, start, visit_start = [], time.time(), progress.steps
    self._visiting, call_keys = (start, phase.training), self._call_keys(phase)
    while calls > 0 and not self._should_stop():
      keys = self._split(next(call_keys), count)
      before, call_start = progress.steps, time.time()
      self._call_steps = 0
      try:
        progress.state, output = progress.run(progress.state, keys)
      except Interrupted:   # Between host env steps: the call's work is dropped;
        progress.state = None   # the envs moved on, so a next visit starts afresh.
        break
      self._collect(progress, output, before, batch)
      calls = 0 if progress.all_finished() else calls - 1
      progress.steps += count * batch
      if not calls:   # Done: a checkpoint from here on resumes with the next phase.
        self._cursor = (self._cursor + 1) % len(self._phases)
      if phase.training:
        self._take_learner(progress, count * batch)
      if phase.report_every:
        # One report per interval, also for intervals that end inside the
        # call; the visit's last one follows the loop.
        for boundary in phase_lib.boundaries(before, progress.steps, phase.report_every):
          if calls > 0 or boundary < progress.steps:
            reports.extend(self._report(phase, progress, upto=boundary,
                                        call=(call_start, before)))
      if phase.log_every and phase_lib.crossed(before, progress.steps, phase.log_every):
        metrics = jax.device_get(self._algorithm.metrics(progress.state.algo))
        self._on_metrics(phase.name, self.step, metrics)
      if (phase.training and phase.checkpoint_every and
          phase_lib.crossed(before, progress.steps, phase.checkpoint_every)):
        self._checkpoint()
    if calls and not phase.training:   # Stopped: the resumed run evaluates anew.
      progress.steps, progress.state = visit_start, None
      progress.take()
    if progress.state is not None:
      jax.block_until_ready(progress.state)
    self.train_time, self.compile_time = self._times(time.time())
    self._visiting = None
    if not calls or phase.training:
      reports.extend(self._report(phase, progress))
    return reports

  def _call_keys(self, phase: Phase) -> Iterator[jax.Array]:
    """Each call's key: from the Loop's chain for training; for other phases
    from one key of it, so that the training after an evaluation does not
    depend on how many calls the evaluation ran (first_episodes)."""
    if phase.training:
      while True:
        yield self._next_key()
    visit_key = self._next_key()   # Taken at the first call, as before.
    yield visit_key
    fold = fold_in if self.num_seeds is None else fold_in_seeds
    for index in itertools.count(1):
      yield fold(visit_key, np.uint32(index))

  def _start_visit(self, phase: Phase, progress: PhaseProgress) -> None:
    """The visit's first state, with the current learner: fresh episodes (on a
    first or restarting visit) or where the last visit left them."""
    state = progress.state
    if state is None or phase.restart:
      algo_key = self._next_key()
      if progress.initial_algo is None:
        # Later visits reuse the first visit's state (its learner is replaced);
        # see `_prepare` for how it is computed.
        progress.initial_algo = progress.init_algo(algo_key)
      state = progress.init_sim(progress.initial_algo, self._next_key())
      state = state.replace(algo=self._share(state.algo))
    progress.state = self._place(
        state.replace(algo=state.algo.replace(learner=self.learner)), progress.layout)
    if phase.first_episodes:
      progress.finished = np.zeros((progress.num_seeds, phase.env.num_agents), bool)

  def _take_learner(self, progress: PhaseProgress, steps: int) -> None:
    """After a training call: count its steps and take its learner, unless an
    update went non-finite (TrainingDiverged; the learner kept its last values)."""
    self.step += steps
    self.learner = progress.state.algo.learner
    for index, learner in enumerate(self._per_seed(self.learner)):
      problem = self._algorithm.diagnose(learner)
      if problem:
        where = '' if self.num_seeds is None else f' (seed index {index})'
        raise TrainingDiverged(self.step, problem + where)

  def _host_step(self, phase: Phase) -> None:
    """Between the host env steps of a call: stop when asked; tell the step
    reached inside a long training call (at most once a second)."""
    if self._should_stop():
      raise Interrupted(message='stopped between env steps')
    self._call_steps += 1
    now = time.monotonic()
    if phase.training and now - self._last_progress >= 1.0:
      self._last_progress = now
      self._on_progress(self.step + self._call_steps * phase.env.num_agents)

  def _place(self, tree: Any, layout: Callable[[Any], Any] | None = None) -> Any:
    """With seeds on several devices: leaves with a seed axis split over them;
    with a phase `layout` (one run over several devices): the batch axis.

    A shared leaf whose first dimension happens to equal the seed count is
    split too; that changes its layout only, never its values.
    """
    if layout is not None:
      return sharding.place(tree, layout)
    if self._seed_sharding is None:
      return tree
    split, whole = self._seed_sharding

    def place(x: jax.Array) -> jax.Array:
      sharding = split if x.ndim and x.shape[0] == self.num_seeds else whole
      return x if getattr(x, 'sharding', None) == sharding else jax.device_put(x, sharding)
    return jax.tree_util.tree_map(place, tree)

  def _share(self, algo: Any) -> Any:
    """With seeds: one copy of the leaves the algorithm says all seeds share."""
    if self.num_seeds is None:
      return algo
    axes = self._algorithm.seed_axes(algo)
    return jax.tree_util.tree_map(lambda axis, x: x if axis == 0 else x[0], axes,
                                  algo, is_leaf=lambda axis: axis is None)

  def _per_seed(self, tree: Any) -> list[Any]:
    """The slices of a tree with a leading seed axis (the tree without seeds)."""
    if self.num_seeds is None:
      return [tree]
    # One copy to the host, sliced there: slicing on the device costs a dispatch
    # per leaf and seed (or a program with cross-device copies when sharded).
    host = jax.device_get(tree)
    return [jax.tree_util.tree_map(lambda x: x[index], host)
            for index in range(self.num_seeds)]

  def _collect(self, progress: PhaseProgress, output: Any, before: int,
               batch: int) -> None:
    """Record the episodes a call finished, with the phase step each ended at
    (`before`: the phase's steps before the call)."""
    done, score, length = jax.device_get(
        (output.done, output.score, output.length))
    if self.num_seeds is None:
      done, score, length = done[None], score[None], length[None]
    done = progress.keep_first(done)
    for index in range(progress.num_seeds):
      steps = np.nonzero(done[index])[0]   # Row-major: in the order they ended.
      progress.scores[index].extend(score[index][done[index]].tolist())
      progress.lengths[index].extend(length[index][done[index]].tolist())
      progress.ends[index].extend((before + (steps + 1) * batch).tolist())

  def _times(self, now: float) -> tuple[float, float]:
    """(train_time, compile_time) so far, with the visit in progress."""
    train_time, compile_time = self.train_time, self.compile_time
    if self._visiting is not None:
      start, training = self._visiting
      compiling = self._clock.seconds(since=start)
      compile_time += compiling
      if training:
        train_time += now - start - compiling
    return train_time, compile_time

  def _report(self, phase: Phase, progress: PhaseProgress, upto: int | None = None,
              call: tuple[float, int] | None = None) -> list[Report]:
    """Mean score and length of the episodes completed since the last report,
    one report per seed.

    `train_time` counts the training phases' time so far (JAX compile time
    excluded; `compile_time` counts that, all phases), including the visit in
    progress. `upto`: report at this phase step,
    inside the call that `call` = (its start time, the phase's steps before
    it) describes; its times are the call's, prorated by steps.
    """
    now = time.time()
    train_time, compile_time = self._times(now)
    phase_step, step = progress.steps, self.step
    if upto is not None and upto < progress.steps:
      call_start, before = call
      fraction = (upto - before) / (progress.steps - before)
      running = now - call_start - self._clock.seconds(since=call_start)
      left = (1 - fraction) * running   # The call's run time after `upto`.
      now -= left
      if phase.training:
        train_time -= left
        step -= progress.steps - upto
      phase_step = upto
    reports = []
    for index, (scores, lengths) in enumerate(progress.take(upto)):
      report = Report(
          phase=phase.name, step=step, phase_step=phase_step,
          episodes=len(scores),
          mean_score=float(np.mean(scores)) if scores else None,
          mean_length=float(np.mean(lengths)) if lengths else None,
          time=now - self._start_time, train_time=train_time,
          compile_time=compile_time,
          seed_index=None if self.num_seeds is None else index)
      self._on_report(report)
      reports.append(report)
    return reports

  def _checkpoint(self) -> None:
    self._last_checkpoint = (self.step, self._cursor)
    self._on_checkpoint(self)


def _init_algo(algorithm: Algorithm, spec: Any, num_agents: int, key: jax.Array) -> Any:
  return algorithm.init(key, spec, num_agents)
