"""What a run reads from agents/scripts: the named configs and the networks.

`agents/scripts` (as in the original) defines the experiments (`configs.py`)
and the networks (`networks.py`), and its programs call this layer. So that
imports point down only, the run layer does not import those modules: it is
handed a `Catalog` (`agents.scripts.configs.catalog()`), as the original
handed its algorithm `config.network`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

from agents.errors import ConfigError
from agents.parts.attr_dict import AttrDict

NetworkFactory = Callable[[Any, AttrDict], Any]   # (EnvSpec, config) -> flax Module


@dataclasses.dataclass(frozen=True)
class Catalog:
  """Named configs (name -> function returning a locked AttrDict) and networks."""
  configs: Mapping[str, Callable[[], AttrDict]]
  default: Callable[[], AttrDict]
  networks: Mapping[str, NetworkFactory]
  aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)

  @property
  def network_names(self) -> Sequence[str]:
    return tuple(self.networks)

  def config(self, name: str) -> AttrDict:
    """The config called `name` (or an alias of it); ConfigError lists the known ones."""
    name = self.aliases.get(name, name)
    if name not in self.configs:
      raise ConfigError(f"Unknown config '{name}'. Known: {', '.join(self.configs)} "
                        '(see --list).')
    return self.configs[name]()

  def describe(self) -> list[tuple[str, str]]:
    """(name, one-line description) of every config, for --list."""
    return [(name, (fn.__doc__ or '').strip().splitlines()[0])
            for name, fn in self.configs.items()]

  def complete(self, saved: Mapping[str, Any], name: str) -> AttrDict:
    """A saved config with the keys added to the defaults since it was written."""
    try:
      full = self.config(name)
    except ConfigError:
      full = self.default()
    with full.unlocked:
      full.update({key: value for key, value in saved.items() if key in full})
    return full

  def network(self, spec: Any, config: AttrDict) -> Any:
    """The network `config.network` names, for an env of `spec`."""
    name = config.network
    if name not in self.networks:
      raise ConfigError(f"Unknown network '{name}'. Known: {', '.join(self.networks)}.")
    return self.networks[name](spec, config)
