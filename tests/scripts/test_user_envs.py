"""A user's own env: `env=module:Name` works for classes and functions without
render_mode; one that breaks Gymnasium's API is named in one line at start-up,
or with its index when a batch member breaks it later; a slow env's long calls
neither freeze the progress bar nor hold up a stop."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from agents.scripts import train

TINY = ['--set', 'num_agents=4', '--set', 'update_every=16',
        '--set', 'num_minibatches=2', '--set', 'update_epochs=1',
        '--set', 'policy_layers=[16]', '--set', 'value_layers=[16]',
        '--set', 'eval_agents=2', '--set', 'eval_every=128', '--set', 'steps=128',
        '--set', 'report_every=64', '--set', 'checkpoint_every=64', '--quiet']


def _main(tmp_path, env, *args):
  return train.main(['--logdir', str(tmp_path), '--config', 'cartpole',
                     '--timestamp', 'run', '--set', f'env=tests.user_envs:{env}',
                     *TINY, *args])


def _error_line(capfd):
  err = capfd.readouterr().err
  lines = [line for line in err.splitlines() if line.startswith('error:')]
  assert len(lines) == 1, err
  return lines[0], err


@pytest.mark.parametrize('env', ['Chain', 'make_chain', 'ChainNoRenderMode-v0'])
def test_classes_functions_and_ids_without_render_mode_train(tmp_path, capfd, env):
  assert _main(tmp_path, env) == 0, capfd.readouterr().err
  with open(tmp_path / 'run-cartpole' / 'metrics.jsonl') as stream:
    evals = [json.loads(line) for line in stream if '"eval"' in line]
  assert evals and evals[-1]['mean_length'] == 10.0


@pytest.mark.parametrize('env, message', [
    ('WrongShape', "the env 'tests.user_envs:WrongShape' returned an observation of "
                   'shape (4,) (float32) from reset, but its observation_space is '
                   'Box(-1.0, 1.0, (3,), float32)'),
    ('ArrayReward', 'returned a reward of an array of shape (1,) (float64) from step; '
                    'Gymnasium expects one number per step'),
    ('OldStepApi', 'returned 4 values from step, the old Gym API (observation, reward, '
                   'done, info); Gymnasium expects 5'),
    ('OldResetApi', 'from reset; Gymnasium (>= 0.26) expects reset(seed=None, '
                    'options=None) -> (observation, info: dict)'),
    ('NoSpaces', 'has no observation_space (found NoneType)'),
])
def test_an_env_that_breaks_the_api_is_named_at_start_up(tmp_path, capfd, env, message):
  assert _main(tmp_path, env) == 1
  line, err = _error_line(capfd)
  assert 'the environments could not start' in line and message in line, line
  assert 'Traceback' not in err


@pytest.mark.parametrize('env, where', [
    ('ResetRaises', 'raised in reset: ValueError: deliberate failure inside reset'),
    ('ConstructorRaises', 'raised in its constructor: RuntimeError: deliberate failure'),
])
def test_an_env_that_raises_gives_its_own_traceback(tmp_path, capfd, env, where):
  assert _main(tmp_path, env) == 1
  line, err = _error_line(capfd)
  assert where in line
  # The env's own frames follow the line, and none of the package's.
  assert 'user_envs.py' in err and 'agents/' not in err.split('Traceback from the env')[1]


@pytest.mark.parametrize('processes', [False, True])
def test_a_shape_change_mid_episode_names_the_env(tmp_path, capfd, processes):
  args = ['--set', 'env_processes=true'] if processes else []
  assert _main(tmp_path, 'ShapeChange', *args) == 1
  line, _ = _error_line(capfd)
  assert 'an environment failed at step 0' in line
  assert re.search(r'env [0-3] returned an observation of shape \(4,\)', line), line
  assert 'No checkpoint had been written yet' in line or processes


@pytest.mark.parametrize('env, message, code', [
    ('TupleActions', 'Unsupported action space Tuple(Discrete(2), Discrete(3)) (Tuple)', 2),
    ('NOT_AN_ENV', "'NOT_AN_ENV' in 'tests.user_envs' is a int, not an env class", 2),
    ('Missing', "the module 'tests.user_envs' has no env class or function 'Missing'", 2),
])
def test_names_and_spaces_that_cannot_train_are_one_line(tmp_path, capfd, env, message,
                                                         code):
  assert _main(tmp_path, env) == code
  line, err = _error_line(capfd)
  assert message in line
  assert 'Traceback' not in err


def test_a_module_that_cannot_be_imported_is_named(tmp_path, capfd):
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole',
                     '--set', 'env=no_such_module_here:Env', *TINY]) == 2
  line, _ = _error_line(capfd)
  assert "cannot import the module 'no_such_module_here'" in line and 'PYTHONPATH' in line


@pytest.mark.timeout(240)
def test_a_slow_env_moves_the_bar_and_stops_within_seconds(tmp_path):
  mark = tmp_path / 'training-began'
  # One rollout is 4 x 2048 steps of 20 ms: 160 s in one compiled call.
  command = [sys.executable, '-m', 'agents.scripts.train', '--logdir', str(tmp_path),
             '--config', 'cartpole', '--timestamp', 'run',
             '--set', 'env=tests.user_envs:Slow', '--set', 'num_agents=4',
             '--set', 'update_every=2048', '--set', 'steps=1e6']
  process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=dict(os.environ, AGENTS_TEST_MARK=str(mark)))
  try:
    deadline = time.time() + 120
    while not mark.exists() and time.time() < deadline and process.poll() is None:
      time.sleep(0.2)
    assert mark.exists(), 'training did not begin'
    time.sleep(3.0)   # Well inside the first call.
    process.send_signal(signal.SIGINT)
    sent = time.time()
    out, err = process.communicate(timeout=60)
    waited = time.time() - sent
  finally:
    if process.poll() is None:
      process.kill()
      process.communicate()
  assert process.returncode == 130, err
  assert waited < 30, f'the stop took {waited:.0f} s'   # Not the 160 s call.
  assert 'Stopped by SIGINT before training began; nothing to save' in err
  assert 'Traceback' not in err
  counts = [int(n) for n in re.findall(r'\| *(\d+)/1000000 ', err.split('SIGINT')[0])]
  assert counts and max(counts) > 0, err   # The bar moved inside the call.


# Action spaces beyond Box and Discrete: the head comes from the space.

def _learn(tmp_path, env):
  """20,480 steps of the stock cartpole config: the training reports' scores and
  the final eval's."""
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp', 'run',
                     '--set', f'env=tests.user_envs:{env}', '--set', 'steps=20480',
                     '--set', 'eval_every=20480', '--set', 'eval_steps=1000',
                     '--quiet']) == 0
  with open(tmp_path / 'run-cartpole' / 'metrics.jsonl') as stream:
    reports = [json.loads(line) for line in stream]
  train_scores = [r['mean_score'] for r in reports if r['phase'] == 'train' and r['episodes']]
  return train_scores, [r for r in reports if r['phase'] == 'eval'][-1]['mean_score']


