"""Environments: host batch envs and their backends, the bridge into the
compiled program, gymnax (in-graph) and EnvPool (host batch).

Names resolve on first use, so that a worker process that imports one
backend does not pay for JAX or gymnax.
"""

from agents import _lazy

_EXPORTS = {
    **_lazy.names_in('agents.envs.gymnax_env', 'GymnaxEnv'),
    **_lazy.names_in('agents.envs.envpool_env', 'EnvPoolBatchEnv'),
    **_lazy.names_in('agents.envs.protocol', 'HostBatchEnv', 'BatchStep'),
    **_lazy.names_in('agents.envs.batch_env', 'BatchEnv'),
    **_lazy.names_in('agents.envs.worker_batch_env', 'WorkerBatchEnv'),
    **_lazy.names_in('agents.envs.ray_batch_env', 'RayBatchEnv'),
    **_lazy.names_in('agents.envs.in_graph_batch_env', 'InGraphBatchEnv'),
    **_lazy.names_in('agents.envs.backends', 'make_batch_env'),
}

__all__ = sorted(_EXPORTS)
__getattr__ = _lazy.exports('agents.envs', _EXPORTS)
