"""Where reports and metrics go: TensorBoard event files, metrics.jsonl, and a
tracker (W&B or MLflow) where the run has one."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np

from agents.core.reports import Report
from agents.run import metrics_file, tracking
from agents.run.run_dir import METRICS_FILE


# TensorBoard's files are flushed at most this often (and on close): a flush
# waits for the writer thread, ~1 ms, and fast runs report dozens of times a
# second. metrics.jsonl, the run's record, is flushed at every line.
FLUSH_SECONDS = 1.0


class Summaries:
  """Writes reports to `metrics.jsonl` and TensorBoard (one folder per phase).

  `resume_step`: the run continues from a checkpoint of that step, so the
  reports written after it (by a process that was killed later) are dropped
  from metrics.jsonl, as is a last line cut short by the kill; the resumed
  run writes them again.
  """

  def __init__(self, logdir: str, resume_step: int | None = None,
               tracker: Any = None) -> None:
    from tensorboardX import SummaryWriter
    _route_writer_thread_errors()
    self._logdir = logdir
    self._writers: dict[str, Any] = {}
    self._flushed: dict[str, float] = {}   # Phase -> when its writer last flushed.
    self._writer_class = SummaryWriter
    path = os.path.join(logdir, METRICS_FILE)
    metrics_file.keep_until(path, resume_step or 0)
    self._jsonl = open(path, 'a')
    self._tracker = tracker          # W&B or MLflow (agents.run.tracking), or None.

  def _writer(self, phase: str) -> Any:
    if phase not in self._writers:
      self._writers[phase] = self._writer_class(os.path.join(self._logdir, phase))
    return self._writers[phase]

  def report(self, report: Report) -> None:
    """One line of metrics.jsonl; mean score and length in TensorBoard. An event
    file that its writer thread could not write raises here, in the run."""
    _raise_writer_error()
    metrics_file.append(self._jsonl, report)
    writer = self._writer(report.phase)
    for name in ('mean_score', 'mean_length'):
      value = getattr(report, name)
      if value is not None and np.isfinite(value):
        writer.add_scalar(name, value, report.step)
    self._flush(report.phase)
    if self._tracker is not None:
      self._tracker.log(tracking.report_values(report), report.step)

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
    self._flush(phase)
    if self._tracker is not None:
      self._tracker.log(tracking.metric_values(metrics), step)

  def _flush(self, phase: str) -> None:
    now = time.monotonic()
    if now - self._flushed.get(phase, -FLUSH_SECONDS) >= FLUSH_SECONDS:
      self._writers[phase].flush()
      self._flushed[phase] = now

  def close(self) -> None:
    for writer in self._writers.values():
      writer.close()
    self._jsonl.close()
    if self._tracker is not None:
      self._tracker.close()


_writer_errors: list[OSError] = []


def _route_writer_thread_errors() -> None:
  """tensorboardX writes event files in a thread of its own; an OSError there (a
  full disk) would print a traceback. It is kept instead, and raised in the run
  at the next report."""
  hook = threading.excepthook
  if getattr(hook, '_agents', False):
    return

  def excepthook(args: threading.ExceptHookArgs) -> None:
    if isinstance(args.exc_value, OSError):
      _writer_errors.append(args.exc_value)
      return
    hook(args)

  excepthook._agents = True
  threading.excepthook = excepthook


def _raise_writer_error() -> None:
  if _writer_errors:
    raise _writer_errors.pop(0)
