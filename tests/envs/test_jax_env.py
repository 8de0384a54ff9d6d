"""The JAX env protocol: its start-up check, the batch env over it, the families' adapters."""

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.envs import jax_env, jax_named
from agents.envs.jax_batch_env import JaxBatchEnv
from agents.envs.jax_env import JaxEnvContractError
from tests import user_jax_envs


def _run(batch, steps, action=1, seed=0):
  """(rewards, terminated, truncated) [steps, batch] of constant actions, ended
  episodes reset before each step as simulate does."""
  reset, step = jax.jit(batch.reset), jax.jit(batch.step)
  state = batch.init(jax.random.PRNGKey(seed))
  actions = jnp.full((batch.num_agents,) + batch.spec.action_shape, action,
                     batch.spec.action_dtype)
  rows = []
  for index in range(steps):
    state = reset(state, state.done, jax.random.PRNGKey(1000 + index))
    state = step(state, actions, jax.random.PRNGKey(index))
    rows.append((np.asarray(state.reward), np.asarray(state.terminated),
                 np.asarray(state.truncated), np.asarray(state.observ)))
  return [np.stack(column) for column in zip(*rows)]


def test_a_protocol_env_truncates_at_its_own_limit_and_never_terminates():
  _, terminated, truncated, _ = _run(JaxBatchEnv(user_jax_envs.Copy(), 3), 25)
  assert not terminated.any()
  assert np.array_equal(np.flatnonzero(truncated[:, 0]), [9, 19])


def test_max_length_cuts_episodes_as_truncations_and_termination_wins_a_tie():
  _, _, truncated, _ = _run(JaxBatchEnv(user_jax_envs.Copy(), 2, max_length=4), 12)
  assert np.array_equal(np.flatnonzero(truncated[:, 1]), [3, 7, 11])
  # Action 0 is wrong for +1 signs: Ends terminates there; never both flags.
  _, terminated, truncated, _ = _run(JaxBatchEnv(user_jax_envs.Ends(), 8, max_length=1),
                                     6, action=0)
  assert terminated.any() and truncated.any() and not (terminated & truncated).any()


def test_stagger_cuts_only_the_first_episode_at_random_lengths():
  _, _, truncated, _ = _run(JaxBatchEnv(user_jax_envs.Copy(), 16, stagger=True), 30)
  first_ends = truncated.argmax(axis=0)
  assert len(set(first_ends.tolist())) > 3 and first_ends.max() <= 9
  for column, first in zip(truncated.T, first_ends):
    assert np.array_equal(np.flatnonzero(column)[1:3] - first, [10, 20])


def test_seeds_replay_the_same_first_episodes():
  one = _run(JaxBatchEnv(user_jax_envs.Copy(), 2, seeds=[7, 8]), 5, seed=1)[3]
  two = _run(JaxBatchEnv(user_jax_envs.Copy(), 2, seeds=[7, 8]), 5, seed=2)[3]
  assert np.array_equal(one[0], two[0])


def test_uint8_observations_stay_uint8_and_the_spec_says_image():
  batch = JaxBatchEnv(user_jax_envs.Bytes(), 2)
  assert batch.spec.observ_dtype == 'uint8' and batch.spec.image
  observ = _run(batch, 2)[3]
  assert observ.dtype == np.uint8 and set(np.unique(observ)) <= {0, 255}


def test_a_dict_observations_action_mask_leaf_becomes_the_mask():
  batch = JaxBatchEnv(user_jax_envs.Masked(), 4)
  # One vector part besides the mask needs no parts: the network reads it flat.
  assert batch.spec.mask_size == 2 and batch.spec.observ_shape == (4,)
  assert batch.spec.observ_parts is None
  observ = _run(batch, 3)[3]
  part, mask = batch.spec.split_observ(jnp.asarray(observ))
  sign_positive = np.asarray(part)[..., 0] > 0
  assert np.array_equal(np.asarray(mask)[..., 1], sign_positive)
  assert np.array_equal(np.asarray(mask)[..., 0], ~sign_positive)


