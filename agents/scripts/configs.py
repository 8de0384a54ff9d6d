"""Named experiment configurations: task, algorithm and hyper-parameters.

Each config is a function that builds on `default()` and returns a locked
AttrDict, so that an experiment is a few readable lines. The first line of a
config's docstring is what `train --list` shows.
"""

from __future__ import annotations

from typing import Callable

from agents.parts.attr_dict import AttrDict
from agents.run.catalog import Catalog
from agents.errors import ConfigError  # noqa: F401  (configs.ConfigError, as before)


def default() -> AttrDict:
  """BatchPPO defaults: PPO with a feed-forward Gaussian policy."""
  return AttrDict(
      seed=0,                      # Seeds parameters, envs and sampling.
      env='Pendulum-v1',           # Gymnasium id, module:Name, or a JAX env (family:Name).
      env_backend='auto',          # auto (JAX envs: jax), gymnasium, jax, envpool, gymnax, mjx.
      opponent='random',           # Pgx games: the other seat's policy, random or module:function.
      max_length=None,             # Cap on episode length; None: the env's own.
      observ_keep=None,            # Observation entries agents see (partial view); None: all.
      num_agents=32,               # Envs stepped as one training batch.
      env_processes=False,         # Step the training envs in worker processes.
      eval_processes=False,        # Step the evaluation envs there too (slow envs).
      process_backend='worker',    # worker (envs per process), process (one each) or ray.
      ray_address=None,            # process_backend=ray: the cluster; None: start Ray here.
      env_threads=0,               # envpool: threads stepping the batch; 0: EnvPool's choice.
      stagger=True,                # Cut each agent's first episode at a random length.
      devices=None,                # gymnax/mjx: devices the batch is split over; None: all.
      cpu_threads=1,               # XLA:CPU threads, one device: 1 for MLPs, None (all) for CNNs.
      # Training and evaluation schedule (env-steps, summed over the batch).
      steps=200_000,               # Training budget.
      eval_every=16_384,           # Training steps between evaluations.
      eval_agents=10,              # Evaluation episodes run side by side.
      eval_seed=10_000,            # Evaluation episode i resets with seed eval_seed + i.
      eval_steps=None,             # None: one episode per eval agent; N: every episode in N env-steps.
      report_every=4_096,          # Training steps between progress reports.
      log_every=16_384,            # Training steps between metric writes.
      checkpoint_every=32_768,     # Training steps between checkpoints.
      stop_score=None,             # Stop at the first eval scoring at least this; None: never.
      track=None,                  # Also log to wandb or mlflow (their extras); None: off.
      network='feed_forward',      # The network (head from the action space): scripts/networks.py.
      policy_layers=[64, 64],      # Hidden layer sizes of the policy (tanh).
      value_layers=[64, 64],       # Hidden layer sizes of the separate value network.
      init_std=1.0,                # Initial std of the Gaussian policy (actions in [-1, 1]).
      cnn='nature',                # Image torso: nature (Nature-CNN), impala (ResNet), flat.
      state_size=64,               # GRU size of recurrent networks.
      chunk_length=32,             # Steps per GRU training chunk (divides update_every).
      update_every=128,            # PPO: steps per agent in a rollout before each update.
      rollouts_per_call=None,      # Rollouts + updates per compiled call; None: auto.
      update_epochs=10,            # Passes over each rollout.
      num_minibatches=32,          # Minibatches per pass.
      learning_rate=1e-3,          # Adam's step size (policy; value too unless set below).
      value_learning_rate=None,    # Value network's rate; None: learning_rate.
      anneal_learning_rate=False,  # Decay linearly to 0 at `steps` (resumes stretch the rest).
      max_grad_norm=0.5,           # Clip of each network's gradient norm; 0: off.
      discount=0.99,               # Reward discount per step, in (0, 1].
      lambda_=0.95,                # GAE lambda.
      objective='clip',            # clip (clipped surrogate) or kl_penalty (BatchPPO).
      clip_epsilon=0.2,            # clip: the probability ratio is clipped to 1 +- epsilon.
      kl_target=1e-2,              # kl_penalty: target KL per update.
      kl_cutoff_factor=2.0,        # kl_penalty: KL beyond factor x target is punished hard.
      kl_cutoff_coef=1000.0,       # kl_penalty: weight of the squared excess beyond the cutoff.
      kl_init_coef=1.0,            # kl_penalty: initial coefficient of the KL penalty.
      kl_min_coef=1e-3,            # kl_penalty: floor of the adaptive coefficient.
      value_coef=0.5,              # Weight of the value loss in the total loss.
      entropy_coef=0.0,            # Weight of the entropy bonus.
      normalize_observ=True,       # Streaming mean/std normalization of observations.
      normalize_reward=True,       # Scale rewards by their running std.
      observ_clip=5.0,             # Normalized observations are clipped to +-observ_clip.
      reward_clip=None,            # Clip of scaled rewards; None: no clip.
  )


