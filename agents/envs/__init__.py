"""Environments: host batch envs and their backends, the bridge into the
compiled program, gymnax (in-graph) and EnvPool (host batch).

Names resolve on first use, so that a worker process that imports one
backend does not pay for JAX or gymnax.
"""

from agents import _lazy

_EXPORTS = {
    'GymnaxEnv': 'agents.envs.gymnax_env:GymnaxEnv',
    'EnvPoolBatchEnv': 'agents.envs.envpool_env:EnvPoolBatchEnv',
    'HostBatchEnv': 'agents.envs.protocol:HostBatchEnv',
    'BatchStep': 'agents.envs.protocol:BatchStep',
    'BatchEnv': 'agents.envs.batch_env:BatchEnv',
    'WorkerBatchEnv': 'agents.envs.worker_batch_env:WorkerBatchEnv',
    'RayBatchEnv': 'agents.envs.ray_batch_env:RayBatchEnv',
    'InGraphBatchEnv': 'agents.envs.in_graph_batch_env:InGraphBatchEnv',
    'make_batch_env': 'agents.envs.backends:make_batch_env',
}

__all__ = sorted(_EXPORTS)
__getattr__ = _lazy.exports('agents.envs', _EXPORTS)