def test_a_users_gymnax_subclass_is_adapted_with_its_time_limit():
  env = jax_named.adapt(user_jax_envs.make_gymnax_env(), 'user:gymnax')
  jax_env.check(env, 'user:gymnax')
  rewards, terminated, truncated, _ = _run(JaxBatchEnv(env, 2), 12, action=1)
  assert not terminated.any() and np.array_equal(np.flatnonzero(truncated[:, 0]), [9])
  assert 0 < rewards.mean() < 1


@pytest.mark.parametrize('env, message', [
    (user_jax_envs.NoStep(), 'has no step'),
    (user_jax_envs.PythonBranch(), 'step(state, action, key) is not a pure JAX function'),
    (user_jax_envs.WrongDtype(), 'observation of shape (2,) and dtype float16, but '
                                 'observation_space declares shape (2,) and dtype float32'),
    (user_jax_envs.StepRaises(), 'raised ValueError: deliberate failure inside step'),
])
def test_the_start_up_check_names_what_is_wrong_in_one_line(env, message):
  with pytest.raises(JaxEnvContractError) as caught:
    jax_env.check(env, 'tests.user_jax_envs:X')
  first = str(caught.value).splitlines()[0]
  assert message in first and first.startswith('env=tests.user_jax_envs:X')
  assert caught.value.exit_code == 2


def test_the_check_shows_the_envs_own_traceback():
  with pytest.raises(JaxEnvContractError) as caught:
    jax_env.check(user_jax_envs.StepRaises(), 'x')
  assert 'Traceback from the env' in str(caught.value) and 'user_jax_envs.py' in str(
      caught.value)


@pytest.mark.parametrize('name, jax_like', [
    ('tests.user_jax_envs:Copy', True), ('tests.user_jax_envs:make_copy', True),
    ('tests.user_jax_envs:copy_env', True), ('tests.user_jax_envs:NoStep', True),
    ('tests.user_envs:Chain', False), ('tests.user_envs:make_chain', False),
])
def test_module_names_are_recognised_as_jax_envs_by_their_api(name, jax_like):
  assert (jax_named.make(name) is not None) == jax_like


def _installed(package):
  return importlib.util.find_spec(package) is not None


FAMILIES = [
    ('gymnax:CartPole-v1', 'gymnax', 'discrete', 0),
    ('navix:Navix-Empty-5x5-v0', 'navix', 'discrete', 0),
    ('jumanji:Knapsack-v1', 'jumanji', 'discrete', 50),
    ('pgx:tic_tac_toe', 'pgx', 'discrete', 9),
    ('brax:inverted_pendulum', 'brax', 'box', 0),
    ('xminigrid:MiniGrid-Empty-5x5', 'xminigrid', 'discrete', 0),
    ('craftax:Craftax-Classic-Symbolic-v1', 'craftax', 'discrete', 0),
    ('mujoco_playground:CartpoleBalance', 'mujoco_playground', 'box', 0),
]


@pytest.mark.parametrize('name, package, kind, mask_size', FAMILIES)
def test_each_family_steps_in_the_batch_env_with_its_spaces(name, package, kind, mask_size):
  if not _installed(package):
    pytest.skip(f"{package} is not installed (the jax-envs extra has it)")
  if package == 'mujoco_playground' and not _installed('mujoco.mjx'):
    pytest.skip('Playground needs mujoco-mjx (the jax-envs extra has it)')
  env = jax_named.make(name)
  jax_env.check(env, name)
  batch = JaxBatchEnv(env, 2, name=name)
  assert batch.spec.kind == kind and batch.spec.mask_size == mask_size
  rewards, terminated, truncated, _ = _run(batch, 3, action=0)
  assert np.isfinite(rewards).all() and not (terminated & truncated).any()


