"""The training run behind `agents.scripts.train`: build, resume, loop, save."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import jax

from agents.scripts import build
from agents.tools import checkpoint
from agents.tools.attr_dict import AttrDict
from agents.tools.loop import Loop, Phase
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

# Failures of envs in worker processes: reported in one message (with the
# worker's traceback and the env's index) and a resume command.
ENV_FAILURES = (WorkerError, WorkerDiedError, WorkerTimeoutError)


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


def run(config: AttrDict, run_dir: str, config_name: str, timestamp: str,
        logdir: str, resume: bool = False, quiet: bool = False) -> int:
  """Train `config` in `run_dir` (resuming from its latest checkpoint)."""
  enable_compilation_cache()
  with open(os.path.join(run_dir, 'config.yaml'), 'w') as stream:
    stream.write(config.to_yaml())
  with open(os.path.join(run_dir, 'run.yaml'), 'w') as stream:
    stream.write(f'config_name: {config_name}\ntimestamp: {timestamp!r}\n')
  checkpoints = os.path.join(run_dir, 'checkpoints')
  summaries = Summaries(run_dir)
  resume_command = (f'python -m agents.scripts.train --logdir={logdir} '
                    f'--config={config_name} --timestamp={timestamp}')
  latest = checkpoint.latest(checkpoints)
  stop = {'requested': False}
  progress: Progress | None = None
  last_eval: dict = {}

  def on_report(report: dict) -> None:
    summaries.report(report)
    if report['phase'] == 'eval':
      last_eval.update(report)
    if progress:
      progress.report(report)

  def on_checkpoint(loop: Loop) -> None:
    checkpoint.save(checkpoints, loop.step, loop.state_dict(), config.to_yaml())

  callbacks = dict(on_report=on_report, on_metrics=summaries.metrics,
                   on_checkpoint=on_checkpoint, should_stop=lambda: stop['requested'])
  try:
    loop, _, envs = make_loop(config, jax.random.PRNGKey(config.seed), callbacks)
  except ENV_FAILURES as error:
    summaries.close()
    print(f'error: the environments could not start: {error}', file=sys.stderr)
    return 1
  try:
    if latest:
      state, _, step = checkpoint.load(latest, loop.state_dict())
      loop.load_state_dict(state)
      print(f'Resuming {run_dir} from step {step:,} ({latest}).', file=sys.stderr)
    elif resume:
      print(f'Resuming {run_dir}: no checkpoint yet, starting at step 0.',
            file=sys.stderr)
    progress = Progress(config.steps, loop.step, quiet)

    def request_stop(signum, frame):
      if stop['requested']:
        raise KeyboardInterrupt
      stop['requested'] = True
    previous = signal.signal(signal.SIGINT, request_stop)
    try:
      loop.run(config.steps)
    except ENV_FAILURES as error:
      print(f'error: an environment failed at step {loop.step:,}: {error}',
            file=sys.stderr)
      print(f'The last checkpoint is kept in {checkpoints}. Resume with: '
            f'{resume_command}', file=sys.stderr)
      return 1
    finally:
      signal.signal(signal.SIGINT, previous)
      progress.close()
  finally:
    summaries.close()
    _close(envs)
  if stop['requested']:
    print(f'Interrupted at step {loop.step:,}; checkpoint saved in {checkpoints}. '
          f'Resume with: {resume_command}', file=sys.stderr)
    return 130
  score = last_eval.get('mean_score')
  summary = (f"final eval mean score {score:.1f} over {last_eval['episodes']} "
             'episodes' if score is not None else 'no eval episode completed')
  print(f'Done at step {loop.step:,}: {summary}. Run written to {run_dir}')
  return 0
