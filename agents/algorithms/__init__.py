"""Learning algorithms under the protocol of agents.tools.algorithm."""