@pytest.mark.parametrize('env', ['CopyTargets', 'CopyBits'])
def test_multi_discrete_and_multi_binary_envs_learn_with_the_stock_cartpole_config(
    tmp_path, env):
  """Ten-step episodes: random play scores ~2.9 (targets) and ~5 (bits), the best 10."""
  train_scores, final = _learn(tmp_path, env)
  assert train_scores[0] < 8.0                    # It started far from the best...
  assert final >= 9.5, final                      # ...and learned to near it.


def test_a_recurrent_head_acts_in_multi_binary_and_its_policy_loads(tmp_path):
  import agents
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp', 'run',
                     '--set', 'env=tests.user_envs:CopyBits', '--set', 'network=recurrent',
                     '--set', 'policy_layers=[16]', '--set', 'state_size=8',
                     '--set', 'chunk_length=8', *TINY]) == 0
  policy = agents.load_policy(str(tmp_path / 'run-cartpole'))
  env = policy.make_env()
  observ, _ = env.reset(seed=0)
  action = policy(observ)
  assert action.shape == (3,) and env.action_space.contains(action.astype(np.int8))


def test_load_policy_of_a_multi_discrete_run_acts_in_its_space(tmp_path):
  import agents
  assert _main(tmp_path, 'CopyTargets') == 0
  policy = agents.load_policy(str(tmp_path / 'run-cartpole'))
  env = policy.make_env()
  observ, _ = env.reset(seed=0)
  actions = policy(np.stack([observ] * 5))
  assert actions.shape == (5, 2)
  assert all(env.action_space.contains(a.astype(np.int64)) for a in actions)


