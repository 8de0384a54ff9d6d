"""The environment variables the package reads, checked in one place.

    AGENTS_HOST_CALL           ffi | io_callback: how compiled code calls host envs
                               (default: ffi where the probe finds XLA's structs)
    AGENTS_JAX_CACHE           directory of JAX's persistent compilation cache
                               ('' turns it off; default ~/.cache/agents/jax)
    AGENTS_JAX_CACHE_MIN_SECS  shortest compile worth caching, in seconds (0.5)
    RAY_AUTH_MODE              Ray's own; read to warn when a local Ray instance
                               starts without token authentication
    MUJOCO_GL                  MuJoCo's renderer: egl | osmesa | glfw | glx | disable
                               (visualize sets egl unless it is set)

`check()` runs before a run directory is written, so a bad value is one line
(exit 2) and nothing else; the readers below are what the package uses.
"""

from __future__ import annotations

import math
import os

from agents.errors import UsageError

HOST_CALLS = ('ffi', 'io_callback')


def host_call() -> str:
  """'' (choose), 'ffi' or 'io_callback'."""
  choice = os.environ.get('AGENTS_HOST_CALL', '').strip().lower()
  if choice not in ('',) + HOST_CALLS:
    raise UsageError(f"AGENTS_HOST_CALL='{choice}': expected one of "
                     f"{', '.join(HOST_CALLS)} (or unset to choose).")
  return choice


def jax_cache_dir() -> str:
  """The compilation cache's directory, '' when it is off."""
  return os.environ.get('AGENTS_JAX_CACHE', os.path.expanduser('~/.cache/agents/jax'))


def jax_cache_min_seconds() -> float:
  text = os.environ.get('AGENTS_JAX_CACHE_MIN_SECS', '0.5')
  try:
    value = float(text)
  except ValueError:
    value = math.nan
  if not math.isfinite(value) or value < 0:
    raise UsageError(f"AGENTS_JAX_CACHE_MIN_SECS='{text}': expected a number of "
                     'seconds >= 0, e.g. 0.5.')
  return value


MUJOCO_GL_VALUES = ('egl', 'osmesa', 'glfw', 'glx', 'cgl', 'wgl', 'enable', 'enabled',
                    'on', 'true', '1', 'disable', 'disabled', 'off', 'false', '0')


def mujoco_gl() -> str:
  """MuJoCo's rendering backend as set ('' when unset)."""
  value = os.environ.get('MUJOCO_GL', '').strip().lower()
  if value and value not in MUJOCO_GL_VALUES:
    raise UsageError(f"MUJOCO_GL='{value}': expected egl (a GPU or Mesa's EGL), "
                     'osmesa (software) or glfw (a display), or unset it.')
  return value


def ray_auth_mode() -> str:
  """Ray's RAY_AUTH_MODE ('' when unset: Ray's default, token)."""
  return os.environ.get('RAY_AUTH_MODE', '').strip().lower()


def check() -> None:
  """Every variable above, read once: UsageError naming the first bad one."""
  mujoco_gl()
  host_call()
  jax_cache_dir()
  jax_cache_min_seconds()
