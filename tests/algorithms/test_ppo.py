import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.run import build
from agents.scripts import configs
from agents.run import checkpoint
from agents.core import simulate
from agents.core.loop import Loop, Phase


def _tiny(name, **overrides):
  config = configs.get(name)
  with config.unlocked:
    config.update(num_agents=4, update_every=16, num_minibatches=4,
                  update_epochs=2, policy_layers=[16], value_layers=[16],
                  state_size=8, chunk_length=8, eval_agents=2, env_backend='gymnax')
    config.update(overrides)
  return config


def _train(config, steps, key=0):
  env = build.train_env(config)
  algorithm = build.algorithm(config, env.spec, configs.catalog())
  loop = Loop(algorithm, [Phase('train', env, steps, training=True,
                                steps_per_call=config.update_every)],
              jax.random.PRNGKey(key))
  loop.run(steps)
  return loop, algorithm


def _leaves_equal(a, b):
  leaves_a, tree_a = jax.tree_util.tree_flatten(a)
  leaves_b, tree_b = jax.tree_util.tree_flatten(b)
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_updates_change_parameters_and_normalizers():
  config = _tiny('pendulum')
  env = build.train_env(config)
  initial = build.algorithm(config, env.spec, configs.catalog()).init(
      jax.random.PRNGKey(0), env.spec, 4).learner
  loop, _ = _train(config, 4 * 16 * 3)
  learner = loop.learner
  assert int(learner.updates) == 3
  assert float(learner.observ_norm.count) == 4 * 16 * 3
  changed = jax.tree_util.tree_map(lambda a, b: bool(np.any(a != b)),
                                   initial.params, learner.params)
  assert all(jax.tree_util.tree_leaves(changed))
  metrics = loop.metrics('train')
  assert float(metrics['grad_norm']) > 0
  for name in ('loss', 'policy_loss', 'value_loss', 'kl', 'entropy', 'learning_rate'):
    assert np.isfinite(metrics[name]), name


def test_clip_objectives_kl_and_entropy_metrics_track_the_update():
  """The clip objective reports the KL and entropy its last epoch saw before
  each minibatch step (no pass after the update): near the exact values of
  the updated policy on the rollout, which the test computes by hand."""
  config = _tiny('pendulum', learning_rate=3e-3)
  env = build.train_env(config)
  algorithm = build.algorithm(config, env.spec, configs.catalog())
  state = algorithm.init(jax.random.PRNGKey(0), env.spec, config.num_agents)
  run = simulate.make_run(env, algorithm, training=True)
  sim = simulate.init_state(env, state, jax.random.PRNGKey(1))
  keys = jax.random.split(jax.random.PRNGKey(2), config.update_every)
  sim, _ = run(sim, keys)   # One rollout, then its update (the buffer stays).
  after = sim.algo
  assert int(after.learner.updates) == 1
  data = algorithm._prepare(state.learner, after.rollout, env.spec)
  policy, _, _ = algorithm.network.apply(after.learner.params, data.observ,
                                         data.first, data.start_state)
  exact_kl = float(data.policy.kl(policy).mean())
  exact_entropy = float(policy.entropy().mean())
  assert exact_kl > 1e-4   # The policy moved.
  assert 0.2 * exact_kl < float(after.metrics['kl']) < 2.0 * exact_kl
  assert abs(float(after.metrics['entropy']) - exact_entropy) < 0.05


def test_update_metrics_are_outside_the_checkpointed_learner():
  config = _tiny('pendulum')
  loop, _ = _train(config, 4 * 16)
  assert not hasattr(loop.learner, 'metrics')
  assert 'metrics' not in loop.state_dict()['learner'].__dataclass_fields__
  assert 'kl' in loop.metrics('train')


def test_checkpoint_round_trip_restores_the_saved_state(tmp_path):
  config = _tiny('pendulum')
  loop, _ = _train(config, 4 * 16 * 2)
  saved = loop.state_dict()
  checkpoint.save(str(tmp_path), loop.step, saved, config.to_yaml())
  fresh, _ = _train(config, 4 * 16, key=7)
  restored, config_yaml, step = checkpoint.load(
      checkpoint.latest(str(tmp_path)), fresh.state_dict())
  assert step == loop.step and 'Pendulum-v1' in config_yaml
  _leaves_equal(restored, jax.device_get(saved))


def test_kl_penalty_objective_adapts_its_coefficient_above_the_floor():
  config = _tiny('pendulum_kl', kl_init_coef=1.0, kl_min_coef=0.5)
  loop, _ = _train(config, 4 * 16 * 4)
  coef = float(loop.learner.kl_coef)
  assert coef != 1.0 and coef >= 0.5
  assert np.isfinite(float(loop.metrics()['kl']))


