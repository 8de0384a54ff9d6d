"""Summaries: metrics.jsonl gets every report at once; TensorBoard's writers
are flushed at most once a second (a flush waits for their thread) and on close."""

from agents.core.reports import Report
from agents.run import metrics_file, summaries


class CountingWriter:
  """Stands in for tensorboardX's SummaryWriter; records what it was asked."""
  made: list['CountingWriter'] = []

  def __init__(self, logdir):
    self.logdir, self.scalars, self.flushes, self.closed = logdir, [], 0, False
    CountingWriter.made.append(self)

  def add_scalar(self, name, value, step):
    self.scalars.append((name, value, step))

  def add_histogram(self, name, values, step):
    self.scalars.append((name, len(values), step))

  def flush(self):
    self.flushes += 1

  def close(self):
    self.closed = True


def _report(step):
  return Report(phase='train', step=step, phase_step=step, episodes=1, mean_score=-1.0,
                mean_length=200.0, time=0.0, train_time=0.0, compile_time=0.0)


def test_reports_flush_tensorboard_once_a_second_and_metrics_file_every_line(
    tmp_path, monkeypatch):
  now = [100.0]
  monkeypatch.setattr(summaries.time, 'monotonic', lambda: now[0])
  CountingWriter.made.clear()
  writer = summaries.Summaries(str(tmp_path))
  writer._writer_class = CountingWriter
  for step in range(1, 51):            # 50 reports within the same second:
    writer.report(_report(step))
  tensorboard = CountingWriter.made[0]
  assert len(tensorboard.scalars) == 100   # every value handed to the writer,
  assert tensorboard.flushes == 1          # one flush (the first report),
  reports = metrics_file.read_reports(str(tmp_path / 'metrics.jsonl'))
  assert [r.step for r in reports] == list(range(1, 51))   # every line on disk.
  now[0] += 0.5
  writer.metrics('train', 50, {'loss': 1.0})
  assert tensorboard.flushes == 1
  now[0] += 0.6                        # A second after the first flush:
  writer.report(_report(51))
  assert tensorboard.flushes == 2
  writer.close()
  assert tensorboard.closed              # close writes out the rest.
