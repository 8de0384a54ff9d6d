"""The original's `agents.tools`, by its names: one place where its users find them.

BatchPPO's users know `tools.AttrDict`, `tools.BatchEnv`,
`tools.InGraphBatchEnv`, `tools.simulate(...)`, `tools.Loop`,
`tools.MockAlgorithm`, `tools.MockEnvironment` and
`tools.wrappers.ExternalProcess`. Each name here is the class or function of
the layer that owns it (docs/design.md); none is a copy, so every class has one
module path. Names resolve on first use, so that importing this package does
not start JAX.
"""

from agents import _lazy

_EXPORTS = {
    # The original's names.
    'AttrDict': 'agents.parts.attr_dict:AttrDict',
    'BatchEnv': 'agents.envs.batch_env:BatchEnv',
    'ExternalProcess': 'agents.envs.external_process:ExternalProcess',
    'InGraphBatchEnv': 'agents.envs.in_graph_batch_env:InGraphBatchEnv',
    'Loop': 'agents.core.loop:Loop',
    'MockAlgorithm': 'agents.testing.mock_algorithm:MockAlgorithm',
    'MockEnvironment': 'agents.testing.mock_environment:MockEnvironment',
    'simulate': 'agents.core.simulate:simulate',
    'wrappers': 'agents.tools.wrappers',
    # This project's additions to them.
    'HostBatchEnv': 'agents.envs.protocol:HostBatchEnv',
    'WorkerBatchEnv': 'agents.envs.worker_batch_env:WorkerBatchEnv',
    'RayBatchEnv': 'agents.envs.ray_batch_env:RayBatchEnv',
    'make_batch_env': 'agents.envs.backends:make_batch_env',
    'WorkerError': 'agents.errors:WorkerError',
    'WorkerDiedError': 'agents.errors:WorkerDiedError',
    'WorkerTimeoutError': 'agents.errors:WorkerTimeoutError',
    'EnvState': 'agents.core.in_graph_env:EnvState',
    'EnvSpec': 'agents.core.in_graph_env:EnvSpec',
    'Transition': 'agents.core.algorithm:Transition',
    'Algorithm': 'agents.core.algorithm:Algorithm',
    'Phase': 'agents.core.loop:Phase',
    'make_run': 'agents.core.simulate:make_run',
}

__all__ = sorted(_EXPORTS)
__getattr__ = _lazy.exports('agents.tools', _EXPORTS)
