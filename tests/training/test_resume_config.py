"""A resumed run trains with the configured hyper-parameters, not the
checkpoint's: a Keras optimizer's learning rate is a checkpointed variable,
which the runtime puts back to the value the method was built with."""

import logging

import gin
import numpy as np
import pytest
import tensorflow as tf

from tests.training import subprocess_utils
from tests.training import toy_method
from tfface import config
from tfface import training
from tfface.training import checkpoints
from tfface.training import loop
from tfface.training import train_lib

LR_A, LR_B = 0.05, 0.01


def _learning_rates(logdir):
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  events = event_accumulator.EventAccumulator(
      logdir, size_guidance={event_accumulator.TENSORS: 0})
  events.Reload()
  return {e.step: float(tf.make_ndarray(e.tensor_proto))
          for e in events.Tensors("learning_rate/optimizer")}


def _train_from_gin(model_dir, learning_rate, max_steps):
  gin.clear_config()
  config.parse_config([subprocess_utils.TOY_GIN], [
      f"ToyRegression.learning_rate = {learning_rate}",
      f"train.max_steps = {max_steps}", "train.checkpoint_every = 2",
      "train.summary_every = 1"])
  return train_lib.train(model_dir=str(model_dir))


def test_resume_with_a_new_learning_rate_uses_it(tmp_path, caplog):
  _train_from_gin(tmp_path, LR_A, 2)
  with caplog.at_level(logging.WARNING):
    _train_from_gin(tmp_path, LR_B, 4)
  # The optimizer ran steps 3 and 4 with B (TensorBoard logs the value the
  # step used), and the checkpoint it wrote holds B.
  rates = _learning_rates(str(tmp_path / "train"))
  assert rates == pytest.approx({1: LR_A, 2: LR_A, 3: LR_B, 4: LR_B})
  latest = checkpoints.latest_checkpoint(str(tmp_path))
  assert latest.endswith("ckpt-4")
  assert tf.train.load_variable(
      latest, "optimizer/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE"
  ) == pytest.approx(LR_B)
  # The operative config says what the run did.
  operative = (tmp_path / "operative_config.gin").read_text()
  assert f"ToyRegression.learning_rate = {LR_B}" in operative
  # One line per changed value.
  changes = [r.getMessage() for r in caplog.records
             if "resumed with" in r.getMessage()]
  assert changes == ["optimizer 'optimizer': resumed with learning rate 0.01 "
                     "(checkpoint had 0.05)"]


def _run(model_dir, max_steps, learning_rate):
  method = toy_method.ToyRegression(learning_rate=learning_rate)
  training.run_training(
      method, toy_method.toy_dataset(8), str(model_dir),
      training.LoopConfig(max_steps=max_steps, checkpoint_every=2))
  return method


def test_same_settings_change_nothing_and_stay_bit_exact(tmp_path, caplog):
  straight = _run(tmp_path / "straight", 4, LR_A)
  _run(tmp_path / "resumed", 2, LR_A)
  with caplog.at_level(logging.WARNING):
    resumed = _run(tmp_path / "resumed", 4, LR_A)
  assert not [r for r in caplog.records if "resumed with" in r.getMessage()]
  np.testing.assert_array_equal(toy_method.final_weights(resumed),
                                toy_method.final_weights(straight))
  # A new learning rate is in the optimizer of the resumed method.
  changed = _run(tmp_path / "resumed", 6, LR_B)
  assert float(changed.optimizer.learning_rate) == pytest.approx(LR_B)


def test_schedules_and_python_hyperparameters_need_no_reapplying():
  """A schedule is Python state (config wins already); only constant
  learning rates are variables the checkpoint would overwrite."""
  variable = tf.Variable(tf.zeros([2]))
  schedule = tf.keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
  scheduled = tf.keras.optimizers.Adam(schedule, beta_1=0.3)
  constant = tf.keras.optimizers.Adam(0.2, beta_1=0.3)
  for optimizer in (scheduled, constant):
    optimizer.build([variable])
  snapshot = loop.configured_hyperparameters(
      {"scheduled": scheduled, "constant": constant, "model": variable})
  assert [(h.optimizer, h.label) for h in snapshot] == [
      ("constant", "learning rate")]
  constant.learning_rate.assign(0.7)  # what a restore would do
  assert loop.reapply_hyperparameters(snapshot) == [
      "optimizer 'constant': resumed with learning rate 0.2 (checkpoint had "
      "0.7)"]
  assert float(constant.learning_rate) == pytest.approx(0.2)
  assert loop.reapply_hyperparameters(snapshot) == []


def _run_with(model_dir, max_steps, learning_rate):
  method = toy_method.ToyRegression(learning_rate=learning_rate)
  training.run_training(
      method, toy_method.toy_dataset(8), str(model_dir),
      training.LoopConfig(max_steps=max_steps, checkpoint_every=2,
                          summary_every=1))
  return method


def test_resume_with_a_new_schedule_uses_it(tmp_path):
  decay = tf.keras.optimizers.schedules.ExponentialDecay
  _run_with(tmp_path, 2, decay(LR_A, 1, 0.5))
  _run_with(tmp_path, 4, decay(LR_B, 1, 0.5))
  rates = _learning_rates(str(tmp_path / "train"))
  # Read after each step: the schedule at the optimizer's step count, which
  # the checkpoint restored (progress), with the new settings.
  assert rates == pytest.approx({1: LR_A * 0.5, 2: LR_A * 0.25,
                                 3: LR_B * 0.5 ** 3, 4: LR_B * 0.5 ** 4})


def test_switching_constant_and_schedule_on_resume_is_one_clear_error(
    tmp_path):
  _run_with(tmp_path, 2, LR_A)
  schedule = tf.keras.optimizers.schedules.ExponentialDecay(LR_B, 1, 0.5)
  with pytest.raises(ValueError, match=r"optimizer 'optimizer' is configured "
                     r"with a learning-rate schedule but checkpoint .*ckpt-2 "
                     r"was written with a constant learning rate"):
    _run_with(tmp_path, 4, schedule)
