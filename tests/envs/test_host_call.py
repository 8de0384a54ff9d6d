import gc

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.errors import UsageError

from agents.envs.host_call import HostFunction


@pytest.mark.parametrize('use_ffi', [True, False])
def test_function_gets_numpy_copies_and_results_come_back_in_order(use_ffi):
  calls = []

  def callback(x, pair):
    calls.append((type(x), int(x[0]), x.flags.writeable))
    return {'double': (2 * x).astype(np.float32), 'sum': np.int32(x.sum() + pair[1])}

  function = HostFunction(callback, {
      'double': jax.ShapeDtypeStruct((3,), jnp.float32),
      'sum': jax.ShapeDtypeStruct((), jnp.int32)}, use_ffi=use_ffi)

  @jax.jit
  def run(x):
    def body(x, _):
      return x + 1, function(x, (x, jnp.int32(1)))
    return jax.lax.scan(body, x, None, length=4)

  final, outs = run(jnp.arange(3, dtype=jnp.float32))
  assert [first for _, first, _ in calls] == [0, 1, 2, 3]
  assert all(kind is np.ndarray for kind, _, _ in calls)
  np.testing.assert_allclose(outs['double'][2], [4, 6, 8])
  np.testing.assert_array_equal(outs['sum'], [4, 7, 10, 13])
  np.testing.assert_allclose(final, [4, 5, 6])


@pytest.mark.parametrize('use_ffi', [True, False])
def test_an_exception_fails_the_call_and_is_kept_for_the_caller(use_ffi):
  def failing(x):
    raise KeyError('the original error')

  function = HostFunction(failing, jax.ShapeDtypeStruct((2,), jnp.float32),
                          use_ffi=use_ffi)
  with pytest.raises(Exception, match='KeyError'):
    jax.block_until_ready(jax.jit(function)(jnp.zeros(2)))
  error = function.take_error()
  assert isinstance(error, KeyError) and 'the original error' in str(error)
  assert function.take_error() is None


def test_a_result_of_the_wrong_dtype_is_named():
  function = HostFunction(lambda x: x.astype(np.float64),
                          jax.ShapeDtypeStruct((2,), jnp.float32))
  with pytest.raises(Exception, match=r'output 0 as float64\[2\], expected float32\[2\]'):
    jax.block_until_ready(jax.jit(function)(jnp.zeros(2)))


def test_works_outside_jit_and_for_several_argument_shapes():
  function = HostFunction(lambda x: x[:2] + 1, jax.ShapeDtypeStruct((2,), jnp.float32))
  np.testing.assert_allclose(function(jnp.zeros(2)), [1, 1])
  jitted = jax.jit(function)
  np.testing.assert_allclose(jitted(jnp.zeros(2)), [1, 1])
  np.testing.assert_allclose(jitted(jnp.ones(5)), [2, 2])


def test_a_deleted_function_fails_its_compiled_calls_clearly():
  function = HostFunction(lambda x: x, jax.ShapeDtypeStruct((2,), jnp.float32))
  compiled = jax.jit(function).lower(jnp.zeros(2)).compile()
  del function
  gc.collect()
  with pytest.raises(Exception, match='was deleted'):
    jax.block_until_ready(compiled(jnp.zeros(2)))


def _lowered_text(function):
  return jax.jit(function).lower(jnp.zeros(2)).as_text()


def test_the_layout_probe_accepts_this_jaxlib():
  from agents.envs import host_call
  assert host_call.ffi_usable()
  function = HostFunction(lambda x: x + 1, jax.ShapeDtypeStruct((2,), jnp.float32))
  assert host_call.TARGET in _lowered_text(function)


def test_agents_host_call_env_var_chooses_the_path(monkeypatch):
  from agents.envs import host_call
  function = HostFunction(lambda x: x + 1, jax.ShapeDtypeStruct((2,), jnp.float32))
  monkeypatch.setenv('AGENTS_HOST_CALL', 'io_callback')
  assert not host_call.ffi_usable()
  assert host_call.TARGET not in _lowered_text(function)
  np.testing.assert_allclose(jax.jit(function)(jnp.zeros(2)), [1, 1])
  monkeypatch.setenv('AGENTS_HOST_CALL', 'ffi')
  assert host_call.ffi_usable()
  monkeypatch.setenv('AGENTS_HOST_CALL', 'fast')
  with pytest.raises(UsageError, match="AGENTS_HOST_CALL='fast': expected one of ffi, io_callback"):
    host_call.ffi_usable()


def test_a_struct_layout_mismatch_falls_back_to_io_callback_with_one_warning():
  """A fresh process whose expected call-frame size differs from XLA's."""
  import subprocess
  import sys
  program = '''
import jax, jax.numpy as jnp, numpy as np
from agents.envs import host_call
host_call._EXPECTED['frame_size'] += 8
function = host_call.HostFunction(lambda x: x * 3, jax.ShapeDtypeStruct((2,), jnp.float32))
run = jax.jit(lambda x: jax.lax.scan(lambda c, _: (c, function(c)), x, None, length=3)[1])
print(np.asarray(run(jnp.ones(2))).tolist())
print(host_call.TARGET in jax.jit(function).lower(jnp.zeros(2)).as_text())
'''
  result = subprocess.run([sys.executable, '-c', program], capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  assert result.stdout.split() == ['[[3.0,', '3.0],', '[3.0,', '3.0],', '[3.0,', '3.0]]',
                                   'False']
  warnings = [l for l in result.stderr.splitlines() if 'agents.envs.host_call' in l]
  assert len(warnings) == 1
  assert "XLA's FFI call frame has" in warnings[0] and 'io_callback' in warnings[0]
