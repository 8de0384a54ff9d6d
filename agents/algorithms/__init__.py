"""Learning algorithms under the protocol of agents.core.algorithm."""