def test_recurrent_network_trains_on_pendulum_for_a_few_updates():
  config = _tiny('pendulum_recurrent', num_minibatches=2)
  loop, algorithm = _train(config, 4 * 16 * 3)
  assert algorithm.network.recurrent
  assert int(loop.learner.updates) == 3
  for name, value in loop.metrics().items():
    if np.ndim(value) == 0:
      assert np.isfinite(value), name


def test_categorical_policy_acts_in_the_discrete_space():
  config = _tiny('cartpole')
  loop, algorithm = _train(config, 4 * 16 * 2)
  assert int(loop.learner.updates) == 2
  metrics = loop.metrics()
  actions = np.asarray(metrics['action'])      # The rollout's sampled actions.
  assert actions.shape == (16, 4) and actions.dtype.kind == 'i'
  assert set(np.unique(actions)) == {0, 1}     # Both of CartPole's actions, nothing else.
  assert np.all(np.asarray(metrics['log_prob']) <= 0)
  assert 0 < float(metrics['entropy']) <= np.log(2) + 1e-6


def test_a_network_that_cannot_act_in_the_space_is_a_config_error():
  config = _tiny('pendulum', network='feed_forward_categorical')
  env = build.train_env(config)
  with pytest.raises(configs.ConfigError, match='Use network=feed_forward '):
    build.algorithm(config, env.spec, configs.catalog())


def test_ppo_learns_cartpole_past_a_threshold():
  """Regression net for the math: the whole pipeline must learn."""
  config = configs.get('cartpole_jax')
  with config.unlocked:
    config.steps = 49_152
  env = build.train_env(config)
  evaluation = build.eval_env(config)
  algorithm = build.algorithm(config, env.spec, configs.catalog())
  loop = Loop(algorithm, [
      Phase('train', env, config.steps, training=True,
            steps_per_call=config.update_every),
      Phase('eval', evaluation, 500 * evaluation.num_agents, training=False,
            steps_per_call=500)], jax.random.PRNGKey(0))
  reports = loop.run(config.steps)
  score = [r for r in reports if r.phase == 'eval'][-1].mean_score
  assert score >= 150, score


def test_annealing_continues_from_the_current_rate_when_steps_grow():
  """16 updates of 64 env-steps planned; halfway, the budget doubles: the rate
  goes on from where it was and reaches 0 at the new end, without a jump."""
  from agents.algorithms.ppo import PPO

  def scales(steps, learner, updates):
    config = _tiny('pendulum', steps=steps, anneal_learning_rate=True)
    env = build.train_env(config)
    ppo = PPO(config, configs.catalog().network(env.spec, config))
    used = []
    for _ in range(updates):
      scale, next_scale = ppo._lr_scales(learner, 64)
      used.append(float(scale))
      learner = learner.replace(lr_scale=next_scale, updates=learner.updates + 1)
    return used, learner

  config = _tiny('pendulum')
  env = build.train_env(config)
  learner = build.algorithm(config, env.spec, configs.catalog()).init(
      jax.random.PRNGKey(0), env.spec, 4).learner
  first, learner = scales(1024, learner, 8)
  np.testing.assert_allclose(first, 1 - np.arange(8) / 16, atol=1e-6)
  second, learner = scales(2048, learner, 24)
  assert second[0] == pytest.approx(0.5)          # No jump at the resume.
  np.testing.assert_allclose(np.diff(second), -0.5 / 24, atol=1e-6)
  assert float(learner.lr_scale) == pytest.approx(0.0, abs=1e-6)


