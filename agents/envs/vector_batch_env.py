"""A Gymnasium `VectorEnv` as the host batch (envs/protocol.HostBatchEnv).

Vector envs (`gymnasium.make_vec`, a user's own batched `VectorEnv`, as
ManiSkill, Isaac Lab and NumPy-vectorised envs come) reset ended episodes by
themselves, in one of three modes (`metadata['autoreset_mode']`); the protocol
here resets explicitly and needs each ended episode's true final observation
(a truncated one bootstraps from it):

- `NextStep` (Gymnasium's default): `step` returns the final observation; the
  env would reset on its next step, so `reset(indices)` resets those envs at
  once with `reset(options={'reset_mask': mask})`, which clears that.
- `SameStep`: `step` returns the first observation of the next episode and the
  final one in `infos['final_obs']`: the final one is put back in the batch,
  and `reset(indices)` hands out the new episode's observation it kept.
- `Disabled`: `step` returns the final observation; `reset(indices)` resets
  with the mask, as for `NextStep`.

Infos stay batched columns, read per env only where looked at (ColumnInfos),
so `info['action_mask']` columns give masks as single envs' infos do.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from agents.envs import contract
from agents.envs.protocol import BatchStep, ColumnInfos
from agents.errors import EnvContractError

MODES = ('NextStep', 'SameStep', 'Disabled')


def autoreset_mode(env: Any) -> str:
  """The vector env's autoreset mode, as one of MODES."""
  mode = getattr(env, 'metadata', {}).get('autoreset_mode', 'NextStep')
  mode = getattr(mode, 'value', mode)
  if mode not in MODES:
    raise EnvContractError(f'The vector env declares autoreset_mode {mode!r}; known: '
                           f"{', '.join(MODES)} (gymnasium.vector.AutoresetMode).")
  return str(mode)


class VectorBatchEnv:
  """`env` (a gymnasium.vector.VectorEnv) behind the host batch protocol; `name`
  names it in errors."""

  def __init__(self, env: Any, name: str) -> None:
    self.env = env
    self.name = name
    self.num_envs = int(env.num_envs)
    self.observation_space = env.single_observation_space
    self.action_space = env.single_action_space
    self.mode = autoreset_mode(env)
    self._started: np.ndarray | None = None   # SameStep: next episodes' observations.
    self._waiting = np.zeros(self.num_envs, bool)

  def __len__(self) -> int:
    return self.num_envs

  def step(self, actions: Any) -> BatchStep:
    who = f"the vector env '{self.name}'"
    observ, reward, terminated, truncated, infos = contract.call(
        self.env.step, 'step', who, np.asarray(actions))
    terminated = np.asarray(terminated, bool).reshape(self.num_envs)
    truncated = np.asarray(truncated, bool).reshape(self.num_envs) & ~terminated
    observ = np.asarray(observ)
    done = terminated | truncated
    if self.mode == 'SameStep' and done.any():
      if 'final_obs' not in infos:
        raise EnvContractError(
            f"{who} resets in the same step (autoreset_mode SameStep) but gives no "
            "infos['final_obs']: truncated episodes cannot bootstrap from their end.")
      self._started, self._waiting = observ.copy(), done.copy()
      observ = observ.copy()
      for index in np.flatnonzero(done):
        observ[index] = infos['final_obs'][index]
    reward = np.asarray(reward, np.float32).reshape(self.num_envs)
    return BatchStep(observ, reward, terminated, truncated,
                     ColumnInfos(infos, slice(None), self.num_envs))

  def reset(self, indices: Sequence[int] | None = None,
            seeds: Sequence[int | None] | None = None) -> np.ndarray:
    who = f"the vector env '{self.name}'"
    if indices is None:
      seed = None if seeds is None else list(seeds)
      observ, _ = contract.call(self.env.reset, 'reset', who, seed=seed)
      self._waiting[:] = False
      return np.asarray(observ)
    indices = [int(index) for index in indices]
    if self.mode == 'SameStep' and seeds is None and self._waiting[indices].all():
      self._waiting[indices] = False
      return self._started[indices]
    mask = np.zeros(self.num_envs, bool)
    mask[indices] = True
    seed = None
    if seeds is not None and any(s is not None for s in seeds):
      seed = [None] * self.num_envs
      for index, value in zip(indices, seeds):
        seed[index] = value
    try:
      observ, _ = self.env.reset(seed=seed, options={'reset_mask': mask})
    except (TypeError, KeyError, AssertionError) as error:
      raise EnvContractError(
          f"{who} cannot reset some of its envs (reset(options={{'reset_mask': mask}}) "
          f'failed: {type(error).__name__}: {error}); agents resets ended episodes that '
          "way, as Gymnasium's own vector envs allow.") from error
    self._waiting[indices] = False
    return np.asarray(observ)[indices]

  def close(self) -> None:
    try:
      self.env.close()
    except Exception:   # Closing must not fail a run that ends.
      pass
