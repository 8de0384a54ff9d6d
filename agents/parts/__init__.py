"""Building blocks of algorithms: normalization, distributions, rollout memory."""
