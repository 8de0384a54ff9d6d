"""How long JAX spends preparing programs: tracing, lowering, compiling or
loading them from the persistent compilation cache.

The Loop subtracts this from training time, so that the reported training
speed (env-steps/s) is the steady rate, and reports compile time on its own.
Time spans are merged, so nested events (a jit traced inside another) count
once.
"""

from __future__ import annotations

import collections
from typing import Any

import jax.monitoring

EVENTS = frozenset({
    '/jax/core/compile/jaxpr_trace_duration',
    '/jax/core/compile/jaxpr_to_mlir_module_duration',
    '/jax/core/compile/backend_compile_duration',   # Includes cache loads.
})


class CompileClock:
  """Collects JAX's compile time spans while entered (a context manager)."""

  def __init__(self) -> None:
    self._spans: list[tuple[float, float]] = []
    # Programs compiled (or loaded from the persistent cache), by JAX's name.
    self.compiles: collections.Counter = collections.Counter()

  def __enter__(self) -> 'CompileClock':
    jax.monitoring.register_event_time_span_listener(self._record)
    return self

  def __exit__(self, *exc: Any) -> None:
    jax.monitoring.unregister_event_time_span_listener(self._record)

  def _record(self, event: str, start: float, end: float, **kwargs: Any) -> None:
    if event in EVENTS:
      self._spans.append((start, end))
    if event == '/jax/core/compile/backend_compile_duration':
      self.compiles[kwargs.get('fun_name', '?')] += 1

  def seconds(self, since: float = float('-inf')) -> float:
    """Seconds covered by compile spans that end after `since` (a time.time())."""
    total, reach = 0.0, since
    for start, end in sorted(self._spans):
      if end <= reach:
        continue
      total += end - max(start, reach)
      reach = end
    return total
