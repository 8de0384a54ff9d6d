"""Lazy package exports: names resolve on first use, so importing a package is cheap.

Worker processes import only what they need and should not pay for JAX at
start-up; `import agents` should not either.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def exports(package: str, names: dict[str, str]) -> Callable[[str], Any]:
  """A module `__getattr__` for `names` (name -> module path).

  A name that is the last part of its module path is the module itself
  (e.g. 'wrappers': 'agents.tools.wrappers'); any other name is an attribute
  of its module.
  """
  def __getattr__(name: str) -> Any:
    if name not in names:
      raise AttributeError(f"module '{package}' has no attribute '{name}'")
    module = importlib.import_module(names[name])
    return module if names[name].rsplit('.', 1)[-1] == name else getattr(module, name)
  return __getattr__
