"""A lean call from compiled JAX code into Python that hands over NumPy arrays.

`jax.experimental.io_callback` first copies its arguments into JAX arrays on
the CPU device (`jax.device_put`), which costs ~40 us per call on this
project's 2-core CPU machine: as much as stepping four Pendulum envs, and the
largest cost of the host bridge. `host_call` lowers to the same XLA
Python-callback custom call that `io_callback` uses
(`jax.interpreters.mlir.emit_python_callback`) but gives the callback the
NumPy views XLA passes, so one call costs ~11 us instead of ~50 us.

Semantics: the call has a side effect (XLA never removes or merges it) and no
JAX effect, so calls are ordered by data dependencies only. Pass whatever must
happen first as an argument (`after=`). The results must match
`result_shape_dtypes` exactly (shape and dtype). Not differentiable, not
vmappable. Where this JAX lacks the hook, `host_call` falls back to an ordered
`io_callback` with the same interface.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

try:  # The hook io_callback itself is built on; public in jax.interpreters.mlir.
  from jax.extend.core import Primitive
  from jax.interpreters import mlir
  _emit_python_callback = mlir.emit_python_callback
except (ImportError, AttributeError):  # pragma: no cover - older/newer JAX.
  _emit_python_callback = None


class _FlatCallback:
  """Adapts a pytree callback to flat NumPy arguments and results."""

  def __init__(self, callback: Callable[..., Any], in_tree: Any,
               result_avals: tuple[Any, ...], out_tree: Any) -> None:
    self.callback = callback
    self.in_tree = in_tree
    self.out_tree = out_tree
    self.result_avals = result_avals

  def __call__(self, *flat_args: Any) -> tuple[np.ndarray, ...]:
    args = jax.tree_util.tree_unflatten(self.in_tree, flat_args)
    results = self.callback(*args)
    flat, tree = jax.tree_util.tree_flatten(results)
    if tree != self.out_tree:
      raise RuntimeError(
          f'{self.callback!r} returned a structure {tree}, expected '
          f'{self.out_tree}.')
    outputs = []
    for index, (value, aval) in enumerate(zip(flat, self.result_avals)):
      value = np.asarray(value)
      if value.shape != aval.shape or value.dtype != aval.dtype:
        raise RuntimeError(
            f'{self.callback!r} returned output {index} as {value.dtype}'
            f'{list(value.shape)}, expected {aval.dtype}{list(aval.shape)}.')
      outputs.append(value)
    return tuple(outputs)


if _emit_python_callback is not None:
  host_call_p = Primitive('agents_host_call')
  host_call_p.multiple_results = True

  @host_call_p.def_impl
  def _impl(*args: Any, callback: _FlatCallback) -> list[jax.Array]:
    outputs = callback(*(np.asarray(arg) for arg in args))
    return [jax.numpy.asarray(output) for output in outputs]

  @host_call_p.def_abstract_eval
  def _abstract_eval(*avals: Any, callback: _FlatCallback) -> list[Any]:
    del avals
    return list(callback.result_avals)

  def _lowering(ctx: Any, *args: Any, callback: _FlatCallback) -> Any:
    results, _, _ = _emit_python_callback(
        ctx, callback, None, list(args), ctx.avals_in, ctx.avals_out,
        has_side_effect=True)
    return results

  mlir.register_lowering(host_call_p, _lowering, cacheable=False)


def host_call(callback: Callable[..., Any], result_shape_dtypes: Any,
              *args: Any) -> Any:
  """Call `callback(*args)` on the host from traced code; see the module doc.

  `callback` receives NumPy arrays (read-only views; copy what you keep) and
  returns a pytree matching `result_shape_dtypes` (`jax.ShapeDtypeStruct`s).
  """
  flat_results, out_tree = jax.tree_util.tree_flatten(result_shape_dtypes)
  if _emit_python_callback is None:  # pragma: no cover
    return jax.experimental.io_callback(
        lambda *a: callback(*jax.tree_util.tree_map(np.asarray, a)),
        result_shape_dtypes, *args, ordered=True)
  flat_args, in_tree = jax.tree_util.tree_flatten(args)
  result_avals = tuple(
      jax.core.ShapedArray(s.shape, s.dtype) for s in flat_results)
  flat_callback = _FlatCallback(callback, in_tree, result_avals, out_tree)
  outputs = host_call_p.bind(*flat_args, callback=flat_callback)
  return jax.tree_util.tree_unflatten(out_tree, outputs)
