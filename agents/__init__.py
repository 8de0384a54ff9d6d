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
    **_lazy.names_in('agents.api', 'train', 'load_policy'),
    **_lazy.names_in('agents.run.policy', 'Policy'),
    **_lazy.names_in('agents.run.outcome', 'RunOutcome'),
    **_lazy.names_in('agents.errors', 'AgentsError', 'ConfigError', 'TrainingFailed',
                     'PolicyLoadError'),
}

__all__ = sorted(_EXPORTS)
__getattr__ = _lazy.exports('agents', _EXPORTS)
