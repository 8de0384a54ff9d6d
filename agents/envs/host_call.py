"""Calls from compiled JAX code into Python through XLA's typed FFI.

The host bridge (`InGraphBatchEnv`) calls Python once or twice per batch step,
so the cost of one call matters. `jax.experimental.io_callback` costs ~50 us a
call on this project's 2-core CPU machine (it copies its arguments into JAX
arrays first), and a program that contains one is never written to JAX's
persistent compilation cache, so every training run on host envs compiled its
PPO update again (~1.5 s). `HostFunction` instead registers one XLA FFI
handler, written in Python with `ctypes`, under a fixed target name; a call
passes the function's number as its first operand. XLA sees an ordinary
custom call: the program is cacheable, and one call costs ~10 us.

Semantics: a call has a side effect (XLA never removes or merges it) and no
JAX effect, so calls are ordered by data dependencies only; pass whatever
must happen first as an argument. Arguments reach the function as NumPy
copies; results must match `result_shape_dtypes` (shape and dtype). An
exception in the function fails the XLA computation, and `take_error()`
returns the original exception so that callers can raise it instead of XLA's
generic runtime error (see `simulate.make_run`). Not differentiable, not
vmappable. The structs below follow `jaxlib/include/xla/ffi/api/c_api.h`,
XLA's stable C ABI for FFI handlers.

Copying C structs by hand would crash the process if a future jaxlib changed
their layout. So before the first FFI call a probe program checks the call
frame's `struct_size` and the FFI API version (reading nothing else of a
frame that does not match); on a mismatch every HostFunction uses an ordered
`io_callback` instead, with a one-line warning. `AGENTS_HOST_CALL=io_callback`
forces that path, `AGENTS_HOST_CALL=ffi` the handler.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import weakref
from typing import Any, Callable

import jax
import jax.experimental
import jax.numpy as jnp
import numpy as np

from agents import settings

LOG = logging.getLogger(__name__)

TARGET = 'agents_host_call'
_FFI_API_MAJOR, _FFI_API_MINOR = 0, 1     # The oldest FFI API this code needs.
_EXTENSION_METADATA = 1
_ERROR_CODE_INTERNAL = 13
_PROBE = -1                                # The function number of the probe.


class _ExtensionBase(ctypes.Structure):
  _fields_ = [('struct_size', ctypes.c_size_t), ('type', ctypes.c_int),
              ('next', ctypes.c_void_p)]


class _ApiVersion(ctypes.Structure):
  _fields_ = [('struct_size', ctypes.c_size_t), ('extension_start', ctypes.c_void_p),
              ('major_version', ctypes.c_int), ('minor_version', ctypes.c_int)]


class _Metadata(ctypes.Structure):
  _fields_ = [('struct_size', ctypes.c_size_t), ('api_version', _ApiVersion),
              ('traits', ctypes.c_uint32)]


class _MetadataExtension(ctypes.Structure):
  _fields_ = [('extension_base', _ExtensionBase),
              ('metadata', ctypes.POINTER(_Metadata))]


class _Buffers(ctypes.Structure):   # XLA_FFI_Args and XLA_FFI_Rets.
  _fields_ = [('struct_size', ctypes.c_size_t), ('extension_start', ctypes.c_void_p),
              ('size', ctypes.c_int64), ('types', ctypes.c_void_p),
              ('pointers', ctypes.POINTER(ctypes.c_void_p))]


class _Attrs(ctypes.Structure):
  _fields_ = [('struct_size', ctypes.c_size_t), ('extension_start', ctypes.c_void_p),
              ('size', ctypes.c_int64), ('types', ctypes.c_void_p),
              ('names', ctypes.c_void_p), ('attrs', ctypes.c_void_p)]


class _CallFrame(ctypes.Structure):
  _fields_ = [('struct_size', ctypes.c_size_t), ('extension_start', ctypes.c_void_p),
              ('api', ctypes.c_void_p), ('ctx', ctypes.c_void_p),
              ('stage', ctypes.c_int), ('args', _Buffers), ('rets', _Buffers),
              ('attrs', _Attrs), ('future', ctypes.c_void_p)]


class _Buffer(ctypes.Structure):
  _fields_ = [('struct_size', ctypes.c_size_t), ('extension_start', ctypes.c_void_p),
              ('dtype', ctypes.c_int), ('data', ctypes.c_void_p),
              ('rank', ctypes.c_int64), ('dims', ctypes.POINTER(ctypes.c_int64))]


class _ErrorCreateArgs(ctypes.Structure):
  _fields_ = [('struct_size', ctypes.c_size_t), ('extension_start', ctypes.c_void_p),
              ('message', ctypes.c_char_p), ('errc', ctypes.c_int)]


class _ApiHead(ctypes.Structure):   # The first fields of XLA_FFI_Api.
  _fields_ = [('struct_size', ctypes.c_size_t), ('extension_start', ctypes.c_void_p),
              ('api_version', _ApiVersion), ('internal_api', ctypes.c_void_p),
              ('error_create', ctypes.c_void_p)]


_ERROR_CREATE = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(_ErrorCreateArgs))
_HANDLER = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)

# Function number -> (weak reference to the HostFunction, argument specs
# (operand index, shape, dtype, bytes), argument pytree structure).
_registry: dict[int, tuple[weakref.ReferenceType, list[tuple], Any]] = {}
_registry_lock = threading.Lock()


def _error(frame: _CallFrame, message: str) -> int:
  """An XLA_FFI_Error carrying `message`, made by XLA's own constructor."""
  api = _ApiHead.from_address(frame.api)
  args = _ErrorCreateArgs(ctypes.sizeof(_ErrorCreateArgs), None,
                          message.encode('utf-8', 'replace'), _ERROR_CODE_INTERNAL)
  return _ERROR_CREATE(api.error_create)(ctypes.byref(args))


