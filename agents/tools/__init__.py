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
    **_lazy.names_in('agents.parts.attr_dict', 'AttrDict'),
    **_lazy.names_in('agents.envs.batch_env', 'BatchEnv'),
    **_lazy.names_in('agents.envs.external_process', 'ExternalProcess'),
    **_lazy.names_in('agents.envs.in_graph_batch_env', 'InGraphBatchEnv'),
    **_lazy.names_in('agents.core.loop', 'Loop', 'Phase'),
    **_lazy.names_in('agents.testing.mock_algorithm', 'MockAlgorithm'),
    **_lazy.names_in('agents.testing.mock_environment', 'MockEnvironment'),
    **_lazy.names_in('agents.core.simulate', 'simulate', 'make_run'),
    'wrappers': 'agents.tools.wrappers',
    # This project's additions to them.
    **_lazy.names_in('agents.envs.protocol', 'HostBatchEnv'),
    **_lazy.names_in('agents.envs.worker_batch_env', 'WorkerBatchEnv'),
    **_lazy.names_in('agents.envs.ray_batch_env', 'RayBatchEnv'),
    **_lazy.names_in('agents.envs.backends', 'make_batch_env'),
    **_lazy.names_in('agents.errors', 'WorkerError', 'WorkerDiedError', 'WorkerTimeoutError'),
    **_lazy.names_in('agents.core.in_graph_env', 'EnvState', 'EnvSpec'),
    **_lazy.names_in('agents.core.algorithm', 'Transition', 'Algorithm'),
}


__all__ = sorted(_EXPORTS)
__getattr__ = _lazy.exports('agents.tools', _EXPORTS)
