"""Where reports and metrics go: TensorBoard event files and metrics.jsonl."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np


class Summaries:
  """Writes reports to `metrics.jsonl` and TensorBoard (one folder per phase).

  `resume_step`: the run continues from a checkpoint of that step, so the
  reports written after it (by a process that was killed later) are dropped
  from metrics.jsonl, as is a last line cut short by the kill; the resumed
  run writes them again.
  """

  def __init__(self, logdir: str, resume_step: int | None = None) -> None:
    from tensorboardX import SummaryWriter
    self._logdir = logdir
    self._writers: dict[str, Any] = {}
    self._writer_class = SummaryWriter
    path = os.path.join(logdir, 'metrics.jsonl')
    if os.path.exists(path):
      _keep_reports_until(path, resume_step or 0)
    self._jsonl = open(path, 'a')

  def _writer(self, phase: str) -> Any:
    if phase not in self._writers:
      self._writers[phase] = self._writer_class(os.path.join(self._logdir, phase))
    return self._writers[phase]

  def report(self, report: dict) -> None:
    """One line of metrics.jsonl (strict JSON: null for NaN or inf); mean score
    and length in TensorBoard."""
    report = {key: _finite_or_none(value) for key, value in report.items()}
    self._jsonl.write(json.dumps(report, allow_nan=False) + '\n')
    self._jsonl.flush()
    writer = self._writer(report['phase'])
    for name in ('mean_score', 'mean_length'):
      if report.get(name) is not None:
        writer.add_scalar(name, report[name], report['step'])
    writer.flush()

  def metrics(self, phase: str, step: int, metrics: dict) -> None:
    """Scalars as scalars, larger arrays as histograms of their finite values."""
    writer = self._writer(phase)
    for name, value in sorted(metrics.items()):
      value = np.asarray(value)
      if value.size == 1:
        writer.add_scalar(f'algorithm/{name}', float(value), step)
      elif value.size:
        finite = value[np.isfinite(value)] if value.dtype.kind == 'f' else value.ravel()
        if finite.size:
          writer.add_histogram(f'algorithm/{name}', finite.ravel(), step)
    writer.flush()

  def close(self) -> None:
    for writer in self._writers.values():
      writer.close()
    self._jsonl.close()


def _finite_or_none(value: Any) -> Any:
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def _keep_reports_until(path: str, step: int) -> None:
  """Rewrite metrics.jsonl (atomically) without reports after `step` and
  without lines that do not parse (cut short by a kill)."""
  kept, dropped = [], False
  with open(path) as stream:
    for line in stream:
      try:
        report = json.loads(line)
      except ValueError:
        dropped = True
        continue
      if not line.endswith('\n') or report.get('step', 0) > step:
        dropped = True
        continue
      kept.append(line)
  if dropped:
    with open(f'{path}.tmp', 'w') as stream:
      stream.writelines(kept)
    os.replace(f'{path}.tmp', path)
