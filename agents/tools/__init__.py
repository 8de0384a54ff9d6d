"""Environment infrastructure, algorithm-agnostic: batching, processes, simulate, Loop.

Names are imported lazily so that worker processes, which import only what
they need, do not pay for JAX at start-up.
"""

from agents import _lazy

_EXPORTS = {
    'AttrDict': 'agents.tools.attr_dict',
    'MockEnvironment': 'agents.tools.mock_environment',
    'ExternalProcess': 'agents.tools.external_process',
    'BatchEnv': 'agents.tools.batch_env',
    'WorkerBatchEnv': 'agents.tools.worker_batch_env',
    'make_batch_env': 'agents.tools.backends',
    'WorkerError': 'agents.tools.process',
    'WorkerDiedError': 'agents.tools.process',
    'WorkerTimeoutError': 'agents.tools.process',
    'InGraphBatchEnv': 'agents.tools.in_graph_batch_env',
    'EnvState': 'agents.tools.in_graph_env',
    'EnvSpec': 'agents.tools.in_graph_env',
    'Transition': 'agents.tools.algorithm',
    'Algorithm': 'agents.tools.algorithm',
    'MockAlgorithm': 'agents.tools.mock_algorithm',
    'simulate': 'agents.tools.simulate',
    'Loop': 'agents.tools.loop',
    'Phase': 'agents.tools.loop',
    'RayBatchEnv': 'agents.tools.ray_batch_env',
    'wrappers': 'agents.tools.wrappers',
}

__all__ = sorted(_EXPORTS)
__getattr__ = _lazy.exports('agents.tools', _EXPORTS)
