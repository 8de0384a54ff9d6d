"""Users' own code named in a config as `module:name` (env=, network=)."""

from __future__ import annotations

import importlib
from types import ModuleType

from agents.errors import ConfigError


def import_module(key: str, value: str) -> tuple[ModuleType, str]:
  """The module and the name of `value` ('module:name'), for the config key
  `key`; ConfigError, with the fix, when the module does not import."""
  module_name, name = value.split(':', 1)
  try:
    return importlib.import_module(module_name), name
  except ImportError as error:
    raise ConfigError(
        f"{key}={value}: cannot import the module '{module_name}' ({type(error).__name__}: "
        f'{error}); install it, or add its folder to PYTHONPATH.') from None
