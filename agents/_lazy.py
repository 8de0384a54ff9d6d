"""Lazy package exports: names resolve on first use, so importing a package is cheap.

Worker processes import only what they need and should not pay for JAX at
start-up; `import agents` should not either.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def names_in(module: str, *names: str) -> dict[str, str]:
  """{name: 'module:name'} for names defined in one module (an export table's rows)."""
  return {name: f'{module}:{name}' for name in names}


def exports(package: str, names: dict[str, str]) -> Callable[[str], Any]:
  """A module `__getattr__` for `names`: name -> 'module.path:attribute', or
  'module.path' for a name that is a module itself (e.g. 'wrappers')."""
  def __getattr__(name: str) -> Any:
    if name not in names:
      raise AttributeError(f"module '{package}' has no attribute '{name}'")
    module_path, _, attribute = names[name].partition(':')
    module = importlib.import_module(module_path)
    return getattr(module, attribute) if attribute else module
  return __getattr__
