import pathlib
import re

import pytest

import agents
from agents.run import config_checks
from agents.scripts import configs

PACKAGE = pathlib.Path(agents.__file__).parent


def test_every_config_key_a_module_reads_is_declared_in_default():
  declared = set(configs.default())
  methods = {'unlocked', 'copy', 'to_yaml', 'to_dict', 'get', 'update', 'items',
             'keys', 'values',
             'yaml'}  # The file name config.yaml in messages.
  read = {}
  for path in PACKAGE.rglob('*.py'):
    for key in re.findall(r'(?<![\w.])config\.([a-z_]+)\b', path.read_text()):
      read.setdefault(key, path.name)
  undeclared = {k: f for k, f in read.items() if k not in declared | methods}
  assert not undeclared, f'read but not declared in default(): {undeclared}'
  assert 'config.get(' not in ''.join(
      p.read_text() for p in PACKAGE.rglob('*.py')), 'read keys as attributes'


def test_every_default_key_has_a_comment():
  source = (PACKAGE / 'scripts' / 'configs.py').read_text()
  body = source[source.index('def default()'):source.index('def pendulum()')]
  for line in body.splitlines():
    if re.match(r'\s+[a-z_]+=', line):
      assert '#' in line, f'no comment: {line.strip()}'


@pytest.mark.parametrize('name', sorted(configs.CONFIGS))
def test_every_named_config_passes_validation(name):
  config_checks.validate(configs.get(name), configs.catalog().network_names)


@pytest.mark.parametrize('name', ['breakout_minatar', 'asterix_minatar'])
def test_minatar_configs_train_seeds_side_by_side_with_a_cnn(tmp_path, name, capfd):
  from agents.scripts import train
  assert train.main(['--logdir', str(tmp_path), '--config', name, '--timestamp', 'm',
                     '--seeds', '0', '1', '--set', 'num_agents=8', '--set', 'update_every=16',
                     '--set', 'num_minibatches=2', '--set', 'update_epochs=1',
                     '--set', 'steps=256', '--set', 'eval_every=256', '--set', 'eval_agents=2',
                     '--set', 'max_length=50', '--quiet']) == 0
  assert 'CNN torso on float32 images 10x10x' in capfd.readouterr().err
  for seed in (0, 1):     # One run directory per seed, each with its evaluation.
    lines = (tmp_path / f'm-{name}-seed{seed}' / 'metrics.jsonl').read_text().splitlines()
    assert any('"phase": "eval"' in line for line in lines)