_Int32, _string_at, _memmove = ctypes.c_int32, ctypes.string_at, ctypes.memmove
_DATA_OFFSET = _Buffer.data.offset


def _data_pointer(buffer_address: int) -> int:
  """The `data` field of the XLA_FFI_Buffer at `buffer_address`."""
  return ctypes.c_void_p.from_address(buffer_address + _DATA_OFFSET).value


def _size_problem(frame_address: int) -> str | None:
  """Why the call frame at `frame_address` is not the struct known here."""
  size = ctypes.c_size_t.from_address(frame_address).value  # Always first.
  if size != _EXPECTED['frame_size']:
    return (f"XLA's FFI call frame has {size} bytes, this code expects "
            f"{_EXPECTED['frame_size']}")
  return None


def _version_problem(frame: _CallFrame) -> str | None:
  """Why the FFI API of a call is not a version known here."""
  api = _ApiHead.from_address(frame.api)
  version = (api.api_version.major_version, api.api_version.minor_version)
  if version[0] != _FFI_API_MAJOR or version[1] < _FFI_API_MINOR:
    return (f"XLA's FFI API version is {version[0]}.{version[1]}, this code "
            f'needs {_FFI_API_MAJOR}.{_FFI_API_MINOR} or a later minor version')
  return None


# XLA sets struct_size to the end of `attrs` (XLA_FFI_DEFINE_STRUCT_TRAITS
# names `attrs` as the last field, though `future` follows it).
_EXPECTED = {'frame_size': _CallFrame.attrs.offset + ctypes.sizeof(_Attrs)}
_probe_result: dict[str, Any] = {}


def _handle(frame_address: int) -> int | None:
  """The FFI handler: check the layout (probe), answer XLA's metadata query,
  or run one call."""
  checking = not _probe_result.get('done')
  if checking:
    problem = _size_problem(frame_address)
    if problem:   # Touch nothing else; the probe reports it.
      _probe_result['problem'] = problem
      return None
  frame = _CallFrame.from_address(frame_address)
  if frame.extension_start:
    extension = _ExtensionBase.from_address(frame.extension_start)
    if extension.type == _EXTENSION_METADATA:
      metadata = _MetadataExtension.from_address(frame.extension_start).metadata[0]
      metadata.api_version = _ApiVersion(
          ctypes.sizeof(_ApiVersion), None, _FFI_API_MAJOR, _FFI_API_MINOR)
      metadata.traits = 0
      return None
  if checking:
    problem = _version_problem(frame)
    if problem:
      _probe_result['problem'] = problem
      return None
  function = None
  try:
    args, rets = frame.args.pointers, frame.rets.pointers
    number = _Int32.from_address(_data_pointer(args[0])).value
    if number == _PROBE:
      return None
    reference, arg_specs, in_tree = _registry[number]
    function = reference()
    if function is None:
      raise RuntimeError('The HostFunction of this compiled call was deleted.')
    inputs = [
        np.frombuffer(_string_at(_data_pointer(args[i]), nbytes), dtype).reshape(shape)
        for i, shape, dtype, nbytes in arg_specs]
    for i, output in enumerate(function.run_flat(inputs, in_tree)):
      _memmove(_data_pointer(rets[i]), output.tobytes(), output.nbytes)
    return None
  except BaseException as error:  # Also KeyboardInterrupt: never unwind into XLA.
    if function is not None:
      function.error = error
    return _error(frame, f'{type(error).__name__}: {error}')


_handler = _HANDLER(_handle)   # Kept alive for the life of the process.
_registered = False


def _register() -> None:
  global _registered
  if not _registered:
    jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(_handler), platform='cpu')
    _registered = True


def ffi_usable() -> bool:
  """Whether calls go through the FFI handler: JAX computes on the CPU, the
  probe found the structs XLA uses, and AGENTS_HOST_CALL does not say no."""
  choice = settings.host_call()
  if choice:
    return choice == 'ffi'
  if jax.default_backend() != 'cpu':
    return False
  if 'usable' not in _probe_result:
    _probe_result['usable'] = _probe()
  return _probe_result['usable']


