"""`train(config, run_dir)`: build, resume, loop, save. The library's training run.

The programs (`agents.scripts.train`, `agents.train`, `sweep`'s runs) all end
here, through `agents.run.launch`. Nothing here prints: notes and warnings go
to the `agents` logger, progress to the caller's `on_report`, and the outcome
comes back as a `RunOutcome`.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp

from agents import settings
from agents.core.loop import Loop, Phase
from agents.core.reports import Report
from agents.errors import (EXIT_FAILURE, EXIT_OK, CheckpointError, ConfigError,
                           EnvError, TrainingDiverged)
from agents.parts.attr_dict import AttrDict
from agents.run import best, build, checkpoint, cpu_backend, tracking
from agents.run.catalog import Catalog
from agents.run.outcome import RunOutcome
from agents.run.resume import RunTarget, resume, seed_slice
from agents.run.stop import StopSignals, signal_name
from agents.run.metrics_file import read_reports
from agents.run.run_dir import METRICS_FILE
from agents.run.summaries import Summaries

LOG = logging.getLogger(__name__)

__all__ = ['RunTarget', 'train', 'train_targets', 'make_loop']


def enable_compilation_cache() -> None:
  """Reuse compiled programs across runs (the second run starts warm).

  AGENTS_JAX_CACHE sets the directory ('' turns the cache off);
  AGENTS_JAX_CACHE_MIN_SECS the shortest compile worth keeping (0.5 s).
  """
  directory = settings.jax_cache_dir()
  if directory:
    jax.config.update('jax_compilation_cache_dir', directory)
    jax.config.update('jax_persistent_cache_min_compile_time_secs',
                      settings.jax_cache_min_seconds())


_LONG_COMPILED_CALL = 2**21   # Env-steps: about 10-30 s a call on a 2-core CPU.


def make_loop(config: AttrDict, make_key: Callable[[], jax.Array], catalog: Catalog,
              callbacks: dict) -> tuple[Loop, Any, list[Any]]:
  """The Loop of a config (train and eval phases), its algorithm and envs;
  `make_key()` gives its key once JAX may start."""
  train_env = build.train_env(config)
  envs = [train_env]
  try:
    # Host envs start JAX only here, with their observations known: a CNN on
    # images gains from every core (gymnax envs started it as `cpu_threads` says).
    cpu_backend.start(threads=None if train_env.spec.image else config.cpu_threads)
    devices, key = run_devices(config), make_key()
    evaluation = build.eval_env(config)
    envs.append(evaluation)
    algorithm = build.algorithm(config, train_env.spec, catalog)
  except BaseException:
    close_all(envs)
    raise
  rollouts = rollouts_per_call(config, image=bool(train_env.spec.image))
  if (train_env.spec.image and config.cnn != 'flat' and config.cpu_threads == 1 and
      build.resolved_backend(config) in build.JAX_NATIVE and
      jax.default_backend() == 'cpu'):
    LOG.info('cpu_threads=1 with image observations: a CNN updates ~1.4x faster on '
             'every core (--set cpu_threads=none).')
  call = config.num_agents * config.update_every * rollouts
  if build.resolved_backend(config) in build.JAX_NATIVE and call > _LONG_COMPILED_CALL:
    LOG.warning('One compiled call runs %s env-steps (rollouts and their updates); a '
                'stop waits for the call to end (compiled code cannot be cut). Fewer '
                'num_agents, update_every or rollouts_per_call make calls shorter.',
                f'{call:,}')
  callbacks = dict(callbacks, devices=devices)
  episode = build.episode_limit(config, evaluation)
  # eval_steps=None: each eval agent's first episode, in calls of at most
  # eval_call steps so that the evaluation ends soon after the longest one.
  first = config.eval_steps is None
  native = build.resolved_backend(config) in build.JAX_NATIVE
  eval_call = _EVAL_CALL if native else _HOST_EVAL_CALL
  eval_steps = config.eval_steps or episode * evaluation.num_agents
  phases = [
      Phase('train', train_env, config.eval_every, training=True,
            report_every=config.report_every, log_every=config.log_every,
            checkpoint_every=config.checkpoint_every,
            steps_per_call=config.update_every * rollouts),
      Phase('eval', evaluation, eval_steps, training=False, first_episodes=first,
            steps_per_call=min(episode, eval_call) if first else episode),
  ]
  return Loop(algorithm, phases, key, **callbacks), algorithm, envs


# Batch steps of an evaluation call with first episodes: JAX envs, host envs (shorter,
# so that an evaluation of slow envs stops soon after its last episode ends).
_EVAL_CALL, _HOST_EVAL_CALL = 1000, 100
_CALL_STEPS = 2**16   # Env-steps of a call with several rollouts: ~0.1-0.5 s here.


def rollouts_per_call(config: AttrDict, image: bool = False) -> int:
  """How many rollouts and their updates one compiled training call runs.

  Each call returns to Python (episode scores, the non-finite check, keys), a
  few ms that a fully compiled rollout of small networks notices: 4 rollouts
  per call train `pendulum_jax` ~1.3x faster (bench/README.md, "Where the time
  goes"). `config.rollouts_per_call` says how many; None: for JAX-native envs
  (gymnax and other JAX envs, not MJX) without images, the most up to 2**16 env-steps per call that divide
  the rollouts of the budget and of the evaluation, checkpoint and log
  intervals, so that calls end where those do; otherwise 1 (a host env step,
  an MJX physics step or a CNN costs far more than the return to Python, and
  a stop is seen sooner). Reports still come every `report_every` env-steps, also from
  inside a call; metrics, checkpoints and stops happen between calls.
  """
  if config.rollouts_per_call is not None:
    return config.rollouts_per_call
  if build.resolved_backend(config) not in ('gymnax', 'jax') or image:
    return 1
  rollout = config.num_agents * config.update_every
  intervals = [math.ceil(config[key] / rollout)
               for key in ('steps', 'eval_every', 'checkpoint_every', 'log_every')]
  most = max(1, _CALL_STEPS // rollout)
  return max(count for count in range(1, most + 1)
             if all(interval % count == 0 for interval in intervals))


def run_devices(config: AttrDict) -> int:
  """How many devices one run's batch is split over: `config.devices`, or
  for None the most of JAX's devices that divide the batch (JAX-native envs;
  host envs: 1). On a CPU, JAX has one device unless told otherwise (XLA_FLAGS
  or `devices`), so None stays on one there: small programs ran faster on
  one CPU device than split over two (bench/README.md, "Several devices")."""
  if build.resolved_backend(config) not in build.JAX_NATIVE:
    return 1
  if config.devices is not None:
    if config.devices > len(jax.devices()):
      raise ConfigError(
          f'devices={config.devices}, but JAX has {len(jax.devices())} '
          f'{jax.default_backend().upper()} device(s) in this process (a CPU gets '
          'more only before JAX first runs: from the command line, or with '
          f'XLA_FLAGS=--xla_force_host_platform_device_count={config.devices}).')
    return config.devices
  available = len(jax.devices())
  return max(count for count in range(1, available + 1)
             if config.num_agents % count == 0)


def close_all(envs: list[Any]) -> None:
  for env in envs:
    close = getattr(env, 'close', None)
    if close:
      close()


def train(config: AttrDict, run_dir: Any, catalog: Catalog, resume: bool = False,
          on_report: Callable[[Report], None] | None = None,
          on_start: Callable[[int, int], None] | None = None,
          on_progress: Callable[[int], None] | None = None) -> RunOutcome:
  """Train `config` in `run_dir` (a RunDir), resuming from its newest intact
  checkpoint. The caller holds the directory's lock and validated `config`."""
  return train_targets([RunTarget(config, run_dir, resume)], catalog,
                       on_report=on_report, on_start=on_start,
                       on_progress=on_progress)[0]


