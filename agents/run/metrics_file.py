"""metrics.jsonl: one `Report` per line, read back in one place.

A line cut short by a kill (or otherwise not a report) is skipped with one
warning wherever the file is read, never a JSONDecodeError.
"""

from __future__ import annotations

import json
import logging
import os

from agents.core.reports import Report
from agents.run.run_dir import write_atomic

LOG = logging.getLogger(__name__)


def read_reports(path: str) -> list[Report]:
  """The reports of a metrics.jsonl, in file order; bad lines skipped with a warning."""
  reports, bad = [], 0
  with open(path, errors='replace') as stream:
    for line in stream:
      if not line.strip():
        continue
      try:
        reports.append(Report.from_json(json.loads(line)))
      except (ValueError, TypeError):
        bad += 1
  if bad:
    LOG.warning('%s: skipped %d line(s) that are not reports (cut short by a kill?).',
                path, bad)
  return reports


def append(stream, report: Report) -> None:
  """Write one report as a line (strict JSON: null for NaN or inf)."""
  stream.write(json.dumps(report.to_json(), allow_nan=False) + '\n')
  stream.flush()


def keep_until(path: str, step: int) -> None:
  """Rewrite the file (atomically) without reports after `step` and without
  lines that do not parse (cut short by a kill): a resume from a checkpoint of
  `step` writes the later ones again."""
  if not os.path.exists(path):
    return
  kept, dropped = [], False
  with open(path, errors='replace') as stream:
    for line in stream:
      try:
        report = Report.from_json(json.loads(line))
      except (ValueError, TypeError):
        dropped = True
        continue
      if not line.endswith('\n') or report.step > step:
        dropped = True
        continue
      kept.append(line)
  if dropped:
    write_atomic(path, ''.join(kept))