def _variant(base: AttrDict, **changes: object) -> AttrDict:
  """`base` with some keys changed (each must exist), locked again."""
  with base.unlocked:
    for key, value in changes.items():
      if key not in base:
        raise KeyError(f'{key} is not a config key')
      base[key] = value
  return base


def pendulum() -> AttrDict:
  """Pendulum-v1 (Gymnasium, host envs) with PPO; solves (eval >= -200) in ~10 s."""
  config = default()
  with config.unlocked:
    config.env = 'Pendulum-v1'
    # 0.95 over 0.9: final evals -125 to -140 against -144 to -245 (6 seeds,
    # in-graph), -125 to -126 against -147 to -162 on the host (3 seeds).
    config.discount = 0.95
    config.steps = 131_072
    # The update is compute-bound on a 2-core CPU (fwd+bwd of two 64-64 MLPs per
    # sample and epoch): 10 epochs cap training near 65k env-steps/s, 4 epochs
    # reach ~120k in-graph and learn as well per second.
    config.update_epochs = 4
    config.anneal_learning_rate = True   # Final evals within ~15 of each other.
  return config


def pendulum_jax() -> AttrDict:
  """Pendulum-v1 from gymnax, compiled with the agent into one program."""
  return _variant(pendulum(), env_backend='gymnax')


def pendulum_kl() -> AttrDict:
  """Pendulum-v1 with BatchPPO's adaptive KL penalty objective."""
  return _variant(pendulum(), objective='kl_penalty')


def pendulum_recurrent() -> AttrDict:
  """Pendulum-v1 with a GRU policy (chunks of 32 steps): eval -178 (median of 3), 131k steps."""
  return _variant(pendulum(), network='recurrent', policy_layers=[64])


def pendulum_partial() -> AttrDict:
  """Pendulum-v1 without its angular velocity, feed-forward: stuck near -886 (median of 3)."""
  config = pendulum()
  with config.unlocked:
    config.observ_keep = [0, 1]   # cos and sin of the angle; the velocity is hidden.
    config.steps = 262_144
  return config


def pendulum_partial_recurrent() -> AttrDict:
  """Pendulum-v1 without its angular velocity, GRU policy: eval -258 (median of 3), 262k steps."""
  return _variant(pendulum_partial(), network='recurrent', policy_layers=[64])


def cartpole() -> AttrDict:
  """CartPole-v1 (Gymnasium) with a categorical policy; reaches 500 in ~1 min."""
  return _variant(default(), env='CartPole-v1',
                  num_agents=16,
                  steps=100_000,
                  eval_every=20_000,
                  eval_steps=5_000,
                  discount=0.99,
                  learning_rate=2.5e-4 * 4,
                  num_minibatches=8,
                  update_epochs=4,
                  normalize_reward=False,
                  stagger=False)


def cartpole_jax() -> AttrDict:
  """CartPole-v1 from gymnax, compiled into one program."""
  return _variant(cartpole(), env_backend='gymnax')


def minatar() -> AttrDict:
  """The base of the MinAtar configs (gymnax, compiled; not a task of its own).

  PureJaxRL's MinAtar PPO settings: 64 envs x 128 steps, 4 epochs of 8
  minibatches, learning rate 5e-4 annealed, entropy bonus 0.01, 10M steps.
  Observations are 10x10xC images: the CNN torso (MinAtar's one convolution).
  """
  config = cartpole_jax()
  with config.unlocked:
    config.update(num_agents=64, update_every=128, update_epochs=4, num_minibatches=8,
                  learning_rate=5e-4, anneal_learning_rate=True, entropy_coef=0.01,
                  steps=10_000_000, eval_every=500_000, eval_agents=32, eval_steps=None,
                  cpu_threads=None)   # The CNN's update gains from every core.
  return config