# Invalid-action masks: info['action_mask'] or action_masks(). The masked envs
# raise on an invalid action, so a run that ends cleanly took none.

def test_a_masked_env_learns_and_never_takes_an_invalid_action(tmp_path):
  """Random valid play scores 5, the best 7.5; unmasked random play would raise."""
  train_scores, final = _learn(tmp_path, 'PickValid')
  assert 4.5 < train_scores[0] < 6.0, train_scores  # Like a random *valid* policy.
  assert final >= 7.2, final


@pytest.mark.parametrize('env, processes', [('PickValidPair', 'false'),
                                           ('PickValidPair', 'true'),
                                           ('PickValidMethod', 'true')])
def test_masks_hold_for_multi_discrete_actions_methods_and_workers(tmp_path, env, processes):
  assert _main(tmp_path, env, '--set', f'env_processes={processes}', '--set', 'steps=512') == 0


@pytest.mark.parametrize('processes', [False, True])
def test_a_mask_with_no_valid_action_is_one_line_with_the_env_index(tmp_path, capfd,
                                                                    processes):
  code = _main(tmp_path, 'NoValidAction', '--set', f'env_processes={str(processes).lower()}')
  line, err = _error_line(capfd)
  assert code == 1
  assert re.search(r'env \d+ gave an action mask with no valid action at step 3 of its '
                   r'episode: \[0, 0, 0, 0, 0\] \(for Discrete\(5\)\)', line), line
  assert 'Traceback' not in err


def test_a_mask_of_the_wrong_size_is_named_at_start_up(tmp_path, capfd):
  assert _main(tmp_path, 'WrongMaskShape') == 1
  line, _ = _error_line(capfd)
  assert 'gave an action mask of shape (4,); its action space Discrete(5) needs 5' in line


def test_a_loaded_policy_takes_a_mask_also_where_its_env_gives_none(tmp_path):
  import agents
  assert _main(tmp_path, 'PickValid', '--timestamp', 'masked') == 0
  policy = agents.load_policy(str(tmp_path / 'masked-cartpole'))
  env = policy.make_env()
  observ, _ = env.reset(seed=0)                     # Ends with the env's mask.
  valid = set(np.flatnonzero(observ[5:]))
  assert policy(observ) in valid
  for only in range(5):                             # The mask argument decides.
    assert policy(observ[:5], mask=np.eye(5)[only]) == only
  with pytest.raises(ValueError, match='pass policy\\(observ, mask=...\\)'):
    policy(observ[:5])
  assert _main(tmp_path, 'CopyTargets', '--timestamp', 'plain') == 0
  policy = agents.load_policy(str(tmp_path / 'plain-cartpole'))
  observ, _ = policy.make_env().reset(seed=0)
  mask = np.array([0, 0, 1, 0, 1, 0, 0])            # Dimension 0: 2; dimension 1: 1.
  np.testing.assert_array_equal(policy(np.stack([observ] * 3), mask=mask), [[2, 1]] * 3)
  with pytest.raises(ValueError, match='a mask of 7 entries'):
    policy(observ, mask=np.ones(3))


# Users' own networks: network=module:function.

