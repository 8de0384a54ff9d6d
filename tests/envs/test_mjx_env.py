"""MJX envs: Gymnasium's v5 tasks with their physics inside the program.

Compiling an MJX step takes 10-30 s on a 2-core CPU, so each test compiles one.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip('mujoco.mjx')

from agents.envs import mjx_env, mjx_tasks  # noqa: E402
from agents.errors import ConfigError  # noqa: E402
from agents.run import build  # noqa: E402
from agents.scripts import configs, train, visualize  # noqa: E402


def test_an_ant_step_matches_native_mujoco_with_the_same_model_state_and_action():
  """Ant-v5 (MJX float32) against Gymnasium's env (native float64 MuJoCo) with
  the same model, state and action. Falling, without contacts: observation
  and reward within 1e-4 (seen: 5e-6). Resting on its legs, with contacts:
  joint velocities within 5e-2 (seen: up to 2e-2) and rewards within 1e-2;
  the clipped contact forces within 0.05 on average, but single entries can
  flip between -1 and 1 (torques about the mass centre near a sign change).
  MJX leaves out the constraints' J'v term, which its own tests scale away."""
  from mujoco import mjx
  env = mjx_env.MjxEnv('Ant-v5', 1)
  native = mjx_tasks.native_env('Ant-v5')
  observ, _ = native.reset(seed=3)
  model, data = native.unwrapped.model, native.unwrapped.data
  assert model.opt.iterations == 1   # The native twin got MJX's solver settings.
  np.testing.assert_allclose(env._observe_one(mjx.put_data(model, data)), observ,
                             atol=1e-6)
  step, observe = jax.jit(env.step_one), jax.jit(env._observe_one)

  def compare(action):
    after, reward, healthy = step(mjx.put_data(model, data), jnp.asarray(action))
    observ, native_reward, terminated, _, _ = native.step(action)
    assert bool(healthy) == (not terminated)
    return np.abs(observe(after) - observ), abs(float(reward) - native_reward), observ

  actions = np.random.default_rng(0).uniform(-1, 1, (5, 8)).astype(np.float32)
  for action in actions[:3]:   # Still in the air.
    error, reward_error, _ = compare(action)
    assert error.max() <= 1e-4 and reward_error <= 1e-4
  native.reset(seed=3)
  for _ in range(60):   # Settle on its legs, with small velocities.
    native.step(np.zeros(8, np.float32))
  assert data.ncon > 0
  touched = 0.0
  for action in 0.1 * actions:
    error, reward_error, observ = compare(action)
    assert error[13:27].max() <= 5e-2 and error[27:].mean() <= 0.05, error
    assert reward_error <= 1e-2
    touched = max(touched, np.abs(observ[27:]).max())
  assert touched > 0.5   # Contact forces were compared, not zeros.
  native.close()


def test_time_limits_truncate_falls_terminate_and_resets_are_explicit():
  env = mjx_env.MjxEnv('InvertedPendulum-v5', 2, seeds=[5, 6], max_length=8)
  init, reset, step = jax.jit(env.init), jax.jit(env.reset), jax.jit(env.step)
  state = init(jax.random.PRNGKey(0))
  assert state.done.all()   # Nothing resets before the first explicit reset.
  state = reset(state, jnp.ones(2, bool), jax.random.PRNGKey(1))
  first = np.asarray(state.observ)
  assert not np.allclose(first[0], first[1]) and np.abs(first).max() <= 0.01
  again = reset(init(jax.random.PRNGKey(9)), jnp.ones(2, bool), jax.random.PRNGKey(2))
  np.testing.assert_array_equal(again.observ, first)   # Seeded first episodes replay.
  push = jnp.asarray([[0.0], [3.0]])   # Agent 1 pushes the cart hard: the pole falls.
  ended = np.zeros(2, bool)
  for t in range(8):   # Agent 0 balances for 8 steps: cut by the time limit.
    state = step(state, push, jax.random.PRNGKey(t))
    if state.terminated[1] and not ended[1]:
      assert not state.truncated[1] and float(state.reward[1]) == 0.0
      ended[1] = True
    assert not state.terminated[0] and bool(state.truncated[0]) == (t == 7)
  assert ended[1] and bool(state.truncated[0]) and not bool(state.terminated[0])
  kept = np.asarray(state.observ[0])
  state = reset(state, jnp.asarray([False, True]), jax.random.PRNGKey(3))
  np.testing.assert_array_equal(state.observ[0], kept)   # Only the masked agent reset.
  assert not bool(state.done[1]) and bool(state.done[0])


def test_unknown_tasks_and_a_missing_extra_are_named():
  config = configs.get('ant_mjx')
  with config.unlocked:
    config.env = 'Swimmer-v5'
  with pytest.raises(ConfigError, match="no task 'Swimmer-v5'. Known: Ant-v5"):
    build.train_env(config)
  assert configs.get('ant_mjx').num_agents == configs.get('ant').num_agents


@pytest.mark.parametrize('name, size', [('ant_mjx', 105), ('humanoid_mjx', 348)])
def test_the_mjx_configs_build_gymnasiums_observations(name, size):
  """Their envs, eval envs and PPO build (stepping them compiles for a minute:
  the Ant step is checked above, the learning loop on InvertedPendulum below)."""
  config = configs.get(name)
  env, evaluation = build.train_env(config), build.eval_env(config)
  assert env.spec.observ_shape == (size,) == evaluation.spec.observ_shape
  assert env.num_agents == config.num_agents and build.episode_limit(config, evaluation) == 1000
  from agents.run.policy import env_spec   # What visualize and load_policy use.
  assert env_spec(config).observ_shape == (size,)
  assert build.algorithm(config, env.spec, configs.catalog()) is not None


@pytest.mark.timeout(400)
def test_inverted_pendulum_learns_with_its_physics_in_the_program(tmp_path):
  assert train.main(['--logdir', str(tmp_path), '--config', 'inverted_pendulum_mjx',
                     '--timestamp', 'run', '--set', 'steps=16384',
                     '--set', 'eval_every=16384', '--set', 'eval_agents=4',
                     '--set', 'anneal_learning_rate=False']) == 0
  with open(tmp_path / 'run-inverted_pendulum_mjx' / 'metrics.jsonl') as stream:
    rows = [json.loads(line) for line in stream]
  evaluation = [row for row in rows if row['phase'] == 'eval'][-1]
  # A random policy balances ~5 steps; 16k steps of PPO reach ~1000.
  assert evaluation['episodes'] >= 4 and evaluation['mean_score'] >= 500
  # visualize renders the policy on Gymnasium's env of the task (MJX renders no frames).
  outdir = tmp_path / 'videos'
  assert visualize.main(['--logdir', str(tmp_path / 'run-inverted_pendulum_mjx'),
                         '--outdir', str(outdir), '--num_episodes', '1',
                         '--max_frames', '20', '--format', 'gif']) == 0
  stats = json.loads((outdir / 'stats.json').read_text())
  assert stats['lengths'][0] >= 100   # It balances there too.
