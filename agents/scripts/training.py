"""The training run behind `agents.scripts.train`: build, resume, loop, save."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from typing import Any

import jax
import jax.numpy as jnp

from agents.scripts import build
from agents.tools import checkpoint
from agents.tools.attr_dict import AttrDict
from agents.tools.in_graph_batch_env import EnvOutputError
from agents.tools.loop import Loop, Phase, TrainingDiverged
from agents.tools.process import WorkerDiedError, WorkerError, WorkerTimeoutError
from agents.tools.summaries import Summaries


def enable_compilation_cache() -> None:
  """Reuse compiled programs across runs (the second run starts warm).

  AGENTS_JAX_CACHE sets the directory ('' turns the cache off);
  AGENTS_JAX_CACHE_MIN_SECS the shortest compile worth keeping (0.5 s).
  """
  directory = os.environ.get(
      'AGENTS_JAX_CACHE', os.path.expanduser('~/.cache/agents/jax'))
  if directory:
    jax.config.update('jax_compilation_cache_dir', directory)
    jax.config.update('jax_persistent_cache_min_compile_time_secs', float(
        os.environ.get('AGENTS_JAX_CACHE_MIN_SECS', 0.5)))


def use_cpu_devices(count: int) -> int:
  """Give JAX's CPU backend `count` devices (capped at the cores), before JAX starts.

  `--seeds` splits its seed axis over devices; on the CPU each device is a
  thread of its own, so the seeds use several cores. Returns the CPU devices
  JAX has: the old number when JAX has already run something in this process.
  """
  count = max(1, min(count, os.cpu_count() or 1))
  try:
    jax.config.update('jax_num_cpu_devices', count)
  except RuntimeError:   # JAX has started; its devices stay as they are.
    pass
  return len(jax.devices('cpu'))


def make_loop(config: AttrDict, key: jax.Array, callbacks: dict
              ) -> tuple[Loop, Any, list[Any]]:
  """The Loop of a config (train and eval phases), its algorithm and envs."""
  train_env = build.train_env(config)
  envs = [train_env]
  try:
    evaluation = build.eval_env(config)
    envs.append(evaluation)
    algorithm = build.algorithm(config, train_env.spec)
  except BaseException:
    _close(envs)
    raise
  eval_steps = config.eval_steps or (
      build.episode_limit(config, evaluation) * evaluation.num_agents)
  phases = [
      Phase('train', train_env, config.eval_every, training=True,
            report_every=config.report_every, log_every=config.log_every,
            checkpoint_every=config.checkpoint_every,
            steps_per_call=config.update_every),
      Phase('eval', evaluation, eval_steps, training=False,
            steps_per_call=build.episode_limit(config, evaluation)),
  ]
  loop = Loop(algorithm, phases, key, **callbacks)
  return loop, algorithm, envs


def _close(envs: list[Any]) -> None:
  for env in envs:
    close = getattr(env, 'close', None)
    if close:
      close()

# Failures of envs (in worker processes, or non-finite outputs): reported in
# one message (with the env's index, and a worker's traceback) and a resume
# command.
ENV_FAILURES = (WorkerError, WorkerDiedError, WorkerTimeoutError, EnvOutputError)


@dataclasses.dataclass
class RunOutcome:
  """How a training run ended.

  code: the exit code (0 done, 1 an env failed or training diverged, 2 the
  checkpoint does not fit the config, 130 interrupted). message: the line
  printed for it. final_eval: the last evaluation report (mean_score,
  episodes, step, ...), or None.
  """
  code: int
  run_dir: str
  message: str
  final_eval: dict | None = None


def _fail(code: int, run_dir: str, message: str) -> RunOutcome:
  print(f'error: {message}', file=sys.stderr)
  return RunOutcome(code, run_dir, message)


class Progress:
  """A progress bar over training steps with speed and the latest scores."""

  def __init__(self, total: int, initial: int, quiet: bool) -> None:
    from tqdm import tqdm
    self._bar = tqdm(total=total, initial=initial, unit='step', disable=quiet,
                     dynamic_ncols=True, mininterval=1.0, file=sys.stderr)
    self._scores: dict[str, float] = {}
    self._rate = 0.0

  def report(self, report: dict) -> None:
    if report['mean_score'] is not None:
      self._scores[report['phase']] = report['mean_score']
    if report['train_time'] > 0:
      self._rate = report['phase_step'] / report['train_time'] if (
          report['phase'] == 'train') else self._rate
    self._bar.update(report['step'] - self._bar.n)
    postfix = {f'{phase} score': f'{score:.1f}' for phase, score in self._scores.items()}
    postfix['env-steps/s'] = f'{self._rate:,.0f}'
    self._bar.set_postfix(postfix, refresh=False)

  def close(self) -> None:
    self._bar.close()


@dataclasses.dataclass
class RunTarget:
  """One run directory of a training program: its config (seed) and place."""
  config: AttrDict
  run_dir: str
  resume: bool = False

  @property
  def checkpoints(self) -> str:
    return os.path.join(self.run_dir, 'checkpoints')


def run(config: AttrDict, run_dir: str, config_name: str, timestamp: str,
        logdir: str, resume: bool = False, quiet: bool = False) -> RunOutcome:
  """Train `config` in `run_dir` (resuming from its newest intact checkpoint).

  The caller holds the run directory's lock and has validated `config`.
  Prints progress and one line for the outcome; returns the outcome.
  """
  resume_command = (f'python -m agents.scripts.train --logdir={logdir} '
                    f'--config={config_name} --timestamp={timestamp}')
  return run_targets([RunTarget(config, run_dir, resume)], config_name,
                     timestamp, resume_command, quiet)[0]


def run_targets(targets: list[RunTarget], config_name: str, timestamp: str,
                resume_command: str, quiet: bool = False) -> list[RunOutcome]:
  """Train one run, or several seeds of one config in one program (vmapped).

  The configs differ in their seed only. Each run has its own directory,
  metrics, TensorBoard files and checkpoints; the seeds resume together from
  the newest step that all of them have a checkpoint of.
  """
  config = targets[0].config
  seeded = len(targets) > 1
  if seeded:
    use_cpu_devices(len(targets))
  enable_compilation_cache()
  for target in targets:
    checkpoint.remove_temporaries(target.checkpoints)  # Left by a killed save.
  stop = {'requested': False}
  progress: Progress | None = None
  summaries: list[Summaries] = []
  last_eval: list[dict] = [{} for _ in targets]

  def on_report(report: dict) -> None:
    index = report.pop('seed_index', 0)
    summaries[index].report(report)
    if report['phase'] == 'eval':
      last_eval[index].update(report)
    if progress and index == 0:
      progress.report(report)

  def on_metrics(phase: str, step: int, metrics: dict) -> None:
    for index, summary in enumerate(summaries):
      mine = jax.tree_util.tree_map(lambda x: x[index], metrics) if seeded else metrics
      summary.metrics(phase, step, mine)

  def on_checkpoint(loop: Loop) -> None:
    state = loop.state_dict()
    for index, target in enumerate(targets):
      checkpoint.save(target.checkpoints, loop.step, _seed_slice(state, index, seeded),
                      target.config.to_yaml())

  callbacks = dict(on_report=on_report, on_metrics=on_metrics,
                   on_checkpoint=on_checkpoint, should_stop=lambda: stop['requested'])
  first_dir = targets[0].run_dir
  key = (jax.vmap(jax.random.PRNGKey)(jnp.asarray([t.config.seed for t in targets]))
         if seeded else jax.random.PRNGKey(config.seed))
  try:
    loop, _, envs = make_loop(config, key, callbacks)
  except ENV_FAILURES as error:
    return [_fail(1, first_dir, f'the environments could not start: {error}')]
  try:
    try:
      _resume(targets, loop, seeded)
    except (checkpoint.IncompatibleCheckpoint, ResumeMismatch) as error:
      return [_fail(2, first_dir, f'cannot resume: {error}. Start a new run '
                    'with another --timestamp.')]
    for target in targets:
      _write_run_files(target.run_dir, target.config, config_name, timestamp)
      summaries.append(Summaries(target.run_dir, resume_step=loop.step))
    if seeded and not quiet:
      devices = len(jax.devices())
      hint = ''
      if loop.seed_devices < min(devices, len(targets)):
        hint = (f' (JAX splits the seeds only evenly: a multiple of {devices} seeds '
                f'would use all {devices})')
      print(f'{len(targets)} seeds in one program, split over {loop.seed_devices} '
            f'{jax.devices()[0].platform.upper()} device(s){hint}.', file=sys.stderr)
    progress = Progress(config.steps, loop.step, quiet)

    def request_stop(signum, frame):
      if stop['requested']:
        raise KeyboardInterrupt
      stop['requested'] = True
    previous = signal.signal(signal.SIGINT, request_stop)
    try:
      loop.run(config.steps)
    except ENV_FAILURES as error:
      return [_fail(1, first_dir, f'an environment failed at step {loop.step:,}: '
                    f'{error}. The last checkpoint is kept in '
                    f'{targets[0].checkpoints}. Resume with: {resume_command}')]
    except TrainingDiverged as error:
      kept = checkpoint.latest(targets[0].checkpoints)
      kept = f'the last finite checkpoint is kept: {kept}' if kept else (
          'no checkpoint was written before')
      return [_fail(1, first_dir, f'training diverged: {error}; {kept}. Try a '
                    f'smaller learning_rate (now {config.learning_rate:g}) or '
                    f'gradient clipping (max_grad_norm, now '
                    f'{config.max_grad_norm:g}).')]
    finally:
      signal.signal(signal.SIGINT, previous)
      progress.close()
  finally:
    for summary in summaries:
      summary.close()
    _close(envs)
  outcomes = []
  for target, evaluation in zip(targets, last_eval):
    if stop['requested']:
      message = (f'Interrupted at step {loop.step:,}; checkpoint saved in '
                 f'{target.checkpoints}. Resume with: {resume_command}')
      print(message, file=sys.stderr)
      outcomes.append(RunOutcome(130, target.run_dir, message, evaluation or None))
      continue
    score = evaluation.get('mean_score')
    summary = (f"final eval mean score {score:.1f} over {evaluation['episodes']} "
               'episodes' if score is not None else 'no eval episode completed')
    message = (f'Done at step {loop.step:,}: {summary}. Run written to '
               f'{target.run_dir}')
    print(message)
    outcomes.append(RunOutcome(0, target.run_dir, message, evaluation or None))
  return outcomes


class ResumeMismatch(Exception):
  """The seeds of a multi-seed run have no checkpoint step in common."""


def _seed_slice(state: dict, index: int, seeded: bool) -> dict:
  """One seed's part of the Loop's state_dict (the learner and key per seed)."""
  if not seeded:
    return state
  learner, key = jax.device_get((state['learner'], state['key']))  # Sliced on the host.
  pick = lambda tree: jax.tree_util.tree_map(lambda x: x[index], tree)
  return dict(state, learner=pick(learner), key=pick(key))


def _resume(targets: list[RunTarget], loop: Loop, seeded: bool) -> None:
  """Load each run's checkpoint of the newest step they all have (if any)."""
  newest = [checkpoint.latest_intact(t.checkpoints) for t in targets]
  if not any(newest):
    for target in targets:
      if target.resume:
        print(f'Resuming {target.run_dir}: no checkpoint yet, starting at step 0.',
              file=sys.stderr)
    return
  steps = [dict(checkpoint.list_checkpoints(t.checkpoints)) for t in targets]
  common = sorted(set.intersection(*[set(s) for s in steps]))
  if not common or not all(newest):
    raise ResumeMismatch('the seeds have no checkpoint of a common step; resume '
                         'them one by one with --seed')
  step = common[-1]
  template = _seed_slice(loop.state_dict(), 0, seeded)
  states = [checkpoint.load(found[step], template)[0] for found in steps]
  if seeded:
    state = dict(states[0], learner=jax.tree_util.tree_map(
        lambda *xs: jnp.stack(xs), *[s['learner'] for s in states]),
                 key=jnp.stack([s['key'] for s in states]))
  else:
    state = states[0]
  loop.load_state_dict(state)
  for target, found in zip(targets, steps):
    print(f'Resuming {target.run_dir} from step {step:,} ({found[step]}).',
          file=sys.stderr)
  _warn_if_rate_spent(targets[0].config, loop)


def _write_run_files(run_dir: str, config: AttrDict, config_name: str,
                     timestamp: str) -> None:
  """config.yaml (what `visualize` and a resume read) and run.yaml."""
  for name, text in (
      ('config.yaml', config.to_yaml()),
      ('run.yaml', f'config_name: {config_name}\ntimestamp: {timestamp!r}\n')):
    path = os.path.join(run_dir, name)
    with open(f'{path}.tmp', 'w') as stream:
      stream.write(text)
    os.replace(f'{path}.tmp', path)


def _warn_if_rate_spent(config: AttrDict, loop: Loop) -> None:
  """An annealed run extended after its rate reached 0 would not learn."""
  scale = getattr(loop.learner, 'lr_scale', None)
  if (config.anneal_learning_rate and scale is not None and
      float(jnp.max(scale)) < 1e-6 and loop.step < config.steps):
    print('warning: anneal_learning_rate: the learning rate had decayed to 0 '
          f'by step {loop.step:,}, so training on to {config.steps:,} changes '
          'nothing; add --set anneal_learning_rate=false to train on at the '
          'constant learning_rate.', file=sys.stderr)