def train_targets(targets: list[RunTarget], catalog: Catalog,
                  resume_command: str | None = None,
                  on_report: Callable[[Report], None] | None = None,
                  on_start: Callable[[int, int], None] | None = None,
                  on_progress: Callable[[int], None] | None = None) -> list[RunOutcome]:
  """Train one run, or several seeds of one config in one program (vmapped).

  The configs differ in their seed only. Each run has its own directory,
  metrics, TensorBoard files and checkpoints; the seeds resume together from
  the newest step that all of them have a checkpoint of. `on_start(step,
  total)` is called once the run knows where it resumes; `on_report` with
  every report of the first seed; `on_progress(step)` with the step reached
  inside long calls of host envs.
  """
  session = _Session(targets, catalog, on_report or (lambda report: None),
                     on_progress or (lambda step: None))
  return session.run(resume_command or targets[0].run_dir.resume_command(),
                     on_start or (lambda step, total: None))


class _Session:
  """The side effects of one training program: summaries, checkpoints, outcomes."""

  def __init__(self, targets: list[RunTarget], catalog: Catalog,
               on_report: Callable[[Report], None],
               on_progress: Callable[[int], None]) -> None:
    self.targets = targets
    self.on_progress = on_progress
    self.catalog = catalog
    self.seeded = len(targets) > 1
    self.summaries: list[Summaries] = []
    self.last_eval: list[Report | None] = [None] * len(targets)
    self.stop = StopSignals.current()
    self._on_report = on_report
    self.loop: Loop | None = None
    self.best: list[best.BestCheckpoint] = []
    self.config_yaml: list[str] = []   # Written once: every checkpoint carries it.
    self.reached: list[bool] = [False] * len(targets)   # stop_score, per seed.
    self.asked_to_stop = False                            # on_report returned True.

  def should_stop(self) -> bool:
    return bool(self.stop.requested) or self.asked_to_stop or all(self.reached)

  def on_report(self, report: Report) -> None:
    index = report.seed_index or 0
    self.summaries[index].report(report)
    if report.phase == 'eval':
      self.last_eval[index] = report
      target = self.targets[index]
      self.best[index].offer(
          report, lambda: seed_slice(self.loop.state, index, self.seeded).to_state_dict(),
          self.config_yaml[index])
      self.reached[index] |= best.reached(report, target.config.stop_score)
    if index == 0 and self._on_report(report) is True:
      self.asked_to_stop = True

  def on_metrics(self, phase: str, step: int, metrics: dict) -> None:
    for index, summary in enumerate(self.summaries):
      mine = jax.tree_util.tree_map(lambda x: x[index], metrics) if self.seeded else metrics
      summary.metrics(phase, step, mine)

  def on_checkpoint(self, loop: Loop) -> None:
    state = loop.state
    for index, target in enumerate(self.targets):
      checkpoint.save(target.run_dir.checkpoints, loop.step,
                      seed_slice(state, index, self.seeded).to_state_dict(),
                      self.config_yaml[index])

  def run(self, resume_command: str, on_start: Callable[[int, int], None]
          ) -> list[RunOutcome]:
    with self.stop:   # Signals during start-up stop the run too.
      try:
        return self._run(resume_command, on_start)
      except (MemoryError, jax.errors.JaxRuntimeError) as error:
        if not isinstance(error, MemoryError) and 'RESOURCE_EXHAUSTED' not in str(error):
          raise
        return [_failed(self.targets[0].run_dir, _memory_message(error))]

  def _run(self, resume_command: str, on_start: Callable[[int, int], None]
           ) -> list[RunOutcome]:
    config, first = self.targets[0].config, self.targets[0].run_dir
    # JAX's CPU devices and compute threads, before it starts.
    if self.seeded:
      cpu_backend.start(len(self.targets))
    elif build.resolved_backend(config) in build.JAX_NATIVE or (config.devices or 1) > 1:
      # Building these envs starts JAX; host envs start it in `make_loop`.
      cpu_backend.start(config.devices, threads=config.cpu_threads, cap=False)
    enable_compilation_cache()
    for target in self.targets:
      checkpoint.remove_temporaries(target.run_dir.checkpoints)  # Left by a killed save.
    callbacks = dict(on_report=self.on_report, on_metrics=self.on_metrics,
                     on_checkpoint=self.on_checkpoint,
                     should_stop=self.should_stop,
                     on_progress=self.on_progress)
    seeds = [target.config.seed for target in self.targets]
    make_key = lambda: (jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds)) if self.seeded
                        else jax.random.PRNGKey(config.seed))
    try:
      loop, _, envs = make_loop(config, make_key, self.catalog, callbacks)
    except EnvError as error:
      return [_failed(first, f'the environments could not start: {error}')]
    self.loop = loop
    self.stop.reclaim()   # Ray, when it started here, installs handlers of its own.
    try:
      try:
        self._start(loop)
      except CheckpointError as error:
        return [_failed(first, f'cannot resume: {error}. Start a new run with '
                        'another --timestamp.', error.exit_code)]
      except OSError as error:
        return [_failed(first, _storage_message(error, loop, first, resume_command))]
      on_start(loop.step, config.steps)
      failure = self._loop(loop, resume_command)
      if failure:
        return [failure]
    finally:
      for summary in self.summaries:
        summary.close()
      close_all(envs)
    return [self._outcome(target, evaluation, loop, resume_command)
            for target, evaluation in zip(self.targets, self.last_eval)]

  def _start(self, loop: Loop) -> None:
    """Resume, then write the run files and open the summaries."""
    resume(self.targets, loop)
    for index, target in enumerate(self.targets):
      self.config_yaml.append(target.config.to_yaml())
      target.run_dir.write_run_files(self.config_yaml[index])
      self.summaries.append(Summaries(
          target.run_dir.path, resume_step=loop.step,
          tracker=tracking.make(target.config.track, target.run_dir.path, target.config)))
      # A finished run resumed trains no further: its last evaluation stands.
      evals = [report for report in read_reports(target.run_dir.file(METRICS_FILE))
               if report.phase == 'eval' and report.step <= loop.step]
      self.last_eval[index] = evals[-1] if evals else None
      self.best.append(best.BestCheckpoint(target.run_dir.checkpoints, evals))
    if self.seeded:
      devices = len(jax.devices())
      hint = ''
      if loop.seed_devices < min(devices, len(self.targets)):
        hint = (f' (JAX splits the seeds only evenly: a multiple of {devices} seeds '
                f'would use all {devices})')
      LOG.info('%d seeds in one program, split over %d %s device(s)%s.',
               len(self.targets), loop.seed_devices,
               jax.devices()[0].platform.upper(), hint)
    elif loop.devices > 1:
      LOG.info('The batch of %d agents split over %d %s devices (data parallel).',
               self.targets[0].config.num_agents, loop.devices,
               jax.devices()[0].platform.upper())

  def _loop(self, loop: Loop, resume_command: str) -> RunOutcome | None:
    """Run the Loop to the budget; a failure's outcome, or None."""
    first, config = self.targets[0].run_dir, self.targets[0].config
    try:
      loop.run(config.steps)
    except OSError as error:   # Checkpoints, metrics or event files could not be written.
      return _failed(first, _storage_message(error, loop, first, resume_command))
    except EnvError as error:
      kept = checkpoint.latest(first.checkpoints)
      kept = (f'The last checkpoint is kept in {first.checkpoints}. Resume with: '
              f'{resume_command}') if kept else 'No checkpoint had been written yet.'
      return _failed(first, f"an environment failed at step {loop.step:,}: "
                     f"{str(error).rstrip().rstrip('.')}. {kept}")
    except TrainingDiverged as error:
      kept = checkpoint.latest(first.checkpoints)
      kept = f'the last finite checkpoint is kept: {kept}' if kept else (
          'no checkpoint was written before')
      return _failed(first, f'training diverged: {error}; {kept}. Try a smaller '
                     f'learning_rate (now {config.learning_rate:g}) or gradient '
                     f'clipping (max_grad_norm, now {config.max_grad_norm:g}).')
    return None

  def _outcome(self, target: RunTarget, evaluation: Report | None, loop: Loop,
               resume_command: str) -> RunOutcome:
    path = target.run_dir.path
    if self.stop.requested:
      return RunOutcome(128 + self.stop.requested, path,
                        _stopped(self.stop.requested, loop, target, resume_command),
                        evaluation)
    if evaluation is not None and evaluation.mean_score is not None:
      summary = (f'final eval mean score {evaluation.mean_score:.1f} over '
                 f'{evaluation.episodes} episodes')
    else:
      summary = 'no eval episode completed'
    done = 'Done'
    if loop.step < target.config.steps and all(self.reached):
      done = f'Reached stop_score {target.config.stop_score:g}'
    elif loop.step < target.config.steps and self.asked_to_stop:
      done = 'Stopped by on_report'
    return RunOutcome(EXIT_OK, path, f'{done} at step {loop.step:,}: {summary}. Run '
                      f'written to {path}', evaluation)


