"""The compiled core, algorithm-agnostic: the in-graph env and algorithm
protocols, `simulate` (one fused step, scanned), the `Loop` and its clock."""
