"""--track wandb|mlflow: the config and the same numbers as TensorBoard, under the
field's metric names; W&B offline, MLflow on a local file store."""

import glob
import os

import pytest

from agents.scripts import train

TINY = ['--set', 'num_agents=4', '--set', 'update_every=16', '--set', 'num_minibatches=2',
        '--set', 'update_epochs=1', '--set', 'policy_layers=[16]', '--set', 'value_layers=[16]',
        '--set', 'eval_agents=2', '--set', 'eval_every=128', '--set', 'log_every=64',
        '--set', 'report_every=64', '--quiet']


def _train(tmp_path, track, steps=256):
  return train.main(['--logdir', str(tmp_path), '--config', 'cartpole', '--timestamp', 'run',
                     '--track', track, '--set', f'steps={steps}', *TINY])


def test_wandb_offline_gets_the_config_and_the_metrics(tmp_path, monkeypatch):
  pytest.importorskip('wandb')
  monkeypatch.setenv('WANDB_MODE', 'offline')
  assert _train(tmp_path, 'wandb') == 0
  runs = glob.glob(str(tmp_path / 'run-cartpole' / 'wandb' / 'offline-run-*' / '*.wandb'))
  assert len(runs) == 1
  data = open(runs[0], 'rb').read()
  for name in (b'rollout/ep_rew_mean', b'eval/mean_reward', b'train/value_loss',
               b'train/approx_kl', b'time/fps', b'num_agents', b'global_step'):
    assert name in data, name
  # A resumed run continues the same W&B run (one id, from the run directory).
  assert _train(tmp_path, 'wandb', steps=384) == 0
  ids = {os.path.basename(p).split('-', 3)[-1] for p in glob.glob(
      str(tmp_path / 'run-cartpole' / 'wandb' / 'offline-run-*'))}
  assert len(ids) == 1


def test_mlflow_on_a_file_store_gets_the_config_and_the_metrics(tmp_path, monkeypatch):
  mlflow = pytest.importorskip('mlflow')
  store = tmp_path / 'store'
  monkeypatch.setenv('MLFLOW_TRACKING_URI', f'file://{store}')
  monkeypatch.setenv('MLFLOW_ALLOW_FILE_STORE', 'true')
  assert _train(tmp_path, 'mlflow') == 0
  assert _train(tmp_path, 'mlflow', steps=384) == 0          # Resumed: the same run.
  client = mlflow.tracking.MlflowClient(f'file://{store}')
  (experiment,) = [e for e in client.search_experiments() if e.name == 'agents']
  (run,) = client.search_runs([experiment.experiment_id])
  assert run.data.params['num_agents'] == '4' and run.data.params['env'] == 'CartPole-v1'
  history = client.get_metric_history(run.info.run_id, 'rollout/ep_rew_mean')
  steps = [m.step for m in history]   # Reports with finished episodes, both processes.
  assert steps == sorted(set(steps)) and {256, 384} <= set(steps), steps
  evals = client.get_metric_history(run.info.run_id, 'eval/mean_reward')
  assert [m.step for m in evals] == [128, 256, 384]
  assert client.get_metric_history(run.info.run_id, 'train/policy_gradient_loss')


def test_an_unknown_or_missing_tracker_is_one_line(tmp_path, capfd, monkeypatch):
  import sys
  assert train.main(['--logdir', str(tmp_path), '--config', 'cartpole',
                     '--set', 'track=tensorboard', *TINY]) == 2
  assert "Unknown track 'tensorboard'. Known: wandb, mlflow" in capfd.readouterr().err
  monkeypatch.setitem(sys.modules, 'mlflow', None)
  assert _train(tmp_path, 'mlflow') == 2
  assert "track=mlflow needs mlflow: pip install -e '.[mlflow]'" in capfd.readouterr().err
  assert not os.path.exists(tmp_path / 'run-cartpole')


def test_visualize_adds_its_videos_to_the_mlflow_run(tmp_path, monkeypatch):
  mlflow = pytest.importorskip('mlflow')
  from agents.scripts import visualize
  store = tmp_path / 'store'
  monkeypatch.setenv('MLFLOW_TRACKING_URI', f'file://{store}')
  monkeypatch.setenv('MLFLOW_ALLOW_FILE_STORE', 'true')
  monkeypatch.setenv('SDL_AUDIODRIVER', 'dummy')
  assert _train(tmp_path, 'mlflow', steps=128) == 0
  assert visualize.main(['--logdir', str(tmp_path / 'run-cartpole'), '--outdir',
                         str(tmp_path / 'videos'), '--num_episodes', '2', '--format', 'gif',
                         '--max_frames', '5', '--track', 'mlflow']) == 0
  client = mlflow.tracking.MlflowClient(f'file://{store}')
  (experiment,) = [e for e in client.search_experiments() if e.name == 'agents']
  (run,) = client.search_runs([experiment.experiment_id])
  names = sorted(a.path for a in client.list_artifacts(run.info.run_id, 'videos'))
  assert names == ['videos/episode-000.gif', 'videos/episode-001.gif']
