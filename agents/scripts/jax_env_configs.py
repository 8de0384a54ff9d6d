"""Named configs of JAX envs from other families, compiled into the program
(`env=family:Name`; the `jax-envs` extra). Each builds on a config of
configs.py and says what differs; configs.CONFIGS lists them with the rest.
"""

from __future__ import annotations

from typing import Callable

from agents.parts.attr_dict import AttrDict
from agents.scripts.configs import _variant, cartpole, locomotion


def discrete_jax() -> AttrDict:
  """The base of the discrete JAX-env configs (not a task of its own): PureJaxRL's
  small-grid PPO (16 envs x 128 steps, 4 epochs of 8 minibatches, 2.5e-4 annealed,
  entropy 0.01), MLPs on the flattened observation (cnn=flat)."""
  return _variant(cartpole(), num_agents=16, update_every=128, update_epochs=4,
                  num_minibatches=8, learning_rate=2.5e-4, anneal_learning_rate=True,
                  entropy_coef=0.01, eval_steps=None, eval_agents=16, cnn='flat',
                  stagger=True)


def navix_empty() -> AttrDict:
  """Navix Empty-5x5 (symbolic grid, uint8), compiled: the goal in 5 steps, 3 of 3 seeds at 1M."""
  # 1e-3: at 2.5e-4 the 200k-step policy reached the goal only when sampled.
  return _variant(discrete_jax(), env='navix:Navix-Empty-5x5-v0', steps=1_000_000,
                  eval_every=200_000, learning_rate=1e-3)


def knapsack_jumanji() -> AttrDict:
  """Jumanji Knapsack-v1 (50 items), compiled, with its action mask: value 17.9 (median of 3)."""
  return _variant(discrete_jax(), env='jumanji:Knapsack-v1', steps=500_000,
                  eval_every=100_000, policy_layers=[128, 128], value_layers=[128, 128])


def tic_tac_toe_pgx() -> AttrDict:
  """Pgx tic-tac-toe against a random opponent, compiled, legal-move mask: 0.95 (median of 3)."""
  # 1e-3 and 8 epochs: final evals 0.95-0.98 against 0.67-0.73 at 2.5e-4 and 4 (3 seeds, 1M).
  return _variant(discrete_jax(), env='pgx:tic_tac_toe', opponent='random',
                  steps=1_000_000, eval_every=200_000, eval_agents=64, discount=1.0,
                  learning_rate=1e-3, update_epochs=8)


def craftax_classic() -> AttrDict:
  """Craftax-Classic (symbolic), compiled, with Craftax's PPO settings (built for accelerators).

  64 envs x 64 steps, 4 epochs of 8 minibatches, 2e-4, entropy 0.01, GAE 0.8,
  512-512 networks; 1M steps (its paper: 1B). On a 2-core CPU it trains at
  ~200 env-steps/s (bench/README.md).
  """
  return _variant(discrete_jax(), env='craftax:Craftax-Classic-Symbolic-v1', num_agents=64,
                  update_every=64, learning_rate=2e-4, lambda_=0.8, discount=0.99,
                  policy_layers=[512, 512], value_layers=[512, 512], steps=1_000_000,
                  eval_every=250_000, eval_agents=8, normalize_reward=False)


def cartpole_playground() -> AttrDict:
  """MuJoCo Playground's CartpoleBalance (JAX implementation), compiled: 999.4 (median of 3)."""
  return _variant(locomotion(), env='mujoco_playground:CartpoleBalance', env_backend='auto',
                  env_processes=False, num_agents=16, steps=500_000, eval_every=125_000,
                  eval_agents=4, update_every=128, num_minibatches=16)


def inverted_pendulum_brax() -> AttrDict:
  """Brax's inverted_pendulum, compiled: balances all 1,000 steps in 100k (3 of 3 seeds)."""
  return _variant(cartpole_playground(), env='brax:inverted_pendulum', steps=100_000,
                  eval_every=50_000)


CONFIGS: dict[str, Callable[[], AttrDict]] = {
    'navix_empty': navix_empty,
    'knapsack_jumanji': knapsack_jumanji,
    'tic_tac_toe_pgx': tic_tac_toe_pgx,
    'craftax_classic': craftax_classic,
    'cartpole_playground': cartpole_playground,
    'inverted_pendulum_brax': inverted_pendulum_brax,
}
