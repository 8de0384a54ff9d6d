import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.tools.host_call import host_call


def test_callback_gets_numpy_arrays_and_results_come_back_in_order():
  calls = []

  def callback(x, pair):
    calls.append((type(x), int(x[0])))
    return {'double': (2 * x).astype(np.float32), 'sum': np.int32(x.sum() + pair[1])}

  result_shapes = {'double': jax.ShapeDtypeStruct((3,), jnp.float32),
                   'sum': jax.ShapeDtypeStruct((), jnp.int32)}

  @jax.jit
  def run(x):
    def body(x, _):
      out = host_call(callback, result_shapes, x, (x, jnp.int32(1)))
      return x + 1, out
    return jax.lax.scan(body, x, None, length=4)

  final, outs = run(jnp.arange(3, dtype=jnp.float32))
  assert [first for _, first in calls] == [0, 1, 2, 3]
  assert all(kind is np.ndarray for kind, _ in calls)
  np.testing.assert_allclose(outs['double'][2], [4, 6, 8])
  np.testing.assert_array_equal(outs['sum'], [4, 7, 10, 13])
  np.testing.assert_allclose(final, [4, 5, 6])


def test_a_result_of_the_wrong_dtype_is_named():
  run = jax.jit(lambda x: host_call(
      lambda x: x.astype(np.float64), jax.ShapeDtypeStruct((2,), jnp.float32), x))
  with pytest.raises(Exception, match=r'output 0 as float64\[2\], expected float32\[2\]'):
    jax.block_until_ready(run(jnp.zeros(2)))


def test_works_outside_jit():
  out = host_call(lambda x: x + 1, jax.ShapeDtypeStruct((2,), jnp.float32),
                  jnp.zeros(2))
  np.testing.assert_allclose(out, [1, 1])
