"""Configs, networks and the command-line programs (train, visualize, plot)."""
