"""A trained policy, usable from Python: `agents.load_policy(run_dir)`.

    policy = agents.load_policy('logdir/20261130T101500-pendulum')
    env = policy.make_env()
    observ, _ = env.reset(seed=10_000)
    action = policy(observ)            # NumPy in, NumPy out, in the env's bounds

The policy is the checkpoint's learner behind the algorithm's own `perform`
(observation normalizer included), compiled once per batch size. It takes one
observation (`[*observ_shape]` -> one action) or a batch (`[n, *observ_shape]`
-> `[n, ...]` actions), and for Discrete or MultiDiscrete actions an
invalid-action mask (`policy(observ, mask=...)`). Recurrent policies keep their state between calls;
call `reset()` (or `reset(mask)` for some rows of a batch) when an episode
starts.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import numpy as np

from agents.parts.attr_dict import AttrDict
from agents.run.catalog import Catalog
from agents.errors import ConfigError, EnvError, PolicyLoadError, UsageError
from agents.run.launch import read_saved_config
from agents.run.run_dir import config_name_of


def read_run(run_dir: str, catalog: Catalog, checkpoint_path: str | None = None
             ) -> tuple[AttrDict, str, str]:
  """(config, config name, checkpoint path) of a run directory.

  Without `checkpoint_path`, the newest intact checkpoint (a damaged one is
  moved aside with a warning, as a resume would); 'best': that of the best
  evaluation (checkpoints/best/).
  """
  from agents.run import best, checkpoint
  if not os.path.isdir(run_dir):
    raise PolicyLoadError(f"No run directory '{run_dir}'.")
  config_path = os.path.join(run_dir, 'config.yaml')
  if not os.path.exists(config_path):
    raise PolicyLoadError(f"'{run_dir}' has no config.yaml: pass the directory "
                          'of one run (<logdir>/<timestamp>-<config>).')
  try:
    config = read_saved_config(config_path)
  except UsageError as error:
    raise PolicyLoadError(str(error)) from None
  name = config_name_of(run_dir)
  if checkpoint_path == best.BEST:
    checkpoint_path = best.path(os.path.join(run_dir, 'checkpoints'))
    if checkpoint_path is None:
      raise PolicyLoadError(
          f"'{run_dir}' has no best checkpoint (checkpoints/best/ is written at each "
          'evaluation that beats the earlier ones): train until an evaluation ends.')
  elif checkpoint_path is None:
    checkpoint_path = checkpoint.latest_intact(os.path.join(run_dir, 'checkpoints'))
    if checkpoint_path is None:
      raise PolicyLoadError(
          f"'{run_dir}' has no checkpoint in checkpoints/: train longer "
          '(checkpoints are written every checkpoint_every steps and at the end).')
  elif not os.path.isfile(checkpoint_path):
    what = 'is a directory' if os.path.isdir(checkpoint_path) else 'does not exist'
    raise PolicyLoadError(f"--checkpoint '{checkpoint_path}' {what}: give one file of "
                          f"the run's checkpoints/ (ckpt-<step>.msgpack).")
  return catalog.complete(config, name), name, checkpoint_path


class Policy:
  """The policy of one checkpoint; see the module docstring."""

  def __init__(self, config: AttrDict, checkpoint_path: str, spec: Any,
               catalog: Catalog, deterministic: bool = True, seed: int = 0) -> None:
    import jax
    from agents.run import build
    from agents.run import checkpoint
    from agents.core.algorithm import Transition
    self.config = config
    self.checkpoint = checkpoint_path
    self.deterministic = deterministic
    self.env_id = config.env
    self.spec = spec
    self._algorithm = algorithm = build.algorithm(config, spec, catalog)
    template = algorithm.init(jax.random.PRNGKey(0), spec, 1).learner
    try:
      self._learner, self.step = checkpoint.load_part(
          checkpoint_path, 'learner', template)
    except (checkpoint.CorruptCheckpoint, checkpoint.IncompatibleCheckpoint) as error:
      raise PolicyLoadError(f'Cannot load {checkpoint_path}: {error}') from None
    self._key = jax.random.PRNGKey(seed)
    self._state = None                       # The algorithm's per-row state.
    self._batch = 0                          # Rows of that state.
    self._starts: np.ndarray | None = None   # Rows that start an episode next; None: all.
    training = not deterministic

    def act(state, observ, starts, key):
      state = algorithm.begin_episode(state, starts)
      state, action = algorithm.perform(state, observ, key, training)
      zeros = jax.numpy.zeros(observ.shape[0])
      seen = Transition(observ=observ, action=action, reward=zeros,
                        terminated=zeros > 0, truncated=zeros > 0,
                        next_observ=observ)
      return algorithm.experience(state, seen, False), action

    self._act: Callable = jax.jit(act)

  def reset(self, mask: Any = None) -> None:
    """Episodes start on the next call: in every row, or where `mask` [n]."""
    if mask is None or self._starts is None:
      self._starts = None
    else:
      self._starts = self._starts | np.asarray(mask, bool)

  def __call__(self, observ: Any, mask: Any = None) -> np.ndarray:
    """Action(s) for one observation or a batch of them (NumPy arrays).

    mask: invalid-action mask(s) of Discrete or MultiDiscrete actions, [n
    actions] or [batch, n] (1 = valid; MultiDiscrete: the dimensions' masks
    concatenated), also for envs that give none. Where the env gives masks,
    `make_env()`'s observations already end with theirs.
    """
    import jax
    spec, observ = self._observations(observ, mask)
    single = observ.ndim == len(spec.observ_shape)
    batch = observ[None] if single else observ
    n = batch.shape[0]
    if self._state is None or self._batch != n or self._state.spec != spec:
      state = self._algorithm.init(jax.random.PRNGKey(0), spec, n)
      self._state = state.replace(learner=self._learner)
      self._batch = n
      self._starts = None
    starts = np.ones(n, bool) if self._starts is None else self._starts
    self._key, key = jax.random.split(self._key)
    self._state, action = self._act(self._state, batch, starts, key)
    self._starts = np.zeros(n, bool)
    action = np.asarray(action)
    return action[0] if single else action

  def _observations(self, observ: Any, mask: Any) -> tuple[Any, np.ndarray]:
    """The spec to act with, and the observations with their masks last."""
    spec, observ = self.spec, np.asarray(observ, np.float32)
    seen, full = tuple(spec.policy_observ_shape), tuple(spec.observ_shape)
    if spec.mask_size and _fits(observ, full):      # make_env()'s, mask included.
      if mask is None:
        return spec, observ
      observ = observ[..., :seen[-1]]
    elif not _fits(observ, seen):
      raise ValueError(f'Expected an observation of shape {seen} or a batch '
                       f'[n, *{seen}], got {observ.shape}.')
    if mask is None:
      if spec.mask_size:
        raise ValueError(
            f'This policy acts with action masks ({spec.mask_size} entries, as its env '
            'gives them): pass policy(observ, mask=...), or an observation of '
            "make_env(), which ends with the env's mask.")
      return spec, observ
    size = spec.mask_size or {'discrete': spec.num_actions,
                              'multi_discrete': sum(spec.action_nvec or ())}.get(spec.kind)
    if not size or len(seen) != 1:
      raise ValueError(f'Action masks apply to Discrete and MultiDiscrete actions with '
                       f'flat observations; this policy acts in {spec.describe()} on '
                       f'observations of shape {seen}.')
    try:
      mask = np.broadcast_to(np.asarray(mask, np.float32), observ.shape[:-1] + (size,))
    except ValueError:
      raise ValueError(f'Expected a mask of {size} entries per observation (1 = valid) '
                       f'for {spec.describe()}, got shape {np.shape(mask)}.') from None
    if not spec.mask_size:
      spec = dataclasses.replace(spec, observ_shape=(seen[0] + size,), mask_size=size)
    return spec, np.concatenate([observ, mask], -1)

  def make_env(self, render_mode: str | None = None) -> Any:
    """A Gymnasium env of the task, wrapped as in training and evaluation."""
    from agents.run import build
    return build.env_constructor(self.config, render=render_mode == 'rgb_array')()

  def __repr__(self) -> str:
    kind = 'deterministic' if self.deterministic else 'stochastic'
    return (f'Policy({self.env_id}, {self.config.network}, step {self.step:,}, '
            f'{kind})')


def _fits(observ: np.ndarray, shape: tuple[int, ...]) -> bool:
  """One observation of `shape` or a batch of them."""
  return (observ.ndim in (len(shape), len(shape) + 1) and
          tuple(observ.shape[observ.ndim - len(shape):]) == shape)


def load_policy(run_dir: str, catalog: Catalog, checkpoint: str | None = None,
                deterministic: bool = True, seed: int = 0) -> Policy:
  """The policy of a run's newest intact checkpoint (or of `checkpoint`).

  deterministic: the distribution's mode (as evaluation runs it); else
  sampled, with `seed`. Raises PolicyLoadError naming what is missing.
  """
  config, _, path = read_run(run_dir, catalog, checkpoint)
  return Policy(config, path, env_spec(config), catalog, deterministic, seed)


def env_spec(config: AttrDict) -> Any:
  """The spaces of the config's env, as the algorithm sees them."""
  from agents.run import build
  from agents.core.in_graph_env import EnvSpec
  from agents.envs import named_env
  try:
    chosen = build.resolved_backend(config)
    if chosen == 'jax':
      return build.jax_batch_env(config, 1).spec
    if chosen == 'gymnax':
      return build.gymnax_env(config, 1).spec
  except ConfigError as error:
    raise PolicyLoadError(f"the run's env '{config.env}' cannot be built here: "
                          f'{error}') from None
  try:
    if named_env.is_vector(config.env, config.num_agents):
      vector = build.vector_batch_env(config, config.num_agents)
      vector.close()
      return EnvSpec.from_spaces(vector.observation_space, vector.action_space)
    env = build.env_constructor(config)()
  except (ConfigError, EnvError) as error:
    raise PolicyLoadError(f"the run's env '{config.env}' cannot be built here: "
                          f'{error}') from None
  try:
    return EnvSpec.from_spaces(env.observation_space, env.action_space)
  finally:
    env.close()
