import jax
import numpy as np
import pytest

from agents.tools import BatchEnv, InGraphBatchEnv, MockAlgorithm, MockEnvironment
from agents.core import loop as loop_lib
from agents.core.loop import Loop, Phase


def _env(agents, min_duration=4, max_duration=4):
  return InGraphBatchEnv(BatchEnv(
      [MockEnvironment((2,), (1,), min_duration, max_duration, seed=i)
       for i in range(agents)], blocking=True))


def _loop(checkpoint_every=32, **kwargs):
  # One batch step per training call (4 env-steps), so every interval is exact.
  phases = [Phase('train', _env(4), steps=40, training=True, report_every=16,
                  log_every=20, checkpoint_every=checkpoint_every, steps_per_call=1),
            Phase('eval', _env(2), steps=16, training=False, steps_per_call=8)]
  return Loop(MockAlgorithm(), phases, jax.random.PRNGKey(0), **kwargs)


def test_phases_alternate_until_the_training_budget():
  reports = _loop().run(100)
  phases = [report.phase for report in reports]
  train_ends = [r.step for r in reports if r.phase == 'train']
  # 40 train steps, then eval, until 100 train steps; the last train visit is cut to 20.
  assert phases.count('eval') == 3
  assert phases[-1] == 'eval'
  assert train_ends[-1] == 100
  evals = [r for r in reports if r.phase == 'eval']
  assert [r.step for r in evals] == [40, 80, 100]


