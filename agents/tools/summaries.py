"""Where reports and metrics go: TensorBoard event files and metrics.jsonl."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np


class Summaries:
  """Writes reports to `metrics.jsonl` and TensorBoard (one folder per phase)."""

  def __init__(self, logdir: str) -> None:
    from tensorboardX import SummaryWriter
    self._logdir = logdir
    self._writers: dict[str, Any] = {}
    self._writer_class = SummaryWriter
    self._jsonl = open(os.path.join(logdir, 'metrics.jsonl'), 'a')

  def _writer(self, phase: str) -> Any:
    if phase not in self._writers:
      self._writers[phase] = self._writer_class(os.path.join(self._logdir, phase))
    return self._writers[phase]

  def report(self, report: dict) -> None:
    """One line of metrics.jsonl; mean score and length in TensorBoard."""
    self._jsonl.write(json.dumps(report) + '\n')
    self._jsonl.flush()
    writer = self._writer(report['phase'])
    for name in ('mean_score', 'mean_length'):
      if report.get(name) is not None:
        writer.add_scalar(name, report[name], report['step'])
    writer.flush()

  def metrics(self, phase: str, step: int, metrics: dict) -> None:
    """Scalars as scalars, larger arrays as histograms."""
    writer = self._writer(phase)
    for name, value in sorted(metrics.items()):
      value = np.asarray(value)
      if value.size == 1:
        writer.add_scalar(f'algorithm/{name}', float(value), step)
      elif value.size:
        writer.add_histogram(f'algorithm/{name}', value.ravel(), step)
    writer.flush()

  def close(self) -> None:
    for writer in self._writers.values():
      writer.close()
    self._jsonl.close()
