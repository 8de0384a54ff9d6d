"""Data parallelism: one run's env batch split over several devices.

The batch axis of the simulation (the envs, the algorithm's per-agent state
and rollout) is laid out over a 1-D mesh of devices named 'agents'; the
learner is replicated. The program stays the single-device program: XLA's
partitioner (GSPMD) splits every step and the update, and inserts the
all-reduces where the math needs whole-batch values, so gradients and
normalizer statistics are averaged over all agents exactly as on one device
(up to the order of float sums). Only layouts change, never values.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = 'agents'


def agent_mesh(devices: int) -> Mesh:
  """The first `devices` of JAX's devices as a mesh with one axis, 'agents'."""
  available = jax.devices()
  if devices > len(available):
    raise ValueError(f'devices={devices}, but JAX has {len(available)} '
                     f'({available[0].platform}).')
  return Mesh(available[:devices], (AXIS,))


def batch_axis(x: Any, batch: int) -> int | None:
  """Which axis of a leaf is the agents': 0 where its first dimension is the
  batch, else 1 where its second is (time-major rollouts), else None. A leaf
  whose dimension equals the batch by chance is split too (layout only)."""
  shape = getattr(x, 'shape', ())
  if len(shape) >= 1 and shape[0] == batch:
    return 0
  if len(shape) >= 2 and shape[1] == batch:
    return 1
  return None


def shardings(mesh: Mesh, batch: int) -> Callable[[Any], Any]:
  """`state -> shardings` of a simulation state (`SimState`): leaves with the
  batch axis split over the mesh, the algorithm's `learner` replicated."""
  whole = NamedSharding(mesh, PartitionSpec())

  def leaf(x: Any) -> NamedSharding:
    axis = batch_axis(x, batch)
    if axis is None:
      return whole
    return NamedSharding(mesh, PartitionSpec(*([None] * axis), AXIS))

  def of(state: Any) -> Any:
    tree = jax.tree_util.tree_map(leaf, state)
    learner = jax.tree_util.tree_map(lambda _: whole, state.algo.learner)
    return tree.replace(algo=tree.algo.replace(learner=learner))

  return of


def place(tree: Any, sharding_of: Callable[[Any], Any]) -> Any:
  """Move a state's leaves to their shardings (no copy where they are)."""
  def move(x: Any, sharding: NamedSharding) -> Any:
    return x if getattr(x, 'sharding', None) == sharding else jax.device_put(x, sharding)
  return jax.tree_util.tree_map(move, tree, sharding_of(tree))


def constrain(tree: Any, sharding_of: Callable[[Any], Any]) -> Any:
  """Inside a jitted program: pin a state's layout, so that the program's
  output has its input's shardings (one compile per phase, not two)."""
  return jax.lax.with_sharding_constraint(tree, sharding_of(tree))


def phase_layouts(phases: list[Any], mesh: Mesh) -> dict[str, Any]:
  """Per phase, `state -> shardings` with its batch split over `mesh`; phases
  whose batch does not divide run replicated on it (training must divide)."""
  count, layouts = mesh.devices.size, {}
  for phase in phases:
    batch = phase.env.num_agents
    if batch % count and phase.training:
      raise ValueError(f"Phase '{phase.name}': {batch} agents do not split over "
                       f'{count} devices.')
    layouts[phase.name] = shardings(mesh, batch if batch % count == 0 else -1)
  return layouts