def test_annealing_budgets_past_2_to_the_31_env_steps_neither_overflow_nor_jump():
  from agents.algorithms.ppo import PPO
  config = _tiny('pendulum', steps=3 * 2**31, anneal_learning_rate=True)
  env = build.train_env(config)
  ppo = PPO(config, configs.catalog().network(env.spec, config))
  learner = ppo.init(jax.random.PRNGKey(0), env.spec, 4).learner
  rollout = 2**12
  # Two thirds of the way, past 2**32 env-steps trained.
  learner = learner.replace(updates=jnp.asarray(2**32 // rollout, jnp.int32),
                            lr_scale=jnp.asarray(1 / 3, jnp.float32))
  scale, next_scale = jax.jit(ppo._lr_scales, static_argnums=1)(learner, rollout)
  left = 3 * 2**31 // rollout - 2**32 // rollout
  assert float(scale) == pytest.approx(1 / 3)
  assert float(next_scale) == pytest.approx(1 / 3 * (left - 1) / left, rel=1e-6)


def test_a_non_finite_update_is_not_applied_and_is_diagnosed():
  from agents.core.loop import TrainingDiverged
  config = _tiny('pendulum', learning_rate=1e9, max_grad_norm=0.0,
                 anneal_learning_rate=False)
  env = build.train_env(config)
  algorithm = build.algorithm(config, env.spec, configs.catalog())
  loop = Loop(algorithm, [Phase('train', env, 640, training=True,
                                steps_per_call=config.update_every)],
              jax.random.PRNGKey(0))
  initial = loop.learner
  with pytest.raises(TrainingDiverged, match='non-finite'):
    loop.run(640)
  assert 'the gradients' in algorithm.diagnose(loop.learner)
  # The failed update was not applied: the parameters are the last finite ones.
  _leaves_equal(loop.learner.params, initial.params)


def test_chunks_hold_consecutive_steps_of_one_agent_and_start_from_recorded_states():
  from agents.algorithms.ppo.ppo import Batch, chunk
  steps, batch, size = 8, 3, 2
  index = np.arange(steps * batch, dtype=np.float32).reshape(steps, batch)
  zeros = np.zeros((steps, batch), np.float32)
  data = Batch(observ=index[..., None], first=zeros > 0, action=index[..., None],
               log_prob=index, policy=index, advantage=index, returns=zeros,
               start_state=np.zeros((batch, size), np.float32),
               net_state=np.stack([index, -index], -1))
  sequences, start_state = chunk(data, 4)
  assert sequences.advantage.shape == (4, 2 * batch)
  for i in range(2):
    for b in range(batch):
      column = i * batch + b
      np.testing.assert_array_equal(sequences.advantage[:, column],
                                    index[4 * i:4 * i + 4, b])
      np.testing.assert_array_equal(start_state[column],
                                    [index[4 * i, b], -index[4 * i, b]])
  singles, _ = chunk(data, 1)   # Feed-forward: every step on its own.
  assert singles.advantage.shape == (1, steps * batch)


class MaskedBandit:
  """A JAX-native env with an action mask in its state: Discrete(4), a fresh
  mask each step (at least one valid action) as the observation's last 4
  entries, reward 1; `inner` counts each agent's invalid actions."""
  num_agents = 32

  def __init__(self):
    from agents.core.in_graph_env import EnvSpec
    self.spec = EnvSpec(observ_shape=(6,), action_shape=(), num_actions=4, mask_size=4)

  def _observe(self, key):
    mask = jax.random.bernoulli(key, 0.4, (self.num_agents, 4))
    mask = mask.at[:, 0].set(mask[:, 0] | ~mask.any(1))
    noise = jax.random.normal(jax.random.fold_in(key, 1), (self.num_agents, 2))
    return jnp.concatenate([noise, mask.astype(jnp.float32)], 1)

  def init(self, key):
    from agents.core import in_graph_env
    return in_graph_env.initial_state(self.spec, self.num_agents,
                                      jnp.zeros(self.num_agents, jnp.int32))

  def reset(self, state, mask, key):
    from agents.core import in_graph_env
    return in_graph_env.after_reset(state, mask, self._observe(key), state.inner)

  def step(self, state, action, key):
    valid = jnp.take_along_axis(state.observ[:, 2:], action[:, None], 1)[:, 0] > 0.5
    done = jnp.zeros(self.num_agents, bool)
    return state.replace(observ=self._observe(key), action=action,
                         reward=jnp.ones(self.num_agents), terminated=done,
                         truncated=done, done=done,
                         inner=state.inner + (~valid).astype(jnp.int32))


def test_an_in_graph_env_with_a_mask_in_its_state_gets_only_valid_actions():
  from agents.core import simulate
  env = MaskedBandit()
  config = _tiny('cartpole', num_agents=env.num_agents)
  algorithm = build.algorithm(config, env.spec, configs.catalog())
  state = simulate.init_state(env, algorithm.init(jax.random.PRNGKey(0), env.spec, 32),
                              jax.random.PRNGKey(1))
  run = simulate.make_run(env, algorithm, training=True)
  state, _ = run(state, jax.random.split(jax.random.PRNGKey(2), 64))   # 4 updates.
  assert int(state.algo.learner.updates) == 4
  assert int(state.env.inner.sum()) == 0                    # 2,048 actions, none invalid.
  eval_run = simulate.make_run(env, algorithm, training=False)
  state, _ = eval_run(state, jax.random.split(jax.random.PRNGKey(3), 16))
  assert int(state.env.inner.sum()) == 0
  # Without the mask the same policy does take invalid actions (the test can fail).
  blind = MaskedBandit()
  from dataclasses import replace
  blind.spec = replace(env.spec, mask_size=0)
  algorithm = build.algorithm(config, blind.spec, configs.catalog())
  state = simulate.init_state(blind, algorithm.init(jax.random.PRNGKey(0), blind.spec, 32),
                              jax.random.PRNGKey(1))
  state, _ = simulate.make_run(blind, algorithm, training=True)(
      state, jax.random.split(jax.random.PRNGKey(2), 16))
  assert int(state.env.inner.sum()) > 100