def breakout_minatar() -> AttrDict:
  """MinAtar Breakout (gymnax), fully compiled: eval 45 (median of 3) at 10M steps."""
  return _variant(minatar(), env='Breakout-MinAtar')


def asterix_minatar() -> AttrDict:
  """MinAtar Asterix (gymnax), fully compiled: eval 48.6 (median of 3) at 10M steps."""
  return _variant(minatar(), env='Asterix-MinAtar')


def atari() -> AttrDict:
  """The base of the Atari configs (EnvPool; not a task of its own).

  CleanRL's EnvPool Atari PPO settings: 8 envs x 128 steps, 4 epochs of 4
  minibatches, learning rate 2.5e-4 annealed, clip 0.1, entropy bonus 0.01,
  rewards clipped (by EnvPool) and not scaled; 84x84x4 grey frames read by one
  Nature-CNN shared by policy and value (feed_forward_shared, as CleanRL's
  agent: 1.5x the env-steps/s of two torsos here), linear heads on its 512
  features. 10M frames = 2.5M agent
  steps. Evaluation: whole games, unclipped score, on Gymnasium's ALE env
  (envs/atari.py; needs the `atari` extra).
  """
  config = cartpole()
  with config.unlocked:
    config.update(env_backend='envpool', num_agents=8, update_every=128, update_epochs=4,
                  num_minibatches=4, learning_rate=2.5e-4, anneal_learning_rate=True,
                  clip_epsilon=0.1, entropy_coef=0.01, normalize_reward=False,
                  policy_layers=[], value_layers=[], network='feed_forward_shared',
                  steps=2_500_000,
                  eval_every=250_000, eval_agents=8, eval_steps=None,
                  checkpoint_every=65_536, stagger=False,
                  cpu_threads=None)   # The CNN's update: 1.4x faster on two cores than one.
  return config


def pong() -> AttrDict:
  """Atari Pong (EnvPool, 84x84x4 frames, CNN); evaluated on whole games.

  Seed 0, 10M frames: final eval 20.9 on the 8 evaluation games (20.7 over
  the 120 games of the earlier window count), 16.9-20.7 from 6M frames on;
  ~2 h of training on a 2-core CPU (bench/README.md).
  """
  return _variant(atari(), env='Pong-v5')


def breakout() -> AttrDict:
  """Atari Breakout (EnvPool, 84x84x4 frames, CNN); evaluated on whole games."""
  return _variant(atari(), env='Breakout-v5')


def locomotion() -> AttrDict:
  """The base of the MuJoCo locomotion configs (not a task of its own).

  Chosen by measurement (bench/README.md): 16 envs x 256 steps per update,
  10 epochs of 32 minibatches, initial std 0.6, and the learning rate annealed
  to 0 (hopper 1,509 -> 2,516, ant 1,167 -> 2,069 on seed 0; an initial std
  of 1.0 hurt ant and cheetah).
  """
  config = default()
  with config.unlocked:
    config.env_backend = 'envpool'   # Falls back to Gymnasium workers, saying so.
    config.env_processes = True      # For that fallback.
    config.num_agents = 16
    config.steps = 1_000_000
    config.eval_every = 100_000
    config.discount = 0.99
    config.learning_rate = 3e-4
    config.update_every = 256
    config.init_std = 0.6
    config.anneal_learning_rate = True
    config.stagger = False
  return config


def reacher() -> AttrDict:
  """Reacher-v5 (MuJoCo): eval -3.7 (median of 3 seeds) after 1M steps, ~40 s."""
  return _variant(locomotion(), env='Reacher-v5')


def cheetah() -> AttrDict:
  """HalfCheetah-v5 (MuJoCo): eval 6,102 (median of 3 seeds) after 1M steps, ~1 min."""
  config = locomotion()
  with config.unlocked:
    config.env = 'HalfCheetah-v5'
    config.anneal_learning_rate = False  # Kept improving at a constant rate (6,875
                                         # vs 4,952 annealed, seed 0).
  return config


