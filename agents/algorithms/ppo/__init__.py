"""Batched PPO (BatchPPO) on JAX."""

from agents.algorithms.ppo.ppo import PPO, PPOState, Learner

__all__ = ['PPO', 'PPOState', 'Learner']
