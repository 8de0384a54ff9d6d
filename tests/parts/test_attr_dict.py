import pickle

import pytest

from agents.tools import AttrDict


def test_reads_keys_as_attributes_and_nested_dicts_too():
  config = AttrDict(a=1, nested={'b': 2})
  assert config.a == 1
  assert config.nested.b == 2


def test_writes_raise_unless_unlocked_with_a_message_that_says_so():
  config = AttrDict(a=1)
  with pytest.raises(RuntimeError, match='unlocked'):
    config.a = 2
  with pytest.raises(RuntimeError, match='unlocked'):
    config['b'] = 2
  with config.unlocked:
    config.a = 2
    config.b = 3
  assert (config.a, config.b) == (2, 3)
  with pytest.raises(RuntimeError):
    config.c = 1


def test_unlocked_opens_nested_dicts():
  config = AttrDict(nested={'b': 2})
  with config.unlocked:
    config.nested.b = 5
  assert config.nested.b == 5
  with pytest.raises(RuntimeError):
    config.nested.b = 6


def test_missing_key_raises_attribute_error_naming_known_keys():
  config = AttrDict(alpha=1, beta=2)
  with pytest.raises(AttributeError, match="'gamma'.*alpha, beta"):
    _ = config.gamma


def test_copy_is_independent_and_locked():
  config = AttrDict(a=1, nested={'b': 2})
  copy = config.copy()
  with copy.unlocked:
    copy.nested.b = 3
  assert config.nested.b == 2
  with pytest.raises(RuntimeError):
    copy.a = 5


def test_round_trips_through_yaml_and_pickle():
  config = AttrDict(a=1, b=[1, 2], c=None, d='text', nested={'e': 0.5})
  restored = AttrDict.from_yaml(config.to_yaml())
  assert restored == config
  assert restored.nested.e == 0.5
  assert pickle.loads(pickle.dumps(config)) == config
