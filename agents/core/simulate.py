"""One environment step fused with the algorithm's callbacks, and many in a scan."""

from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp

from agents.core import sharding
from agents.core.algorithm import Algorithm, Transition
from agents.core.in_graph_env import EnvState, InGraphEnv


@flax.struct.dataclass
class SimState:
  """Everything that changes from step to step.

  env: the env's batch state. algo: the algorithm's state.
  score, length: [batch], the return and length of each agent's episode so far.
  """
  env: EnvState
  algo: Any
  score: jax.Array
  length: jax.Array


@flax.struct.dataclass
class StepOutput:
  """Per step, [batch] each: which episodes ended, with their score and length."""
  done: jax.Array
  score: jax.Array
  length: jax.Array


def strong_types(tree: Any) -> Any:
  """The same arrays without weak types, so that a scan's output state has the
  types of its input and the jitted run is not traced a second time."""
  return jax.tree_util.tree_map(
      lambda x: jnp.array(x, dtype=jnp.asarray(x).dtype), tree)


def init_state(env: InGraphEnv, algo_state: Any, key: jax.Array) -> SimState:
  """Start a simulation: every agent will reset on the first step."""
  zeros = jnp.zeros(env.num_agents)
  return strong_types(SimState(
      env=env.init(key), algo=algo_state, score=zeros.astype(jnp.float32),
      length=zeros.astype(jnp.int32)))


def simulate(env: InGraphEnv, algorithm: Algorithm, training: bool
             ) -> Callable[[SimState, jax.Array], tuple[SimState, StepOutput]]:
  """Build `step(state, key) -> (state, output)`: one fused batch step.

  1. Agents whose episode ended on the previous step (all, on the first)
     reset their env and `begin_episode`; their score and length restart.
  2. `perform` chooses actions for all agents.
  3. The env steps.
  4. Score and length accumulate; `experience` sees the transition.
  5. `end_episode` for the agents that are now done.
  `output.score` and `output.length` are meaningful where `output.done`.
  """

  def step(state: SimState, key: jax.Array) -> tuple[SimState, StepOutput]:
    reset_key, perform_key, step_key = jax.random.split(key, 3)
    mask = state.env.done
    env_state = env.reset(state.env, mask, reset_key)
    algo_state = algorithm.begin_episode(state.algo, mask)
    score = jnp.where(mask, 0.0, state.score)
    length = jnp.where(mask, 0, state.length)

    algo_state, action = algorithm.perform(
        algo_state, env_state.observ, perform_key, training)
    next_env_state = env.step(env_state, action, step_key)

    score = score + next_env_state.reward
    length = length + 1
    transition = Transition(
        observ=env_state.observ, action=action, reward=next_env_state.reward,
        terminated=next_env_state.terminated, truncated=next_env_state.truncated,
        next_observ=next_env_state.observ)
    algo_state = algorithm.experience(algo_state, transition, training)
    algo_state = algorithm.end_episode(algo_state, next_env_state.done, training)

    new_state = SimState(env=next_env_state, algo=algo_state, score=score,
                         length=length)
    return new_state, StepOutput(next_env_state.done, score, length)

  return step


def make_run(env: InGraphEnv, algorithm: Algorithm, training: bool,
             seeds: bool = False, layout: Callable[[SimState], Any] | None = None
             ) -> Callable[[SimState, jax.Array], tuple[SimState, StepOutput]]:
  """A jitted `run(state, keys)` that scans one fused step per key.

  Outputs are stacked as [steps, batch]. One call from Python runs all steps;
  a new number of steps compiles once. When a host env raises inside the call
  (an env error, a dead worker), that exception is raised here, not XLA's
  generic runtime error around it.

  seeds: the state has a leading axis of independent runs (seeds) and `keys`
  are [steps, seeds, 2]; the scan is vmapped over them, so several seeds train
  in one program (JAX-native envs only). Leaves that `algorithm.seed_axes`
  marks as shared have no seed axis. Outputs are then [seeds, steps, batch].

  layout: `state -> shardings` (core/sharding.py) where one run's batch is
  split over several devices; the state keeps that layout through the call.
  """
  step = simulate(env, algorithm, training)
  take_host_error = getattr(env, 'take_host_error', None)

  def run_steps(state: SimState, keys: jax.Array) -> tuple[SimState, StepOutput]:
    if layout is None:
      return jax.lax.scan(step, state, keys)
    state, output = jax.lax.scan(step, sharding.constrain(state, layout), keys)
    return sharding.constrain(state, layout), output

  if seeds:
    if take_host_error is not None:
      raise ValueError('Several seeds in one program need a JAX-native env '
                       '(e.g. gymnax); host envs cannot be vmapped.')

    def run_seeds(state: SimState, keys: jax.Array) -> tuple[SimState, StepOutput]:
      axes = SimState(env=jax.tree_util.tree_map(lambda _: 0, state.env),
                      algo=algorithm.seed_axes(state.algo), score=0, length=0)
      return jax.vmap(run_steps, in_axes=(axes, 1), out_axes=(axes, 0))(state, keys)

    return jax.jit(run_seeds)
  compiled = jax.jit(run_steps)
  if take_host_error is None:
    return compiled

  def run(state: SimState, keys: jax.Array) -> tuple[SimState, StepOutput]:
    try:
      return jax.block_until_ready(compiled(state, keys))
    except Exception:  # XLA's wrapper; its type varies with the failure.
      error = take_host_error()
      if error is None:
        raise
      _forget_failed_effects()
      raise error from None

  return run


def _forget_failed_effects() -> None:
  """Drop the runtime tokens of a program whose host call failed.

  JAX keeps them and waits for them again at interpreter exit, where the same
  error, already raised here as the original exception, would be printed a
  second time as a traceback. (A private JAX API; jax is pinned in
  pyproject.toml. Without it the only cost is that message.)
  """
  try:
    from jax._src import dispatch
    dispatch.runtime_tokens.clear()
  except Exception:  # A JAX without this internal: keep the exit message.
    pass