def _probe() -> bool:
  """Run one FFI call that only checks the layout; warn once on a mismatch."""
  _probe_result.pop('problem', None)
  try:
    _register()   # XLA asks the handler for its metadata here.
    probe = jax.jit(lambda: jax.ffi.ffi_call(
        TARGET, jax.ShapeDtypeStruct((), jnp.int32), has_side_effect=True)(
            jnp.int32(_PROBE)))
    jax.block_until_ready(probe())
    problem = _probe_result.get('problem')
  except Exception as error:  # XLA refused the handler: same fallback.
    first = str(error).splitlines()[0][:200] if str(error) else ''
    problem = _probe_result.get('problem') or (
        f'the probe call failed ({type(error).__name__}: {first})')
  _probe_result['done'] = problem is None
  if problem:
    LOG.warning('agents.envs.host_call: %s (jaxlib %s); host envs are called through '
                'jax.experimental.io_callback instead, which is slower. Set '
                'AGENTS_HOST_CALL=io_callback to choose it and silence this.',
                problem, jax.__version__)
  return problem is None


class HostFunction:
  """`fn` made callable from traced code; see the module docstring.

  `fn(*args)` receives NumPy arrays (copies) and returns a pytree matching
  `result_shape_dtypes`. Outside of tracing, calling runs `fn` directly.
  `use_ffi`: None picks the FFI handler where `ffi_usable()` (the CPU
  backend, a matching struct layout, AGENTS_HOST_CALL unset or 'ffi') and an
  ordered `io_callback` elsewhere; True or False forces one.
  """

  def __init__(self, fn: Callable[..., Any], result_shape_dtypes: Any,
               use_ffi: bool | None = None) -> None:
    self.fn = fn
    # The handler is registered for XLA:CPU. Where JAX computes on another
    # backend (GPU, TPU), calls go through an ordered io_callback instead.
    self._use_ffi = use_ffi
    self.error: BaseException | None = None
    flat, self._out_tree = jax.tree_util.tree_flatten(result_shape_dtypes)
    self._out_specs = [(tuple(s.shape), np.dtype(s.dtype)) for s in flat]
    self._result_structs = tuple(jax.ShapeDtypeStruct(shape, dtype)
                                 for shape, dtype in self._out_specs)
    self._numbers: dict[tuple, int] = {}

  def take_error(self) -> BaseException | None:
    """The exception `fn` raised inside a compiled call (once), if any."""
    error, self.error = self.error, None
    return error

  def __call__(self, *args: Any) -> Any:
    flat_args, in_tree = jax.tree_util.tree_flatten(args)
    if not any(isinstance(x, jax.core.Tracer) for x in flat_args):
      results = self.fn(*jax.tree_util.tree_map(np.asarray, args))
      flat = self._check(jax.tree_util.tree_leaves(results))
      return jax.tree_util.tree_unflatten(
          self._out_tree, [jnp.asarray(x) for x in flat])
    use_ffi = self._use_ffi
    if use_ffi is None:
      use_ffi = ffi_usable()
    if not use_ffi:
      return jax.experimental.io_callback(
          self._io_callback, self._out_tree.unflatten(self._result_structs),
          *args, ordered=True)
    number = self._number(flat_args, in_tree)
    _register()
    outputs = jax.ffi.ffi_call(TARGET, self._result_structs, has_side_effect=True)(
        jnp.int32(number), *flat_args)
    return jax.tree_util.tree_unflatten(self._out_tree, outputs)

  def _io_callback(self, *args: Any) -> Any:
    try:
      results = self.fn(*jax.tree_util.tree_map(np.array, args))
      return self._out_tree.unflatten(self._check(jax.tree_util.tree_leaves(results)))
    except BaseException as error:
      self.error = error
      raise

  def run_flat(self, inputs: list[np.ndarray], in_tree: Any) -> list[np.ndarray]:
    """Run `fn` on flat inputs; flat outputs checked against the specs."""
    results = self.fn(*jax.tree_util.tree_unflatten(in_tree, inputs))
    return self._check(jax.tree_util.tree_leaves(results))

  def _number(self, flat_args: list[Any], in_tree: Any) -> int:
    """This function's number for one signature of arguments."""
    specs = [(tuple(x.shape), np.dtype(x.dtype)) for x in flat_args]
    key = (tuple(specs), in_tree)
    if key not in self._numbers:
      with _registry_lock:
        number = len(_registry)
        arg_specs = [(index + 1, shape, dtype,
                      int(np.prod(shape, dtype=int)) * dtype.itemsize)
                     for index, (shape, dtype) in enumerate(specs)]
        _registry[number] = (weakref.ref(self), arg_specs, in_tree)
      self._numbers[key] = number
    return self._numbers[key]

  def _check(self, flat: list[Any]) -> list[np.ndarray]:
    if len(flat) != len(self._out_specs):
      raise RuntimeError(f'{self.fn!r} returned {len(flat)} arrays, expected '
                         f'{len(self._out_specs)}.')
    outputs = []
    for index, (value, (shape, dtype)) in enumerate(zip(flat, self._out_specs)):
      if type(value) is not np.ndarray:
        value = np.asarray(value)
      if value.shape != shape or value.dtype != dtype:
        raise RuntimeError(
            f'{self.fn!r} returned output {index} as {value.dtype}'
            f'{list(value.shape)}, expected {dtype}{list(shape)}.')
      outputs.append(value)
    return outputs
