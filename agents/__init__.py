"""Efficient batched reinforcement learning: BatchPPO on JAX and Gymnasium."""

__version__ = '0.1.0'