def _storage_message(error: OSError, loop: Loop, run_dir: Any, resume_command: str) -> str:
  """One line for a file that could not be written (a full disk, most often)."""
  what = error.strerror or str(error)
  where = f' ({error.filename})' if getattr(error, 'filename', None) else ''
  kept = checkpoint.latest(run_dir.checkpoints)
  kept = f'the checkpoints written before are intact (newest: {kept})' if kept else (
      'no checkpoint had been written yet')
  return (f'cannot write the run at step {loop.step:,}: {what}{where}; {kept}. Free '
          f'space (or fix the directory) and resume with: {resume_command}')


def _memory_message(error: BaseException) -> str:
  """One line for a program that did not fit in memory."""
  lines = [line for line in str(error).splitlines() if line.strip()]
  what = lines[0][:200] if lines else type(error).__name__
  return (f'out of memory ({what}). The checkpoints written before are intact. '
          'Lower num_agents, update_every or the layer sizes (policy_layers, '
          'value_layers), and resume or start again.')


def _stopped(signum: int, loop: Loop, target: RunTarget, resume_command: str) -> str:
  """What a stop by a signal leaves: the checkpoint it saved, or the one kept."""
  name = signal_name(signum)
  saved = checkpoint.latest(target.run_dir.checkpoints)
  if saved is None:
    return (f'Stopped by {name} before training began; nothing to save. Start it '
            f'again with: {resume_command}')
  return (f'Interrupted by {name} at step {loop.step:,}; checkpoint saved in '
          f'{target.run_dir.checkpoints}. Resume with: {resume_command}')


def _failed(run_dir: Any, message: str, code: int = EXIT_FAILURE) -> RunOutcome:
  return RunOutcome(code, run_dir.path, message)
