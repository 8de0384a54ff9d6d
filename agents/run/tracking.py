"""Experiment tracking beside TensorBoard: Weights & Biases or MLflow (`track`).

A tracked run logs its config once, then the same numbers TensorBoard gets, under
Stable-Baselines3's metric names (the ones most PPO users compare against):
`rollout/ep_rew_mean`, `rollout/ep_len_mean`, `time/fps` for training reports,
`eval/mean_reward`, `eval/mean_ep_length` for evaluations, and
`train/value_loss`, `train/policy_gradient_loss`, `train/approx_kl`,
`train/entropy`, `train/learning_rate`, ... for updates, all against env-steps.
`visualize --track` adds its videos to the same run. The tracked run is named
after the run directory and found again by it, so a resumed run continues it.

W&B: project `WANDB_PROJECT` (default 'agents'); offline with `WANDB_MODE=offline`.
MLflow: `MLFLOW_TRACKING_URI` (default: a file store `mlruns/` beside the run
directories), experiment `MLFLOW_EXPERIMENT_NAME` (default 'agents').
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any, Mapping, Sequence

import numpy as np

from agents.core.reports import Report
from agents.errors import ConfigError

TRACKERS = ('wandb', 'mlflow')
_PACKAGES = {'wandb': ('wandb', 'wandb'), 'mlflow': ('mlflow', 'mlflow')}
_REPORT_NAMES = {('train', 'mean_score'): 'rollout/ep_rew_mean',
                 ('train', 'mean_length'): 'rollout/ep_len_mean',
                 ('eval', 'mean_score'): 'eval/mean_reward',
                 ('eval', 'mean_length'): 'eval/mean_ep_length'}
_METRIC_NAMES = {'loss': 'train/loss', 'policy_loss': 'train/policy_gradient_loss',
                 'value_loss': 'train/value_loss', 'kl': 'train/approx_kl',
                 'entropy': 'train/entropy', 'learning_rate': 'train/learning_rate'}
_RUN_TAG = 'agents.run_dir'


def check(kind: str | None) -> None:
  """ConfigError unless `kind` is None or a tracker whose package is installed."""
  if kind is None:
    return
  if kind not in TRACKERS:
    raise ConfigError(f"Unknown track '{kind}'. Known: {', '.join(TRACKERS)} (or null).")
  module, extra = _PACKAGES[kind]
  try:
    __import__(module)
  except ImportError:
    raise ConfigError(f"track={kind} needs {module}: pip install -e '.[{extra}]'") from None


def make(kind: str | None, run_dir: str, config: Mapping[str, Any]) -> Any:
  """The tracker of a run (None when `kind` is None)."""
  if kind is None:
    return None
  check(kind)
  return (WandbTracker if kind == 'wandb' else MlflowTracker)(run_dir, dict(config))


def report_values(report: Report) -> dict[str, float]:
  values = {}
  for field in ('mean_score', 'mean_length'):
    value = getattr(report, field)
    if value is not None and np.isfinite(value):
      values[_REPORT_NAMES.get((report.phase, field), f'{report.phase}/{field}')] = value
  if report.steps_per_second:
    values['time/fps'] = report.steps_per_second
  return values


def metric_values(metrics: Mapping[str, Any]) -> dict[str, float]:
  """The scalars of an update's metrics (histograms stay in TensorBoard)."""
  values = {}
  for name, value in sorted(metrics.items()):
    value = np.asarray(value)
    if value.size == 1 and np.isfinite(value):
      values[_METRIC_NAMES.get(name, f'train/{name}')] = float(value)
  return values


def _run_id(run_dir: str) -> str:
  """A W&B run id from the run directory (stable across resumes)."""
  path = os.path.abspath(run_dir)
  name = ''.join(c if c.isalnum() or c in '-_' else '-' for c in os.path.basename(path))
  return f'{name[:40]}-{hashlib.sha1(path.encode()).hexdigest()[:8]}'


class WandbTracker:
  def __init__(self, run_dir: str, config: dict) -> None:
    os.environ.setdefault('WANDB_SILENT', 'true')   # Its banners would break the bar.
    import wandb
    self._run = wandb.init(
        project=os.environ.get('WANDB_PROJECT', 'agents'), name=os.path.basename(run_dir),
        id=_run_id(run_dir), resume='allow', dir=run_dir, config=config,
        settings=wandb.Settings(console='off', silent=True))

  def log(self, values: dict[str, float], step: int) -> None:
    if values:
      self._run.log(dict(values, global_step=step), step=step)

  def videos(self, paths: Sequence[str], fps: int) -> None:
    import wandb
    self._run.log({f'videos/episode_{i}': wandb.Video(path, fps=fps)
                   for i, path in enumerate(paths)})

  def close(self) -> None:
    self._run.finish()


class MlflowTracker:
  def __init__(self, run_dir: str, config: dict) -> None:
    import mlflow
    logging.getLogger('mlflow.tracking.fluent').setLevel(logging.WARNING)
    if not os.environ.get('MLFLOW_TRACKING_URI'):
      store = os.path.join(os.path.dirname(os.path.abspath(run_dir)), 'mlruns')
      os.environ.setdefault('MLFLOW_ALLOW_FILE_STORE', 'true')
      mlflow.set_tracking_uri('file://' + store)
    mlflow.set_experiment(os.environ.get('MLFLOW_EXPERIMENT_NAME', 'agents'))
    path = os.path.abspath(run_dir)
    found = mlflow.search_runs(filter_string=f"tags.`{_RUN_TAG}` = '{path}'",
                               output_format='list')
    self._mlflow = mlflow
    self._run = mlflow.start_run(run_id=found[0].info.run_id) if found else (
        mlflow.start_run(run_name=os.path.basename(path), tags={_RUN_TAG: path}))
    if not found:
      mlflow.log_params({key: str(value)[:500] for key, value in config.items()})

  def log(self, values: dict[str, float], step: int) -> None:
    if values:
      self._mlflow.log_metrics(values, step=step)

  def videos(self, paths: Sequence[str], fps: int) -> None:
    for path in paths:
      self._mlflow.log_artifact(path, artifact_path='videos')

  def close(self) -> None:
    self._mlflow.end_run()