def test_jumanji_splits_termination_from_truncation_by_discount():
  if not _installed('jumanji'):
    pytest.skip('jumanji is not installed (the jax-envs extra has it)')
  env = jax_named.make('jumanji:Snake-v1')
  # A snake that turns in a tight circle never dies: its episodes end at the
  # time limit, which Jumanji reports with discount 1.
  batch = JaxBatchEnv(env, 1, max_length=None)
  assert batch.time_limit == 4000
  _, terminated, _, _ = _run(JaxBatchEnv(env, 4), 40, action=0)
  assert terminated.any()   # Running into the wall: discount 0, terminated.


def test_pgx_plays_against_the_opponent_until_the_agents_turn():
  if not _installed('pgx'):
    pytest.skip('pgx is not installed (the jax-envs extra has it)')
  env = jax_named.make('pgx:tic_tac_toe')
  reset = jax.jit(env.reset)
  seats, replies = [], []
  for seed in range(12):
    (game, seat), observ = reset(jax.random.PRNGKey(seed))
    assert int(game.current_player) == int(seat)
    # The observation is the agent's: its own marks (none yet), then the
    # opponent's (one where Pgx let the opponent start).
    assert int(np.asarray(observ)[..., 0].sum()) == 0
    replies.append(int(np.asarray(observ)[..., 1].sum()))
    seats.append(int(seat))
  assert set(seats) == {0, 1} and set(replies) == {0, 1}


def test_craftax_reports_its_time_limit_as_truncation():
  if not _installed('craftax'):
    pytest.skip('craftax is not installed (the jax-envs extra has it)')
  from agents.envs import jax_families
  from craftax.craftax_env import make_craftax_env_from_name
  env = make_craftax_env_from_name('Craftax-Classic-Symbolic-v1', auto_reset=False)
  adapter = jax_families.CraftaxAdapter(env, env.default_params.replace(max_timesteps=5))
  _, terminated, truncated, _ = _run(JaxBatchEnv(adapter, 2), 7, action=0)
  assert not terminated.any() and np.array_equal(np.flatnonzero(truncated[:, 0]), [4])


def test_navix_reports_its_time_limit_as_truncation():
  if not _installed('navix'):
    pytest.skip('navix is not installed (the jax-envs extra has it)')
  env = jax_named.make('navix:Navix-Empty-5x5-v0')   # Action 0 turns on the spot.
  _, terminated, truncated, _ = _run(JaxBatchEnv(env, 1), 101, action=0)
  assert not terminated.any() and np.array_equal(np.flatnonzero(truncated[:, 0]), [99])


def test_a_brax_episode_wrappers_truncation_is_truncated():
  if not _installed('brax'):
    pytest.skip('brax is not installed (the jax-envs extra has it)')
  from brax import envs
  from brax.envs.wrappers.training import EpisodeWrapper
  env = EpisodeWrapper(envs.get_environment('inverted_pendulum'), episode_length=3,
                       action_repeat=1)
  adapted = jax_named.adapt(env, 'wrapped')
  _, terminated, truncated, _ = _run(JaxBatchEnv(adapted, 2), 7, action=0.0)
  assert not terminated.any() and np.array_equal(np.flatnonzero(truncated[:, 0]), [2, 5])


def test_a_brax_env_without_a_limit_of_its_own_is_cut_at_its_episode_length():
  if not _installed('brax'):
    pytest.skip('brax is not installed (the jax-envs extra has it)')
  from brax import envs
  from agents.envs import jax_families
  adapter = jax_families.BraxAdapter(envs.get_environment('inverted_pendulum'),
                                     episode_length=3)
  _, terminated, truncated, _ = _run(JaxBatchEnv(adapter, 2), 7, action=0.0)
  assert not terminated.any() and np.array_equal(np.flatnonzero(truncated[:, 0]), [2, 5])
