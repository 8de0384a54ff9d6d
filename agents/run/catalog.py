"""What a run reads from agents/scripts: the named configs and the networks.

`agents/scripts` (as in the original) defines the experiments (`configs.py`)
and the networks (`networks.py`), and its programs call this layer. So that
imports point down only, the run layer does not import those modules: it is
handed a `Catalog` (`agents.scripts.configs.catalog()`), as the original
handed its algorithm `config.network`.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, Mapping, Sequence

from agents import user_code
from agents.errors import ConfigError
from agents.parts.attr_dict import AttrDict

LOG = logging.getLogger(__name__)
NetworkFactory = Callable[[Any, AttrDict], Any]   # (EnvSpec, config) -> flax Module


@dataclasses.dataclass(frozen=True)
class Catalog:
  """Named configs (name -> function returning a locked AttrDict) and networks."""
  configs: Mapping[str, Callable[[], AttrDict]]
  default: Callable[[], AttrDict]
  networks: Mapping[str, NetworkFactory]
  aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)
  # (network, spec) -> one line on its torso and head (logged at start-up), or None.
  summary: Callable[[Any, Any], str | None] | None = None

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
    """The network `config.network` names (or `module:function` imports), for
    an env of `spec`; see NETWORK_PROTOCOL."""
    name = config.network
    factory = self.networks.get(name)
    if factory is None and ':' in name:
      factory = _import_network(name)
    if factory is None:
      raise ConfigError(f"Unknown network '{name}'. Known: {', '.join(self.networks)}, "
                        'or module:function for your own (see the README).')
    network = factory(spec, config)
    _check_protocol(network, name)
    line = self.summary(network, spec) if self.summary and name in self.networks else None
    if line:
      LOG.info('network %s: %s', name, line)
    return network


NETWORK_PROTOCOL = """\
network=module:function names a function `function(spec, config) -> module`:
  spec: the env's agents.tools.EnvSpec: policy_observ_shape (what the network sees),
    kind ('box', 'discrete', 'multi_discrete', 'multi_binary'), action_shape,
    num_actions, action_nvec, observ_parts (a Dict observation's parts: split
    them with spec.observ_dict(observ));
  config: the run's config (AttrDict), e.g. config.policy_layers.
The module (flax.linen) has attributes `recurrent` (bool) and `state_size`
(int, 1 for feed-forward) and maps (observ [time, batch, *policy_observ_shape],
first [time, batch] bool, state [batch, state_size]) to (distribution, value
[time, batch], state). The distribution is one of agents.parts.distributions
(DiagGaussian, acting in [-1, 1], for Box; for the others
agents.scripts.networks.ActionHead.of(spec).distribution(out) makes the right
one from a layer of ActionHead.of(spec).size outputs). Parameters whose path
starts with 'value' train with value_learning_rate. Action masks are applied
to the distribution by PPO; the network does not see them."""


def _import_network(name: str) -> NetworkFactory:
  module, function_name = user_code.import_module('network', name)
  factory = getattr(module, function_name, None)
  if not callable(factory):
    raise ConfigError(f"network={name}: the module '{module.__name__}' has no function "
                      f"'{function_name}' (found {type(factory).__name__}).")
  return factory


def _check_protocol(network: Any, name: str) -> None:
  problems = [f'no {attribute}' for attribute in ('init', 'apply', 'recurrent',
                                                   'state_size')
              if not hasattr(network, attribute)]
  if not problems and not (isinstance(network.state_size, int) and network.state_size > 0):
    problems.append(f'state_size {network.state_size!r} (needs a positive int)')
  if problems:
    raise ConfigError(
        f'network={name} returned {type(network).__name__} with {", ".join(problems)}.'
        f'\n{NETWORK_PROTOCOL}')
