"""A full disk ends the run with one line and exit 1; what was written before
stays intact and the run resumes once there is space again."""

import errno
import os

import pytest

import agents
from agents.run import checkpoint, run_dir

TINY = dict(env_backend='gymnax', num_agents=4, update_every=16, num_minibatches=2,
            update_epochs=1, policy_layers=[16], value_layers=[16], eval_agents=2,
            eval_every=128, report_every=64, checkpoint_every=64, steps=256)


def test_a_full_disk_while_checkpointing_is_one_line_and_keeps_earlier_ones(
    tmp_path, monkeypatch):
  real = run_dir.write_atomic
  calls = []

  def fill_up(path, data):
    if path.endswith('.msgpack'):
      calls.append(path)
      if len(calls) == 2:   # The second checkpoint finds the disk full.
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    return real(path, data)

  monkeypatch.setattr(checkpoint, 'write_atomic', fill_up)
  with pytest.raises(agents.TrainingFailed) as failure:
    agents.train('pendulum', logdir=str(tmp_path), timestamp='full', **TINY)
  outcome = failure.value.outcome
  assert outcome.code == 1 == failure.value.exit_code
  assert 'No space left on device' in outcome.message
  assert 'intact' in outcome.message and 'resume with: python -m agents.scripts.train' in outcome.message
  directory = tmp_path / 'full-pendulum' / 'checkpoints'
  found = checkpoint.list_checkpoints(str(directory))
  assert [step for step, _ in found] == [64]
  assert checkpoint.latest_intact(str(directory))
  assert not [name for name in os.listdir(directory) if '.tmp-' in name]

  monkeypatch.setattr(checkpoint, 'write_atomic', real)   # Space again: resume.
  resumed = agents.train('pendulum', logdir=str(tmp_path), timestamp='full', **TINY)
  assert resumed.code == 0 and resumed.final_eval.step == 256


def test_write_atomic_leaves_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
  path = tmp_path / 'config.yaml'
  run_dir.write_atomic(str(path), 'old: 1\n')

  def broken_fsync(descriptor):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

  monkeypatch.setattr(os, 'fsync', broken_fsync)
  with pytest.raises(OSError):
    run_dir.write_atomic(str(path), 'new: 2\n')
  assert path.read_text() == 'old: 1\n'
  assert os.listdir(tmp_path) == ['config.yaml']