def _readme_network():
  readme = open(os.path.join(os.path.dirname(__file__), '..', '..', 'README.md')).read()
  section = readme.split('## Your own network', 1)[1]
  code = section.split('# my_networks.py\n', 1)[1].split('PYTHONPATH=.', 1)[0]
  return '\n'.join(line[4:] for line in code.splitlines())


def test_the_readmes_own_network_trains_and_its_policy_loads(tmp_path, monkeypatch):
  import agents
  (tmp_path / 'my_networks.py').write_text(_readme_network())
  monkeypatch.syspath_prepend(str(tmp_path))
  assert _main(tmp_path, 'CopyTargets', '--set', 'network=my_networks:wide') == 0
  policy = agents.load_policy(str(tmp_path / 'run-cartpole'))
  params = policy._learner.params['params']
  assert params['Dense_1']['kernel'].shape == (7, 256)       # The README's layers,
  assert set(params) >= {'value_in', 'value_out'}
  observ, _ = policy.make_env().reset(seed=0)
  assert policy(observ).shape == (2,)                         # in MultiDiscrete([3 4]).


def test_a_network_sees_a_dict_observations_parts(tmp_path):
  from tests import user_networks
  user_networks.SEEN.clear()
  assert _main(tmp_path, 'DictPick', '--set', 'network=tests.user_networks:by_parts') == 0
  assert user_networks.SEEN[0] == {'goal': (1, 4, 3), 'grid': (1, 4, 2, 2)}


@pytest.mark.parametrize('network, message', [
    ('nowhere_module:net', "network=nowhere_module:net: cannot import the module 'nowhere_module'"),
    ('tests.user_networks:missing', "has no function 'missing'"),
    ('tests.user_networks:not_a_module', 'network=tests.user_networks:not_a_module returned '
                                         'str with no init, no apply'),
    ('feed_forwardd', "Unknown network 'feed_forwardd'. Known: "),
])
def test_a_network_that_cannot_be_used_is_one_line(tmp_path, capfd, network, message):
  assert _main(tmp_path, 'Chain', '--set', f'network={network}') == 2
  err = capfd.readouterr().err
  assert message in err, err
  assert 'Traceback' not in err


# Image observations: a CNN torso from the observation space, bytes kept as bytes.

def test_an_image_env_learns_with_a_cnn_torso_and_no_config_change(tmp_path, capfd):
  """36x36 RGB (uint8): random play scores 5, the best 10."""
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp', 'run',
                     '--set', 'env=tests.user_envs:BrightSquare', '--set', 'num_agents=16',
                     '--set', 'update_every=64', '--set', 'update_epochs=4',
                     '--set', 'num_minibatches=4', '--set', 'steps=8192',
                     '--set', 'eval_every=8192', '--set', 'eval_steps=200']) == 0
  err = capfd.readouterr().err
  assert ('network feed_forward: Nature-CNN torso on uint8 images 36x36x3 observations, '
          'categorical head for Discrete(2) actions') in err
  with open(tmp_path / 'run-cartpole' / 'metrics.jsonl') as stream:
    reports = [json.loads(line) for line in stream]
  assert [r for r in reports if r['phase'] == 'eval'][-1]['mean_score'] >= 9.0
  import agents
  policy = agents.load_policy(str(tmp_path / 'run-cartpole'))
  assert policy.spec.observ_dtype == 'uint8' and policy.spec.image
  params = policy._learner.params['params']
  assert params['policy_torso']['conv_0']['kernel'].shape == (8 * 8 * 3, 32)   # Nature-CNN.
  observ, _ = policy.make_env().reset(seed=0)
  assert policy(observ) in (0, 1)


_SMALL = ['--set', 'num_agents=16', '--set', 'update_every=64', '--set', 'update_epochs=4',
          '--set', 'num_minibatches=4', '--set', 'steps=16384', '--set', 'eval_every=16384',
          '--set', 'eval_steps=200']


def _final_eval(path):
  with open(path / 'metrics.jsonl') as stream:
    reports = [json.loads(line) for line in stream]
  return [r for r in reports if r['phase'] == 'eval'][-1]['mean_score']


