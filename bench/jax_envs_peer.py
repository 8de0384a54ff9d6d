"""Env-steps/s of agents' fused path on JAX envs beside a PureJaxRL-style PPO on the same env.

    python bench/jax_envs_peer.py --task navix --reps 2
    python bench/jax_envs_peer.py --task brax --reps 2 --steps 262144

The peer is PureJaxRL's PPO as its `ppo.py` / `ppo_continuous_action.py` are
built (written here in their structure, not copied): `make_train(config)`
returns one pure `train(key)`; a `lax.scan` over updates, each a scan of
`env_step` over the rollout (the env's own auto-reset `step`, vmapped), GAE,
and `update_epoch` / `update_minibatch` scans; separate 64-64 tanh actor and
critic MLPs, Adam with eps 1e-5, gradient clip 0.5, the learning rate annealed.
It is lowered and compiled first (`compile_s`), then run once: `train_s` and
`env_steps_per_s` exclude compilation, as agents' progress-bar rate does
(`metrics.jsonl`'s last training row: steps / train_time). Same settings on both
sides: the task's agents config (envs, rollout, epochs, minibatches, layers).
Each process runs alone, alternating agents / peer per repetition; last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

TASKS = {
    # task: (agents config, env name, discrete)
    'navix': ('navix_empty', 'navix:Navix-Empty-5x5-v0', True),
    'brax': ('inverted_pendulum_brax', 'brax:inverted_pendulum', False),
}


def run_agents(config: str, steps: int) -> dict:
  """One `agents.scripts.train` process; its training rate from metrics.jsonl."""
  with tempfile.TemporaryDirectory() as logdir:
    start = time.time()
    subprocess.run([sys.executable, '-m', 'agents.scripts.train', '--logdir', logdir,
                    '--config', config, '--timestamp', 'b', '--quiet',
                    '--set', f'steps={steps}', '--set', f'eval_every={steps}',
                    '--set', f'checkpoint_every={steps}'],
                   check=True, stdout=subprocess.DEVNULL, cwd=logdir)
    wall = time.time() - start
    with open(os.path.join(logdir, f'b-{config}', 'metrics.jsonl')) as stream:
      rows = [json.loads(line) for line in stream]
  train = [row for row in rows if row['phase'] == 'train'][-1]
  return dict(impl='agents', env_steps=train['step'], train_s=train['train_time'],
              env_steps_per_s=train['step'] / train['train_time'],
              compile_s=train.get('compile_time'), wall_s=wall)


def run_peer(task: str, steps: int) -> dict:
  """The peer in a fresh process (this file with --peer)."""
  start = time.time()
  result = subprocess.run([sys.executable, __file__, '--peer', '--task', task,
                           '--steps', str(steps)], check=True, capture_output=True, text=True)
  row = json.loads(result.stdout.strip().splitlines()[-1])
  row['wall_s'] = time.time() - start
  return row


def peer_main(task: str, steps: int) -> dict:
  """PureJaxRL-style PPO on the task's env, with the agents config's settings."""
  os.environ.setdefault('XLA_FLAGS', '')
  from agents.run import cpu_backend
  cpu_backend.start(threads=1)   # The same one compute thread agents' config uses.
  import jax
  from agents.scripts import configs
  from bench import purejaxrl_style
  name, env_name, discrete = TASKS[task]
  config = configs.get(name)
  settings = purejaxrl_style.Settings(
      num_envs=config.num_agents, num_steps=config.update_every,
      total_steps=steps, update_epochs=config.update_epochs,
      num_minibatches=config.num_minibatches, learning_rate=config.learning_rate,
      gamma=config.discount, gae_lambda=config.lambda_, clip=config.clip_epsilon,
      entropy_coef=config.entropy_coef, value_coef=config.value_coef,
      max_grad_norm=config.max_grad_norm, layers=tuple(config.policy_layers),
      discrete=discrete)
  env = purejaxrl_style.make_env(env_name)
  train = jax.jit(purejaxrl_style.make_train(settings, env))
  key = jax.random.PRNGKey(0)
  start = time.time()
  compiled = train.lower(key).compile()
  compile_s = time.time() - start
  start = time.time()
  out = compiled(key)
  jax.block_until_ready(out)
  train_s = time.time() - start
  done_steps = settings.num_updates * settings.num_envs * settings.num_steps
  return dict(impl='purejaxrl_style', env_steps=done_steps, train_s=train_s,
              env_steps_per_s=done_steps / train_s, compile_s=compile_s,
              final_train_reward=float(out))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--task', choices=sorted(TASKS), default='navix')
  parser.add_argument('--steps', type=int, default=262_144)
  parser.add_argument('--reps', type=int, default=2)
  parser.add_argument('--peer', action='store_true', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.peer:
    print(json.dumps(peer_main(args.task, args.steps)))
    return
  rows = []
  for rep in range(args.reps):
    for run in (lambda: run_agents(TASKS[args.task][0], args.steps),
                lambda: run_peer(args.task, args.steps)):
      row = dict(run(), rep=rep, task=args.task)
      rows.append(row)
      print(json.dumps(row), flush=True)
  rate = {impl: statistics.median(r['env_steps_per_s'] for r in rows if r['impl'] == impl)
          for impl in ('agents', 'purejaxrl_style')}
  ratios = [peer['env_steps_per_s'] / ours['env_steps_per_s']
            for ours, peer in zip(rows[::2], rows[1::2])]
  print(json.dumps(dict(task=args.task, steps=args.steps, median_env_steps_per_s=rate,
                        peer_over_agents=[round(r, 3) for r in ratios])))


if __name__ == '__main__':
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  main()
