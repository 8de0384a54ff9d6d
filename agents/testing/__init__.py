"""Mocks for testing the plumbing without learning: MockEnvironment, MockAlgorithm."""
