"""Small pieces of the runtime: grids, progress, seeds, EMA, strategies."""

import numpy as np
import pytest
import tensorflow as tf

from tfface import training
from tfface.training import progress
from tfface.training import summaries


def test_image_grid_layout():
  images = tf.stack([tf.fill([2, 3, 3], v) for v in (-1.0, 0.0, 1.0)])
  grid = summaries.image_grid(images, columns=2).numpy()
  assert grid.shape == (1, 4, 6, 3)
  np.testing.assert_allclose(grid[0, :2, :3], 0.0)   # -1 -> 0
  np.testing.assert_allclose(grid[0, :2, 3:], 0.5)   # 0 -> 0.5
  np.testing.assert_allclose(grid[0, 2:, :3], 1.0)   # 1 -> 1
  np.testing.assert_allclose(grid[0, 2:, 3:], 0.0)   # padding


def test_format_duration():
  assert progress.format_duration(3725) == "1h02m05s"
  assert progress.format_duration(65) == "1m05s"
  assert progress.format_duration(4.2) == "4s"


def test_step_seed_differs_by_step_and_salt_and_is_stable():
  a = training.step_seed(7, tf.constant(3)).numpy()
  assert a.shape == (2,) and a.dtype == np.int32
  np.testing.assert_array_equal(a, training.step_seed(7, tf.constant(3)).numpy())
  assert not np.array_equal(a, training.step_seed(7, tf.constant(4)).numpy())
  assert not np.array_equal(a, training.step_seed(7, tf.constant(3), 1).numpy())
  assert not np.array_equal(a, training.step_seed(8, tf.constant(3)).numpy())


def test_step_seed_differs_per_replica():
  strategy = training.make_strategy("mirrored", 2)
  seeds = strategy.run(tf.function(lambda: training.step_seed(1, tf.constant(0))))
  local = strategy.experimental_local_results(seeds)
  assert not np.array_equal(local[0].numpy(), local[1].numpy())


def test_weight_ema_average_and_copy():
  source = tf.keras.layers.Dense(2)
  target = tf.keras.layers.Dense(2)
  source.build((None, 2))
  target.build((None, 2))
  ema = training.WeightEMA(source, target, decay=0.75)
  np.testing.assert_array_equal(target.kernel.numpy(), source.kernel.numpy())
  before = source.kernel.numpy()
  source.kernel.assign(before + 4.0)
  ema.update()
  np.testing.assert_allclose(target.kernel.numpy(), before + 1.0, rtol=1e-6)
  with pytest.raises(ValueError, match="decay"):
    training.WeightEMA(source, target, decay=1.0)


def test_unknown_strategy_and_missing_tf_config(monkeypatch):
  with pytest.raises(ValueError, match="unknown strategy 'gpu'"):
    training.make_strategy("gpu")
  monkeypatch.delenv("TF_CONFIG", raising=False)
  with pytest.raises(ValueError, match="TF_CONFIG"):
    training.make_strategy("multi_worker")
  monkeypatch.setenv("TF_CONFIG", "{not json")
  with pytest.raises(ValueError, match="TF_CONFIG must be JSON"):
    training.make_strategy("multi_worker")


def test_mirrored_strategy_is_reused_per_device_set():
  # A second MirroredStrategy over the same devices would restart the
  # collective keys and collide with the first one's collectives.
  assert training.make_strategy("mirrored", 2) is training.make_strategy(
      "mirrored", 2)
  assert training.make_strategy("mirrored", 1) is not training.make_strategy(
      "mirrored", 2)


@pytest.mark.parametrize("apply", [True, False])
def test_conditional_minimize_matches_minimize_or_skips(apply):
  strategy = training.make_strategy("mirrored", 2)
  with strategy.scope():
    plain = tf.Variable([1.0, -2.0])
    lazy = tf.Variable([1.0, -2.0])
    opt_plain = tf.keras.optimizers.SGD(0.1)
    opt_lazy = tf.keras.optimizers.SGD(0.1)
    opt_plain.build([plain])
    opt_lazy.build([lazy])

  @tf.function
  def step():
    def replica_fn():
      replica = tf.cast(
          tf.distribute.get_replica_context().replica_id_in_sync_group,
          tf.float32)
      target = tf.stack([replica, 3.0 * replica])
      with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(plain - target))
      training.minimize(tape, opt_plain, loss, [plain])
      training.conditional_minimize(
          tf.constant(apply), opt_lazy, [lazy],
          lambda: (tf.reduce_sum(tf.square(lazy - target)), tf.constant(0.0)))
    strategy.run(replica_fn)

  step()
  if apply:
    np.testing.assert_allclose(lazy.numpy(), plain.numpy(), rtol=1e-6)
    assert not np.allclose(lazy.numpy(), [1.0, -2.0])
  else:
    np.testing.assert_array_equal(lazy.numpy(), [1.0, -2.0])
    assert int(opt_lazy.iterations.numpy()) == 0
