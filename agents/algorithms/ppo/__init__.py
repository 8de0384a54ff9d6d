"""Batched PPO (BatchPPO) on JAX."""

from agents.algorithms.ppo.config import PPOConfig
from agents.algorithms.ppo.ppo import PPO
from agents.algorithms.ppo.state import Learner, PPOState

__all__ = ['PPO', 'PPOConfig', 'PPOState', 'Learner']
