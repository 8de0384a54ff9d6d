"""The best checkpoint by evaluation score, stop_score, and on_report stopping a run."""

import json
import os

import pytest

import agents
from agents.run import best, checkpoint

TINY = dict(num_agents=4, update_every=16, num_minibatches=2, update_epochs=1,
            policy_layers=[16], value_layers=[16], eval_agents=3, report_every=64,
            eval_every=128, checkpoint_every=128)


def _evals(run_dir):
  with open(os.path.join(run_dir, 'metrics.jsonl')) as stream:
    return [r for r in map(json.loads, stream) if r['phase'] == 'eval']


def test_best_holds_the_top_evaluation_and_a_resume_keeps_it_unless_beaten(tmp_path):
  run = agents.train('cartpole', logdir=str(tmp_path), timestamp='b', steps=768, **TINY)
  evals = _evals(run.run_dir)
  assert len(evals) == 6
  top = max(evals, key=lambda r: r['mean_score'])   # The first of equal tops.
  saved = best.path(os.path.join(run.run_dir, 'checkpoints'))
  assert saved == checkpoint.path_for(os.path.join(run.run_dir, 'checkpoints', 'best'),
                                      top['step'])
  assert len(os.listdir(os.path.dirname(saved))) == 1
  assert agents.load_policy(run.run_dir, checkpoint='best').step == top['step']
  # The rotating checkpoints are untouched: the newest three.
  steps = [s for s, _ in checkpoint.list_checkpoints(os.path.join(run.run_dir, 'checkpoints'))]
  assert steps == [512, 640, 768]
  run = agents.train('cartpole', logdir=str(tmp_path), timestamp='b', steps=1024, **TINY)
  evals = _evals(run.run_dir)
  resumed_top = max(evals, key=lambda r: r['mean_score'])
  assert agents.load_policy(run.run_dir, checkpoint='best').step == resumed_top['step']
  assert resumed_top['mean_score'] >= top['mean_score']


def test_stop_score_ends_the_run_at_the_first_eval_that_reaches_it(tmp_path):
  # Random cartpole play scores ~20: the first eval reaches 5, none 10,000.
  run = agents.train('cartpole', logdir=str(tmp_path), timestamp='s', steps=100_000,
                     stop_score=5, **TINY)
  evals = _evals(run.run_dir)
  assert [r['step'] for r in evals] == [128]
  assert run.message.startswith('Reached stop_score 5 at step 128: final eval mean score')
  assert checkpoint.latest(os.path.join(run.run_dir, 'checkpoints')).endswith(
      'ckpt-000000000128.msgpack')                   # A checkpoint at the stop.
  run = agents.train('cartpole', logdir=str(tmp_path), timestamp='n', steps=384,
                     stop_score=10_000, **TINY)
  assert len(_evals(run.run_dir)) == 3 and run.message.startswith('Done at step 384')


def test_on_report_returning_true_stops_the_run(tmp_path):
  seen = []

  def on_report(report):
    seen.append((report.phase, report.step))
    return report.step >= 192

  run = agents.train('cartpole', logdir=str(tmp_path), timestamp='o', steps=100_000,
                     on_report=on_report, **TINY)
  assert run.code == 0 and run.message.startswith('Stopped by on_report at step 192')
  assert seen[-1] == ('train', 192)
  assert checkpoint.latest(os.path.join(run.run_dir, 'checkpoints')).endswith('192.msgpack')


def test_best_before_any_evaluation_is_a_clear_error(tmp_path):
  run = agents.train('cartpole', logdir=str(tmp_path), timestamp='e', steps=64,
                     **dict(TINY, eval_every=10_000, checkpoint_every=64))
  os.remove(os.path.join(run.run_dir, 'checkpoints', 'best',
                         os.listdir(os.path.join(run.run_dir, 'checkpoints', 'best'))[0]))
  with pytest.raises(agents.PolicyLoadError, match='has no best checkpoint'):
    agents.load_policy(run.run_dir, checkpoint='best')


@pytest.mark.parametrize('value', ['high', True, float('nan')])
def test_stop_score_must_be_a_number(tmp_path, value):
  with pytest.raises(agents.ConfigError, match='stop_score must be a number'):
    agents.train('cartpole', logdir=str(tmp_path), stop_score=value, **TINY)
