"""What the Loop tells the outside world: reports and its own state, as frozen records.

`Report` is one line of `metrics.jsonl`: its fields are that file's schema,
and `to_json` / `from_json` are the only places that turn one into the other.
`LoopState` is what a checkpoint holds of the Loop; `to_state_dict` keeps the
layout that checkpoints have had since the first version.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

REPORT_FIELDS = ('phase', 'step', 'phase_step', 'episodes', 'mean_score',
                 'mean_length', 'time', 'train_time', 'compile_time')


@dataclasses.dataclass(frozen=True)
class Report:
  """Mean score and length of the episodes a phase finished since its last report.

  step: training env-steps so far (all phases report against it).
  phase_step: env-steps this phase has run, all visits.
  episodes: how many episodes the means cover (0: none finished; the means are None).
  time: seconds since the Loop started; train_time: seconds of training phases,
    JAX compile time excluded; compile_time: seconds JAX spent preparing programs.
  seed_index: which seed of a several-seed program (None for a single run).
  """
  phase: str
  step: int
  phase_step: int
  episodes: int
  mean_score: float | None
  mean_length: float | None
  time: float
  train_time: float
  compile_time: float
  seed_index: int | None = None

  @property
  def steps_per_second(self) -> float | None:
    """Training env-steps per second of training time (compile excluded)."""
    if self.phase != 'eval' and self.train_time > 0:
      return self.phase_step / self.train_time
    return None

  def to_json(self) -> dict[str, Any]:
    """The metrics.jsonl object: strict JSON (None for NaN or inf), no seed index
    (each seed has its own run directory)."""
    row = {name: getattr(self, name) for name in REPORT_FIELDS}
    return {key: None if isinstance(value, float) and not math.isfinite(value) else value
            for key, value in row.items()}

  @classmethod
  def from_json(cls, row: Mapping[str, Any]) -> 'Report':
    """A report from a metrics.jsonl object; ValueError when it is not one."""
    if not isinstance(row, Mapping) or not {'phase', 'step'} <= set(row):
      raise ValueError('not a report (needs at least phase and step)')
    defaults = {'phase_step': row.get('step', 0), 'episodes': 0, 'mean_score': None,
                'mean_length': None, 'time': 0.0, 'train_time': 0.0,
                'compile_time': 0.0}
    values = {name: row.get(name, defaults.get(name)) for name in REPORT_FIELDS}
    try:
      values['step'], values['phase_step'] = int(values['step']), int(values['phase_step'])
    except (TypeError, ValueError):
      raise ValueError('step is not an integer') from None
    return cls(**values)


@dataclasses.dataclass(frozen=True)
class LoopState:
  """What a checkpoint needs to continue the Loop."""
  learner: Any
  step: int
  key: Any
  train_time: float = 0.0
  compile_time: float = 0.0
  phase_steps: Mapping[str, int] = dataclasses.field(default_factory=dict)
  # The phase to visit next, or the one a stop ended before its visit was done:
  # a run stopped (or killed) during an evaluation runs that evaluation again.
  cursor: int = 0

  def to_state_dict(self) -> dict[str, Any]:
    return {'learner': self.learner, 'step': self.step, 'key': self.key,
            'train_time': self.train_time, 'compile_time': self.compile_time,
            'phase_steps': dict(self.phase_steps), 'cursor': self.cursor}

  @classmethod
  def from_state_dict(cls, state: Mapping[str, Any]) -> 'LoopState':
    return cls(learner=state['learner'], step=int(state['step']), key=state['key'],
               train_time=float(state.get('train_time', 0.0)),
               compile_time=float(state.get('compile_time', 0.0)),
               phase_steps={name: int(steps) for name, steps in
                            dict(state.get('phase_steps', {})).items()},
               cursor=int(state.get('cursor', 0)))