def hopper() -> AttrDict:
  """Hopper-v5 (MuJoCo, ends by falling): eval 3,103 (median of 3) after 1M steps, ~80 s."""
  config = locomotion()
  with config.unlocked:
    config.env = 'Hopper-v5'
    config.discount = 0.995   # Values reach further (3,101 vs 2,516 at 0.99, seed 0).
  return config


def walker() -> AttrDict:
  """Walker2d-v5 (MuJoCo, ends by falling): eval 4,270 (median of 3) after 1M steps, ~2 min."""
  return _variant(locomotion(), env='Walker2d-v5')


def ant() -> AttrDict:
  """Ant-v5 (MuJoCo, ends by falling): eval 2,069 (median of 3) after 1M steps, ~2.5 min."""
  return _variant(locomotion(), env='Ant-v5')


def humanoid() -> AttrDict:
  """Humanoid-v5 (MuJoCo, ends by falling), 3M steps: eval 1,100 (one seed), ~10 min."""
  config = locomotion()
  with config.unlocked:
    config.env = 'Humanoid-v5'
    config.steps = 3_000_000
    config.eval_every = 250_000
    config.anneal_learning_rate = False  # 1,100 at 3M vs 869 annealed (seed 0).
  return config


def mjx(task: Callable[[], AttrDict]) -> AttrDict:
  """A locomotion config with its physics stepped by MJX, inside the compiled
  program (the `mjx` extra): Gymnasium's v5 task, the same settings. Pays on
  an accelerator with a large batch (--set num_agents=2048, bench/accelerator.py);
  on a CPU, EnvPool's native MuJoCo is several times faster."""
  return _variant(task(), env_backend='mjx', env_processes=False)


def ant_mjx() -> AttrDict:
  """Ant-v5 stepped by MJX in the compiled program (accelerators; needs the mjx extra)."""
  return mjx(ant)


def humanoid_mjx() -> AttrDict:
  """Humanoid-v5 stepped by MJX in the compiled program (accelerators; needs the mjx extra)."""
  return mjx(humanoid)


def inverted_pendulum_mjx() -> AttrDict:
  """InvertedPendulum-v5 stepped by MJX: the smallest MJX task, learns in ~50k steps."""
  return _variant(mjx(reacher), env='InvertedPendulum-v5', steps=65_536,
                  eval_every=16_384, num_agents=8, update_every=128)


CONFIGS: dict[str, Callable[[], AttrDict]] = {
    'default': default,
    'pendulum': pendulum,
    'pendulum_jax': pendulum_jax,
    'pendulum_kl': pendulum_kl,
    'pendulum_recurrent': pendulum_recurrent,
    'pendulum_partial': pendulum_partial,
    'pendulum_partial_recurrent': pendulum_partial_recurrent,
    'cartpole': cartpole,
    'cartpole_jax': cartpole_jax,
    'breakout_minatar': breakout_minatar,
    'asterix_minatar': asterix_minatar,
    'pong': pong,
    'breakout': breakout,
    'reacher': reacher,
    'cheetah': cheetah,
    'walker': walker,
    'hopper': hopper,
    'ant': ant,
    'humanoid': humanoid,
    'ant_mjx': ant_mjx,
    'humanoid_mjx': humanoid_mjx,
    'inverted_pendulum_mjx': inverted_pendulum_mjx,
}

# JAX envs of other families (imported here, at the end: they build on the configs above).
from agents.scripts import jax_env_configs  # noqa: E402
CONFIGS.update(jax_env_configs.CONFIGS)

# Other names that users of earlier versions know; `--list` shows each task once.
ALIASES = {'half_cheetah': 'cheetah'}


def catalog() -> Catalog:
  """These configs and the networks of scripts/networks.py, for the run layer."""
  from agents.scripts import networks
  return Catalog(configs=CONFIGS, default=default, networks=networks.NETWORKS,
                 aliases=ALIASES, summary=networks.summary)


def get(name: str) -> AttrDict:
  """The config called `name`, or a ConfigError listing the known ones."""
  return Catalog(CONFIGS, default, {}, ALIASES).config(name)


def describe() -> list[tuple[str, str]]:
  """(name, one-line description) of every config, for --list."""
  return Catalog(CONFIGS, default, {}, ALIASES).describe()
