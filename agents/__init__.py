"""Efficient batched reinforcement learning: BatchPPO on JAX and Gymnasium.

From Python, next to the command line:

    import agents
    run = agents.train('pendulum', logdir='./logdir', seed=0, steps=65_536)
    policy = agents.load_policy(run.run_dir)
    action = policy(observ)

Names are imported lazily, so `import agents` stays cheap.
"""

from __future__ import annotations

from agents import _lazy

__version__ = '0.1.0'

_EXPORTS = {
    'train': 'agents.api:train',
    'load_policy': 'agents.api:load_policy',
    'Policy': 'agents.run.policy:Policy',
    'RunOutcome': 'agents.run.outcome:RunOutcome',
    'AgentsError': 'agents.errors:AgentsError',
    'ConfigError': 'agents.errors:ConfigError',
    'TrainingFailed': 'agents.errors:TrainingFailed',
    'PolicyLoadError': 'agents.errors:PolicyLoadError',
}

__all__ = sorted(_EXPORTS)
__getattr__ = _lazy.exports('agents', _EXPORTS)
