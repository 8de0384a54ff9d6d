"""MJX locomotion on an accelerator: agents' `ant_mjx` / `humanoid_mjx` against
Brax's PPO on the same device and the same PPO settings.

    pip install -e '.[bench]'
    python bench/accelerator.py --task ant                 # on a GPU: Brax's ant settings
    python bench/accelerator.py --task ant --smoke         # any machine: tiny, checks the wiring

Both learners get Brax's published PPO settings for the task (Brax's
`ppo` README / MuJoCo Playground): for ant 4,096 envs, unrolls of 5 steps,
batches of 2,048 x 32 minibatches (327,680 env-steps per update), 4 epochs,
discount 0.97, learning rate 3e-4, entropy bonus 0.01, reward scaling 10; and
the same networks (agents' 64-64 MLPs). agents collects the same
327,680 env-steps per update as 4,096 agents x 80 steps. The tasks differ:
agents runs Gymnasium's v5 Ant (obs 105, contact forces included), Brax its
own MJX ant (obs 27), so returns are each one's own; the target return is
the same number. Each learner runs in its own process, one after the other.

Reported per learner: training env-steps/s (compile excluded where the
learner says it: agents' train_time; Brax's times between progress calls
after the first), wall seconds to the first evaluation at or above
--target, the last evaluation, and the process wall time. Last line: one
JSON object. On a CPU, MJX is slow (ant: ~1.4k env-steps/s at batch 128 on
2 cores) and its batch of 1,024 was seen to freeze jax 0.10.2: use --smoke.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

# Brax's PPO settings (brax/training/agents/ppo README; playground's locomotion).
SETTINGS = {
    'ant': dict(config='ant_mjx', brax_env='ant', num_envs=4096, unroll_length=5,
                batch_size=2048, num_minibatches=32, num_updates_per_batch=4,
                discounting=0.97, learning_rate=3e-4, entropy_cost=1e-2,
                reward_scaling=10.0, num_timesteps=50_000_000, num_evals=10),
    'humanoid': dict(config='humanoid_mjx', brax_env='humanoid', num_envs=2048,
                     unroll_length=10, batch_size=1024, num_minibatches=32,
                     num_updates_per_batch=8, discounting=0.97, learning_rate=3e-4,
                     entropy_cost=1e-3, reward_scaling=0.1, num_timesteps=50_000_000,
                     num_evals=10),
}
SMOKE = dict(num_envs=8, unroll_length=16, batch_size=8, num_minibatches=2,
             num_updates_per_batch=1, num_timesteps=2048, num_evals=2)


def agents_overrides(settings: dict) -> list[str]:
  """agents' keys for Brax's settings: the same env-steps per update."""
  per_update = settings['batch_size'] * settings['num_minibatches'] * settings['unroll_length']
  values = dict(
      num_agents=settings['num_envs'], update_every=per_update // settings['num_envs'],
      num_minibatches=settings['num_minibatches'],
      update_epochs=settings['num_updates_per_batch'], discount=settings['discounting'],
      learning_rate=settings['learning_rate'], entropy_coef=settings['entropy_cost'],
      steps=settings['num_timesteps'], eval_agents=min(128, settings['num_envs']),
      eval_every=settings['num_timesteps'] // settings['num_evals'],
      anneal_learning_rate=False, stagger=False)
  return [f'--set={key}={value}' for key, value in values.items()]


def run_agents(settings: dict, logdir: str, target: float) -> dict:
  start = time.time()
  subprocess.run([sys.executable, '-m', 'agents.scripts.train', '--logdir', logdir,
                  '--config', settings['config'], '--timestamp', 'bench', '--quiet',
                  *agents_overrides(settings)], check=True, cwd=logdir)
  wall = time.time() - start
  path = os.path.join(logdir, f"bench-{settings['config']}", 'metrics.jsonl')
  with open(path) as stream:
    reports = [json.loads(line) for line in stream]
  train = [r for r in reports if r['phase'] == 'train']
  evals = [r for r in reports if r['phase'] == 'eval']
  reached = next((r for r in evals if r['mean_score'] >= target), None)
  return {'learner': 'agents', 'steps_per_s': train[-1]['step'] / train[-1]['train_time'],
          'compile_s': reports[-1]['compile_time'],
          'wall_s_to_target': reached['time'] if reached else None,
          'final_eval': evals[-1]['mean_score'], 'process_wall_s': wall}


BRAX_PROGRAM = r'''
import functools, json, sys, time
import jax, jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec
def _stacked(x, devices):   # JAX's drop-in for the removed jax.device_put_replicated.
  sharding = NamedSharding(Mesh(devices, ('d',)), PartitionSpec('d'))
  return jax.device_put(jax.tree.map(lambda a: jnp.stack([a] * len(devices)), x), sharding)
def _sharded(xs, devices):  # ... and for jax.device_put_sharded.
  sharding = NamedSharding(Mesh(devices, ('d',)), PartitionSpec('d'))
  return jax.device_put(jax.tree.map(lambda *a: jnp.stack(a), *xs), sharding)
jax.device_put_replicated, jax.device_put_sharded = _stacked, _sharded   # brax 0.14, jax 0.10
from brax import envs
from brax.training.agents.ppo import networks, train as ppo
settings = json.loads(sys.argv[1])
env = envs.get_environment(settings.pop('brax_env'), backend='mjx')
settings.pop('config')
points, start = [], time.time()
def progress(step, metrics):
  points.append((time.time() - start, int(step), float(metrics['eval/episode_reward'])))
ppo.train(environment=env, episode_length=1000, normalize_observations=True,
          action_repeat=1, seed=0, progress_fn=progress,
          network_factory=functools.partial(networks.make_ppo_networks,
              policy_hidden_layer_sizes=(64, 64), value_hidden_layer_sizes=(64, 64)),
          **settings)
print(json.dumps(points))
'''


def run_brax(settings: dict, target: float) -> dict:
  start = time.time()
  result = subprocess.run([sys.executable, '-c', BRAX_PROGRAM, json.dumps(settings)],
                          check=True, capture_output=True, text=True)
  wall = time.time() - start
  points = json.loads(result.stdout.strip().splitlines()[-1])
  # The first progress call (step 0) follows the compile; rates start there.
  (t0, s0, _), (t1, s1, _) = points[0], points[-1]
  reached = next((t for t, _, score in points if score >= target), None)
  return {'learner': 'brax', 'steps_per_s': (s1 - s0) / (t1 - t0) if t1 > t0 else None,
          'compile_s': t0, 'wall_s_to_target': reached,
          'final_eval': points[-1][2], 'process_wall_s': wall}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--task', choices=sorted(SETTINGS), default='ant')
  parser.add_argument('--target', type=float, default=3000.0,
                      help='The return whose first reach is timed.')
  parser.add_argument('--learners', nargs='+', choices=('agents', 'brax'),
                      default=['agents', 'brax'])
  parser.add_argument('--smoke', action='store_true',
                      help='Tiny settings: checks that both learners run (CPU).')
  args = parser.parse_args()
  settings = dict(SETTINGS[args.task], **(SMOKE if args.smoke else {}))
  import jax
  device = f'{jax.default_backend()} ({jax.devices()[0].device_kind})'
  rows = []
  with tempfile.TemporaryDirectory() as logdir:
    for learner in args.learners:
      row = (run_agents(settings, logdir, args.target) if learner == 'agents'
             else run_brax(settings, args.target))
      rows.append(row)
      rate = f"{row['steps_per_s']:,.0f}" if row['steps_per_s'] else '-'
      reach = (f"{row['wall_s_to_target']:.0f} s" if row['wall_s_to_target'] is not None
               else 'not reached')
      print(f"{learner:6s} {args.task}: {rate} env-steps/s, compile {row['compile_s']:.0f} s, "
            f"{args.target:g} {reach}, final eval {row['final_eval']:.1f}, process "
            f"{row['process_wall_s']:.0f} s", flush=True)
  print(json.dumps({'task': args.task, 'device': device, 'smoke': args.smoke,
                    'settings': settings, 'rows': rows}))


if __name__ == '__main__':
  main()
