"""PPO's own hyper-parameters, typed, built once from a run's config.

PPO reads nothing else of the run config: the Loop's budget reaches it only
as `anneal_steps` (where a linearly annealed learning rate reaches 0), so the
two cannot disagree. The objective is checked here and nowhere else.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from agents.errors import ConfigError

OBJECTIVES = ('clip', 'kl_penalty')


@dataclasses.dataclass(frozen=True)
class PPOConfig:
  """See `agents/scripts/configs.py` default() for what each one does."""
  update_every: int = 128
  update_epochs: int = 10
  num_minibatches: int = 32
  chunk_length: int = 32
  learning_rate: float = 1e-3
  value_learning_rate: float | None = None
  anneal_steps: int | None = None      # Annealed: the rate is 0 at these env-steps.
  max_grad_norm: float = 0.5
  discount: float = 0.99
  lambda_: float = 0.95
  objective: str = 'clip'
  clip_epsilon: float = 0.2
  kl_target: float = 1e-2
  kl_cutoff_factor: float = 2.0
  kl_cutoff_coef: float = 1000.0
  kl_init_coef: float = 1.0
  kl_min_coef: float = 1e-3
  value_coef: float = 0.5
  entropy_coef: float = 0.0
  normalize_observ: bool = True
  normalize_reward: bool = True
  observ_clip: float = 5.0
  reward_clip: float | None = None

  def __post_init__(self) -> None:
    if self.objective not in OBJECTIVES:
      raise ConfigError(f"Unknown objective '{self.objective}'. Known: "
                        f"{', '.join(OBJECTIVES)}.")

  @classmethod
  def from_run_config(cls, run: Mapping[str, Any]) -> 'PPOConfig':
    """PPO's part of a run config; the budget `steps` becomes `anneal_steps`
    when `anneal_learning_rate` is on."""
    names = [field.name for field in dataclasses.fields(cls) if field.name != 'anneal_steps']
    values = {name: run[name] for name in names if name in run}
    anneal = bool(run['anneal_learning_rate']) if 'anneal_learning_rate' in run else False
    return cls(anneal_steps=int(run['steps']) if anneal else None, **values)
