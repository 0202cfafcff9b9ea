"""The training loop: strategies, resume, summaries, NaN guard."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.training import toy_method
from tfface import training
from tfface.training import loop


def _train(model_dir, max_steps, strategy=None, global_batch=8, **config):
  method = toy_method.ToyRegression(**config.pop("method_args", {}))
  cfg = training.LoopConfig(max_steps=max_steps, log_every=1, **config)
  losses = training.run_training(method, toy_method.toy_dataset(global_batch),
                                 str(model_dir), cfg, strategy=strategy)
  return method, losses


def test_mirrored_two_cpus_matches_one_device(tmp_path):
  steps = 6
  single, _ = _train(tmp_path / "one", steps)
  mirrored, _ = _train(tmp_path / "two", steps,
                       strategy=training.make_strategy("mirrored", 2))
  assert mirrored.global_batch_size == 8
  # Same global batch: the per-replica means, scaled by 1/2 and summed by the
  # optimizer, equal the global mean; only float reduction order differs.
  np.testing.assert_allclose(toy_method.final_weights(mirrored),
                             toy_method.final_weights(single),
                             rtol=1e-5, atol=1e-6)
  # and training moved the weights at all.
  fresh = toy_method.ToyRegression()
  fresh.build()
  assert np.abs(toy_method.final_weights(single)
                - toy_method.final_weights(fresh)).max() > 1e-2


def test_resume_continues_at_saved_step_with_identical_weights(tmp_path):
  straight, _ = _train(tmp_path / "straight", 10, checkpoint_every=5)
  _train(tmp_path / "resumed", 5, checkpoint_every=5)
  resumed, _ = _train(tmp_path / "resumed", 10, checkpoint_every=5)
  np.testing.assert_array_equal(toy_method.final_weights(resumed),
                                toy_method.final_weights(straight))
  np.testing.assert_array_equal(resumed.optimizer.iterations.numpy(), 10)
  names = sorted(os.path.basename(p) for p in
                 glob.glob(str(tmp_path / "resumed/checkpoints/ckpt-*.index")))
  assert names == ["ckpt-10.index", "ckpt-5.index"]


def test_keep_n_checkpoints(tmp_path):
  _train(tmp_path, 8, checkpoint_every=2, keep_checkpoints=2)
  names = sorted(os.path.basename(p) for p in
                 glob.glob(str(tmp_path / "checkpoints/ckpt-*.index")))
  assert names == ["ckpt-6.index", "ckpt-8.index"]


def test_existing_run_is_not_overwritten_without_resume(tmp_path):
  _train(tmp_path, 2, checkpoint_every=2)
  method = toy_method.ToyRegression()
  with pytest.raises(loop.ExistingRunError, match="already holds checkpoints"):
    training.run_training(method, toy_method.toy_dataset(8), str(tmp_path),
                          training.LoopConfig(max_steps=4), resume=False)


def test_nan_guard_names_loss_and_step_and_keeps_checkpoint(tmp_path):
  good, _ = _train(tmp_path / "good", 4, checkpoint_every=4)
  with pytest.raises(training.NonFiniteLossError) as error:
    _train(tmp_path / "bad", 10, checkpoint_every=4,
           method_args={"nan_at_step": 6})
  message = str(error.value)
  assert "'mse'" in message and "step 6" in message and "ckpt-4" in message
  assert len(message.splitlines()) == 1
  # The checkpoint before the NaN is the latest one and holds step-4 weights.
  latest = tf.train.latest_checkpoint(str(tmp_path / "bad/checkpoints"))
  assert latest.endswith("ckpt-4")
  restored = toy_method.ToyRegression()
  restored.build()
  tf.train.Checkpoint(model=restored.model).restore(latest).expect_partial()
  np.testing.assert_array_equal(toy_method.final_weights(restored),
                                toy_method.final_weights(good))


def _event_tags(logdir):
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  accumulator = event_accumulator.EventAccumulator(
      logdir, size_guidance={event_accumulator.TENSORS: 0})
  accumulator.Reload()
  return accumulator


def test_tensorboard_scalars_and_images(tmp_path):
  _train(tmp_path, 6, summary_every=2, image_every=3)
  events = _event_tags(str(tmp_path / "train"))
  tags = set(events.Tags()["tensors"])
  for tag in ("loss/mse", "loss/abs_mean", "learning_rate/optimizer",
              "steps_per_sec", "kernel"):
    assert tag in tags, (tag, tags)
  steps = [e.step for e in events.Tensors("loss/mse")]
  assert steps == [2, 4, 6]
  assert [e.step for e in events.Tensors("kernel")] == [3, 6]
  image = events.Tensors("kernel")[-1].tensor_proto
  # tf.summary.image stores [width, height, png...] strings.
  assert int(image.string_val[0]) == toy_method.OUT_DIM
  assert int(image.string_val[1]) == toy_method.IN_DIM
  loss = tf.make_ndarray(events.Tensors("learning_rate/optimizer")[0].tensor_proto)
  assert loss == pytest.approx(0.05)


def test_ema_tracks_model(tmp_path):
  method, _ = _train(tmp_path, 20)
  model = toy_method.final_weights(method)
  ema = np.concatenate([v.numpy().ravel() for v in method.ema_model.weights])
  start = toy_method.ToyRegression()
  start.build()
  initial = toy_method.final_weights(start)
  # The EMA lags: strictly between the start and the trained weights.
  assert np.linalg.norm(ema - model) > 1e-4
  assert np.linalg.norm(ema - model) < np.linalg.norm(initial - model)


def test_mirrored_resume_skips_consumed_batches(tmp_path):
  # MirroredStrategy iterators are not trackable: the runtime skips the
  # batches a resumed run already consumed, so the result is the same.
  strategy = training.make_strategy("mirrored", 2)
  straight, _ = _train(tmp_path / "straight", 8, strategy=strategy,
                       checkpoint_every=4)
  _train(tmp_path / "resumed", 4, strategy=strategy, checkpoint_every=4)
  resumed, _ = _train(tmp_path / "resumed", 8, strategy=strategy,
                      checkpoint_every=4)
  np.testing.assert_allclose(toy_method.final_weights(resumed),
                             toy_method.final_weights(straight), rtol=1e-6)


def test_single_device_checkpoint_holds_iterator(tmp_path):
  from tfface.training import checkpoints  # pylint: disable=g-import-not-at-top
  _train(tmp_path, 2, checkpoint_every=2)
  assert checkpoints.has_iterator(checkpoints.latest_checkpoint(str(tmp_path)))
  assert checkpoints.saved_step(
      checkpoints.latest_checkpoint(str(tmp_path))) == 2


class _ListModel(tf.keras.Model):

  def __init__(self):
    super().__init__()
    self.blocks = [tf.keras.layers.Dense(2), tf.keras.layers.Dense(2)]

  def call(self, x):
    for block in self.blocks:
      x = block(x)
    return x


class _ListMethod(toy_method.ToyRegression):

  def build(self):
    super().build()
    self.listed = _ListModel()
    self.listed(tf.zeros([1, toy_method.IN_DIM]))

  def checkpoint_items(self):
    return {**super().checkpoint_items(), "listed": self.listed}


def test_weights_invisible_to_checkpoints_are_an_error(tmp_path):
  # Keras 3 layers in Python lists are skipped by tf.train.Checkpoint; the
  # runtime refuses to train rather than silently lose them.
  with pytest.raises(ValueError, match="4 weights would not be checkpointed"):
    training.run_training(_ListMethod(), toy_method.toy_dataset(8),
                          str(tmp_path), training.LoopConfig(max_steps=1))