def test_a_dict_of_an_image_and_a_vector_reads_both_parts(tmp_path, capfd):
  """SquareAndFlip: the answer needs the image and the flip bit; either alone scores 5."""
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp', 'run',
                     '--set', 'env=tests.user_envs:SquareAndFlip', *_SMALL]) == 0
  err = capfd.readouterr().err
  assert ('network feed_forward: MinAtar-CNN torso on the image part view and the vector '
          'part flip of Dict observations, concatenated') in err, err
  assert _final_eval(tmp_path / 'run-cartpole') >= 9.0
  import agents
  policy = agents.load_policy(str(tmp_path / 'run-cartpole'))
  params = policy._learner.params['params']
  assert params['policy_torso_view']['conv_0']['kernel'].shape == (3 * 3 * 1, 16)
  # The image part is scaled (bytes: 1/255), not normalized.
  assert policy.spec.image_part_scale == 1 / 255
  assert policy.spec.image_entries.sum() == 100 and not policy.spec.image_entries[0]


def test_the_impala_resnet_torso_learns_an_image_task(tmp_path, capfd):
  # Half the budget of the Nature-CNN tests: the ResNet scores 10 (of 10) by 4k steps (seen).
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp', 'run',
                     '--set', 'env=tests.user_envs:SmallSquare', '--set', 'cnn=impala',
                     *_SMALL, '--set', 'steps=8192', '--set', 'eval_every=8192']) == 0
  assert 'IMPALA-ResNet torso on uint8 images 10x10x1 observations' in capfd.readouterr().err
  assert _final_eval(tmp_path / 'run-cartpole') >= 9.0
  import agents
  params = agents.load_policy(str(tmp_path / 'run-cartpole'))._learner.params['params']
  torso = params['policy_torso']
  assert torso['stack_2_block_1_1']['kernel'].shape == (3 * 3 * 32, 32)
  assert sorted(name for name in torso if name.endswith('_conv')) == [
      'stack_0_conv', 'stack_1_conv', 'stack_2_conv']


def test_a_shared_torso_learns_with_half_the_convolutions(tmp_path, capfd):
  """network=feed_forward_shared (CleanRL's Atari agent): one CNN feeds the
  policy and the value heads, and the value loss trains it too."""
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp', 'run',
                     '--set', 'env=tests.user_envs:SmallSquare',
                     '--set', 'network=feed_forward_shared', *_SMALL]) == 0
  assert 'torso on uint8 images 10x10x1 observations (shared by policy and value)' in (
      capfd.readouterr().err)
  assert _final_eval(tmp_path / 'run-cartpole') >= 9.0
  import agents
  params = agents.load_policy(str(tmp_path / 'run-cartpole'))._learner.params['params']
  assert 'torso' in params and not {'policy_torso', 'value_torso'} & set(params)


def test_flat_images_feed_the_mlps_without_a_torso(tmp_path, capfd):
  """cnn=flat (PureJaxRL's MinAtar network): the MLPs read the image flattened."""
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp', 'run',
                     '--set', 'env=tests.user_envs:SmallSquare', '--set', 'cnn=flat',
                     *_SMALL]) == 0
  assert ('network feed_forward: MLP torso on flattened uint8 images 10x10x1 observations'
          in capfd.readouterr().err)
  assert _final_eval(tmp_path / 'run-cartpole') >= 9.0
  import agents
  params = agents.load_policy(str(tmp_path / 'run-cartpole'))._learner.params['params']
  assert not [name for name in params if 'torso' in name]
  assert params['policy']['Dense_0']['kernel'].shape[0] == 100   # 10 x 10 x 1 pixels.


def test_an_unknown_cnn_is_one_line(tmp_path, capfd):
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole',
                     '--set', 'cnn=resnet50']) == 2
  err = capfd.readouterr().err
  assert "Unknown cnn 'resnet50'. Known: nature, impala, flat." in err and 'Traceback' not in err