def test_reports_hold_mean_score_and_length_of_episodes_completed_in_the_phase():
  reports = _loop().run(40)
  evaluation = [r for r in reports if r.phase == 'eval'][0]
  # 2 agents x 8 steps with episodes of exactly 4 steps: 4 episodes.
  assert evaluation.episodes == 4
  assert evaluation.mean_length == 4.0
  assert -4 <= evaluation.mean_score <= 4
  train = [r for r in reports if r.phase == 'train']
  # Reports at 16 and 32 steps, and at the end of the visit (40).
  assert [r.phase_step for r in train] == [16, 32, 40]
  assert sum(r.episodes for r in train) == 4 * (10 // 4)


def test_metrics_and_checkpoints_follow_their_intervals():
  metrics, checkpoints = [], []
  loop = _loop(on_metrics=lambda name, step, m: metrics.append((name, step, m)),
               on_checkpoint=lambda loop: checkpoints.append(loop.step))
  loop.run(80)
  assert [step for _, step, _ in metrics] == [20, 40, 60, 80]
  assert metrics[-1][2]['experienced_steps'] == 80
  # Every 32 steps, and once at the end of the run.
  assert checkpoints == [32, 64, 80]


def test_the_learner_moves_between_phases_and_eval_does_not_change_it():
  loop = _loop()
  loop.run(40)
  # MockAlgorithm's learner counts experienced training steps only.
  assert int(loop.learner) == 40


def test_state_dict_resumes_the_step_counter():
  loop = _loop()
  loop.run(40)
  resumed = _loop()
  resumed.load_state_dict(loop.state_dict())
  reports = resumed.run(80)
  assert reports[0].step > 40
  assert resumed.step == 80


def _resumed_after(stop_at):
  """A run stopped once its step reaches `stop_at`, then resumed to 100 steps:
  the steps of all its evaluations."""
  made = []
  first = _loop(should_stop=lambda: made[0].step >= stop_at)
  made.append(first)
  evals = [r.step for r in first.run(100) if r.phase == 'eval']
  resumed = _loop()
  resumed.load_state_dict(first.state_dict())
  evals += [r.step for r in resumed.run(100) if r.phase == 'eval']
  assert resumed.step == 100
  return evals


@pytest.mark.parametrize('stop_at', [8, 40, 48, 60])
def test_a_resumed_run_evaluates_where_the_uninterrupted_one_does(stop_at):
  """Stopped inside a training visit, it ends that visit where it would have;
  stopped at its end (40), it runs the evaluation that comes next."""
  assert _resumed_after(stop_at) == [40, 80, 100]


def _count_eval_steps(loop):
  """The eval env's host batch steps so far, as a one-item list."""
  steps, batch_env = [0], loop._phases[1].env._batch_env
  original = batch_env.step

  def counting(actions):
    steps[0] += 1
    return original(actions)
  batch_env.step = counting
  return steps


def test_a_run_stopped_during_an_evaluation_runs_it_again_when_resumed():
  first = _loop(should_stop=lambda: eval_steps[0] >= 3 + 8)   # In the 2nd eval.
  eval_steps = _count_eval_steps(first)
  evals = [(r.step, r.episodes) for r in first.run(100) if r.phase == 'eval']
  assert evals == [(40, 4)]           # The stopped eval reports nothing...
  assert eval_steps[0] == 11 and first.step == 80
  resumed = _loop()
  resumed.load_state_dict(first.state_dict())
  evals += [(r.step, r.episodes) for r in resumed.run(100) if r.phase == 'eval']
  assert evals == [(40, 4), (80, 4), (100, 4)]   # ...and runs whole on resume.


def test_a_run_killed_before_its_evaluation_runs_it_from_the_last_checkpoint():
  """The checkpoint at the end of a training visit comes before its evaluation:
  resumed from it (as after a kill), the evaluation runs."""
  saved = {}
  first = _loop(checkpoint_every=20,
                on_checkpoint=lambda loop: saved.setdefault(loop.step, loop.state_dict()))
  first.run(100)
  assert saved[60]['cursor'] == 0      # Inside a training visit.
  resumed = _loop()
  resumed.load_state_dict(saved[80])   # The visit's end: the eval at 80 is next.
  assert [r.step for r in resumed.run(100) if r.phase == 'eval'] == [80, 100]


def test_a_checkpoint_inside_a_visit_holds_the_time_trained_so_far():
  """A resumed run's train_time goes on from its checkpoint's, which counts
  the visit in progress (at 32 steps, inside the first visit of 40)."""
  saved, reports = {}, []
  loop = _loop(on_checkpoint=lambda loop: saved.setdefault(loop.step, loop.state),
               on_report=reports.append)
  loop.run(40)
  at_32 = [r for r in reports if r.phase == 'train' and r.step == 32][0]
  end = [r for r in reports if r.phase == 'train' and r.step == 40][0]
  assert 0 < at_32.train_time <= saved[32].train_time <= end.train_time
  assert saved[32].compile_time >= at_32.compile_time > 0


def _eval_loop(durations, first_episodes):
  """Four eval agents whose episodes last `durations` steps, for 40 steps each
  (or until their first episodes end), after each 8 training steps."""
  evaluation = InGraphBatchEnv(BatchEnv(
      [MockEnvironment((2,), (1,), d, d, seed=i) for i, d in enumerate(durations)],
      blocking=True))
  phases = [Phase('train', _env(4), steps=8, training=True, steps_per_call=1),
            Phase('eval', evaluation, steps=4 * 40, training=False, steps_per_call=1,
                  first_episodes=first_episodes)]
  return Loop(MockAlgorithm(), phases, jax.random.PRNGKey(0))


def _first_episodes_run(first_episodes):
  """Eval agents whose episodes last 2, 3, 5 and 7 steps."""
  reports = _eval_loop([2, 3, 5, 7], first_episodes).run(16)
  return [r for r in reports if r.phase == 'eval']


def test_first_episodes_scores_each_agent_once_and_ends_after_the_longest():
  evals = _first_episodes_run(True)
  assert [(r.episodes, r.mean_length) for r in evals] == [(4, 17 / 4)] * 2
  assert [r.phase_step for r in evals] == [4 * 7, 2 * 4 * 7]   # 7 calls a visit.
  every = _first_episodes_run(False)   # Short episodes weigh more.
  assert [(r.episodes, r.phase_step) for r in every] == [(20 + 13 + 8 + 5, 160),
                                                         (46, 320)]
  assert every[0].mean_length == (20 * 2 + 13 * 3 + 8 * 5 + 5 * 7) / 46   # 3.35, not 4.25.
  with pytest.raises(ValueError, match='first_episodes'):
    Phase('train', _env(1), steps=4, training=True, first_episodes=True)


def test_training_keys_do_not_depend_on_how_long_an_evaluation_ran():
  """Evaluations of 7 calls (episodes up to 7 steps) and of 2 calls leave the
  Loop's key chain, which training draws from, in the same place."""
  def final_key(durations):
    loop = _eval_loop(durations, first_episodes=True)
    evals = [r.phase_step for r in loop.run(16) if r.phase == 'eval']
    return jax.device_get(loop.state.key), evals
  (long_key, long_evals), (short_key, short_evals) = final_key([2, 3, 5, 7]), final_key([2] * 4)
  assert long_evals == [28, 56] and short_evals == [8, 16]
  assert (long_key == short_key).all()


def test_a_run_stopped_after_an_evaluation_does_not_repeat_it():
  evaluated = []
  first = _loop(should_stop=lambda: bool(evaluated),
                on_report=lambda r: evaluated.append(r.step) if r.phase == 'eval' else None)
  first.run(100)
  assert evaluated == [40] and first.step == 40
  resumed = _loop()
  resumed.load_state_dict(first.state_dict())
  assert [r.step for r in resumed.run(100) if r.phase == 'eval'] == [80, 100]


def test_should_stop_ends_the_run_early_with_a_checkpoint():
  checkpoints, made = [], []
  loop = _loop(should_stop=lambda: made[0].step >= 8,   # Stop after two calls.
               on_checkpoint=lambda loop: checkpoints.append(loop.step))
  made.append(loop)
  loop.run(1000)
  assert loop.step == 8
  assert checkpoints == [loop.step]   # One checkpoint, at the stop.


def test_a_stop_before_any_training_writes_no_checkpoint():
  checkpoints = []
  loop = _loop(should_stop=lambda: True,
               on_checkpoint=lambda loop: checkpoints.append(loop.step))
  loop.run(1000)
  assert loop.step == 0 and checkpoints == []


def test_a_stop_between_host_steps_ends_a_long_call_and_keeps_the_state_before_it():
  """Calls of 50 batch steps; the stop comes at the 10th step of the third call:
  that call's work is dropped, the learner of the second call is kept."""
  host_steps, checkpoints, learners = [0], [], []
  env = _env(4)
  original = env._batch_env.step

  def counting(actions):
    host_steps[0] += 1
    return original(actions)
  env._batch_env.step = counting
  phases = [Phase('train', env, steps=1000, training=True, steps_per_call=50)]
  loop = Loop(MockAlgorithm(), phases, jax.random.PRNGKey(0),
              should_stop=lambda: host_steps[0] >= 110,
              on_checkpoint=lambda loop: checkpoints.append(loop.step),
              on_report=lambda report: learners.append(loop.learner))
  loop.run(10_000)
  assert host_steps[0] == 110            # No step after the stop was asked for.
  assert loop.step == 2 * 50 * 4 and checkpoints == [400]
  assert loop.metrics('train') == {}     # The phase starts fresh episodes if run again.
  loop._should_stop = lambda: False
  loop.run(600)
  assert loop.step == 600


def test_long_host_calls_tell_the_step_reached(monkeypatch):
  clock = [0.0]
  monkeypatch.setattr(loop_lib.time, 'monotonic', lambda: clock[0])
  env = _env(4)
  original = env._batch_env.step

  def slow(actions):
    clock[0] += 0.3     # 0.3 s a batch step, as the Loop's clock sees it.
    return original(actions)
  env._batch_env.step = slow
  told = []
  loop = Loop(MockAlgorithm(), [Phase('train', env, steps=80, training=True,
                                      steps_per_call=20)],
              jax.random.PRNGKey(0), on_progress=told.append)
  loop.run(80)
  assert told and told == sorted(told) and 0 < told[0] < 80
  assert len(told) <= 20 * 0.3 + 1         # At most once a second.


def test_bad_phases_are_rejected():
  with pytest.raises(ValueError, match='training phase'):
    Loop(MockAlgorithm(), [Phase('eval', _env(2), 8, training=False, steps_per_call=4)],
         jax.random.PRNGKey(0))
  with pytest.raises(ValueError, match='steps must be'):
    Phase('train', _env(2), 0, training=True)


def test_compile_time_is_reported_apart_from_training_time():
  import time
  from agents.core.compile_clock import CompileClock
  start = time.time()
  loop = _loop()
  reports = loop.run(40)
  elapsed = time.time() - start
  last = reports[-1]
  # Two programs (train, eval) were compiled during the run, and the report says so.
  assert last.compile_time > 0 and last.compile_time == loop.compile_time
  assert loop.train_time > 0 and loop.train_time + loop.compile_time < elapsed
  # A second run of the same loop compiles nothing new.
  compile_before = loop.compile_time
  loop.run(80)
  assert loop.compile_time - compile_before < compile_before / 2
  # Nested spans count once.
  clock = CompileClock()
  clock._record('/jax/core/compile/jaxpr_trace_duration', 10.0, 12.0)
  clock._record('/jax/core/compile/jaxpr_trace_duration', 10.5, 11.0)
  clock._record('/jax/core/compile/backend_compile_duration', 11.5, 13.0)
  clock._record('/unrelated/event', 0.0, 100.0)
  assert clock.seconds() == pytest.approx(3.0)
  assert clock.seconds(since=12.5) == pytest.approx(0.5)


def test_each_phase_compiles_its_run_once_whatever_the_budgets():
  from agents.core.compile_clock import CompileClock
  # Deliberately misaligned: 12 env-steps per train call, intervals of 10, 7 and
  # 25 env-steps, visits of 30 and 5 steps, a budget of 101.
  phases = [Phase('train', _env(4), steps=30, training=True, report_every=10,
                  log_every=7, checkpoint_every=25, steps_per_call=3),
            Phase('eval', _env(2), steps=5, training=False, steps_per_call=3)]
  loop = Loop(MockAlgorithm(), phases, jax.random.PRNGKey(1))
  with CompileClock() as clock:
    reports = loop.run(101)
  assert clock.compiles['jit(run_steps)'] == 2  # One program per phase.
  # Visits run whole calls: 30 -> 36 env-steps; the budget rounds up to 108.
  assert loop.step == 108
  assert [r.step for r in reports if r.phase == 'eval'] == [36, 72, 108]
  # A report at every multiple of 10, also inside a call, and at the visit's end.
  train = [r.phase_step for r in reports if r.phase == 'train']
  assert train[:4] == [10, 20, 30, 36]


def test_an_evaluation_of_more_calls_compiles_nothing_more():
  from agents.core.compile_clock import CompileClock

  def compiles(eval_calls):
    phases = [Phase('train', _env(4), steps=8, training=True, steps_per_call=1),
              Phase('eval', _env(2), steps=2 * eval_calls, training=False, steps_per_call=1)]
    loop = Loop(MockAlgorithm(), phases, jax.random.PRNGKey(0))
    with CompileClock() as clock:
      loop.run(16)
    return clock.compiles
  compiles(3)   # Programs that any Loop shares are compiled by now.
  assert compiles(5) == compiles(13)


def test_a_call_of_several_intervals_reports_each_with_its_own_episodes():
  # Episodes of exactly 4 batch steps. Calls of 1 and of 10 batch steps (40
  # env-steps, 2.5 report intervals) give the same reports, but for the times.
  def reports(steps_per_call):
    phases = [Phase('train', _env(4), steps=80, training=True, report_every=16,
                    steps_per_call=steps_per_call)]
    return Loop(MockAlgorithm(), phases, jax.random.PRNGKey(0)).run(80)
  one, several = reports(1), reports(10)
  assert [r.phase_step for r in several] == [16, 32, 48, 64, 80]
  assert [r.step for r in several] == [16, 32, 48, 64, 80]
  fields = lambda r: (r.phase_step, r.step, r.episodes, r.mean_score, r.mean_length)
  assert [fields(r) for r in several] == [fields(r) for r in one]
  # Episodes end at batch steps 4, 8, ...: at env-steps 16, 32, ... (4 agents each).
  assert [r.episodes for r in several] == [4, 4, 4, 4, 4]
  # Times inside a call are the call's, prorated: they never go backwards.
  for field in ('time', 'train_time'):
    values = [getattr(r, field) for r in several]
    assert values == sorted(values), (field, values)
  assert 0 <= several[0].train_time <= several[-1].train_time


@pytest.mark.parametrize('devices, seeds, expected', [
    (1, 4, 1), (2, 4, 2), (2, 3, 1), (2, 1, 1), (8, 12, 6), (16, 5, 5)])
def test_seeds_split_over_the_most_devices_that_divide_them(monkeypatch, devices,
                                                            seeds, expected):
  monkeypatch.setattr(loop_lib.jax, 'devices', lambda *args: list(range(devices)))
  assert loop_lib.seed_devices(seeds) == expected


def test_seeded_fold_in_is_each_seeds_fold_in():
  """An evaluation's later calls fold the call index into the visit's key, per
  seed as in a single run (seed k's run follows PRNGKey(k)'s)."""
  from agents.core import seeds
  keys = jax.vmap(jax.random.PRNGKey)(jax.numpy.arange(3))
  for index in (1, 2, 7):
    together = seeds.fold_in_seeds(keys, np.uint32(index))
    for seed in range(3):
      assert (together[seed] == seeds.fold_in(keys[seed], np.uint32(index))).all()
      assert (together[seed] == jax.random.fold_in(keys[seed], index)).all()
