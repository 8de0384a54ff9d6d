"""Runs written by earlier versions keep loading: load_policy and resume.

`tests/data/legacy_runs/20261201T000000-pendulum` was trained (8,192 steps)
by the code of 2026-12-01, before the package was re-laid by its layers; its
`expected_actions.json` holds what that code's `load_policy` answered.
"""

import json
import os
import shutil

import numpy as np
import pytest

import agents

LEGACY = os.path.join(os.path.dirname(__file__), 'data', 'legacy_runs',
                      '20261201T000000-pendulum')


@pytest.fixture
def legacy_run(tmp_path):
  logdir = tmp_path / 'logdir'
  shutil.copytree(LEGACY, logdir / os.path.basename(LEGACY))
  return logdir, str(logdir / os.path.basename(LEGACY))


def test_load_policy_of_an_old_run_answers_as_the_old_code_did(legacy_run):
  _, run_dir = legacy_run
  expected = json.load(open(os.path.join(run_dir, 'expected_actions.json')))
  policy = agents.load_policy(run_dir)
  assert policy.step == expected['step'] == 8192
  actions = policy(np.asarray(expected['observ'], np.float32))
  np.testing.assert_allclose(actions, expected['action'], atol=1e-6)


def test_an_old_run_resumes_where_it_stopped(legacy_run):
  logdir, run_dir = legacy_run
  before = open(os.path.join(run_dir, 'metrics.jsonl')).read().splitlines()
  run = agents.train('pendulum', logdir=str(logdir), timestamp='20261201T000000',
                     steps=12_288)
  assert run.code == 0 and run.final_eval.step == 12_288
  after = open(os.path.join(run_dir, 'metrics.jsonl')).read().splitlines()
  assert after[:len(before)] == before and len(after) > len(before)
  steps = sorted(int(name[5:17]) for name in os.listdir(os.path.join(run_dir, 'checkpoints'))
                 if name.endswith('.msgpack'))
  assert steps[-1] == 12_288
