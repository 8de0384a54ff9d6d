"""Build a host batch env with one of the interchangeable backends."""

from __future__ import annotations

from typing import Any, Callable

from agents.envs.batch_env import BatchEnv
from agents.envs.external_process import ExternalProcess
from agents.envs.worker_batch_env import WorkerBatchEnv

BACKENDS = ('inprocess', 'process', 'worker', 'ray')


def make_batch_env(constructor: Callable[[], Any], num_envs: int,
                   backend: str = 'inprocess', num_workers: int | None = None,
                   timeout: float = 60.0, ray_address: str | None = None) -> Any:
  """`num_envs` copies of `constructor()` as one batch.

  Backends: `inprocess` (cheapest for fast envs), `process` (one process per
  env, as in the original), `worker` (a few processes, several envs each,
  shared memory: for cheap envs that still gain from parallelism), `ray`
  (Ray actors, several envs each, on this machine or the cluster at
  `ray_address`: for envs that cost milliseconds, or more envs than one
  machine has cores).
  """
  if num_envs < 1:
    raise ValueError(f'Need at least one env, got num_envs={num_envs}.')
  if backend == 'inprocess':
    return BatchEnv([constructor() for _ in range(num_envs)], blocking=True)
  if backend == 'process':
    envs = []
    try:
      for index in range(num_envs):
        envs.append(ExternalProcess(constructor, timeout=timeout, index=index))
    except BaseException:
      for env in envs:
        env.close()
      raise
    return BatchEnv(envs, blocking=False)
  if backend == 'worker':
    return WorkerBatchEnv([constructor] * num_envs, num_workers, timeout=timeout)
  if backend == 'ray':
    from agents.envs.ray_batch_env import RayBatchEnv
    return RayBatchEnv([constructor] * num_envs, num_workers, address=ray_address,
                       timeout=min(timeout, 10.0))
  raise ValueError(f"Unknown env backend '{backend}'. Known: {', '.join(BACKENDS)}.")
