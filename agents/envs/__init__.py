"""JAX-native environments and adapters to the in-graph interface."""

from agents.envs.gymnax_env import GymnaxEnv

__all__ = ['GymnaxEnv']
