"""Efficient batched reinforcement learning: BatchPPO on JAX and Gymnasium.

From Python, next to the command line:

    import agents
    run = agents.train('pendulum', logdir='./logdir', seed=0, steps=65_536)
    policy = agents.load_policy(run.run_dir)
    action = policy(observ)

Names are imported lazily, so `import agents` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = '0.1.0'

_EXPORTS = {
    'train': 'agents.api',
    'TrainingFailed': 'agents.api',
    'load_policy': 'agents.policy',
    'Policy': 'agents.policy',
    'PolicyLoadError': 'agents.policy',
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
  if name not in _EXPORTS:
    raise AttributeError(f"module 'agents' has no attribute '{name}'")
  return getattr(importlib.import_module(_EXPORTS[name]), name)
