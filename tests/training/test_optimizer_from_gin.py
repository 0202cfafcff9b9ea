"""Methods take their optimizers from gin (with the lazy-regularization adjustment)."""

import gin
import pytest
import tensorflow as tf

from tfface import config
from tfface.methods.confignet import trainer as confignet_trainer
from tfface.methods.stylegan2 import trainer as stylegan2_trainer


@pytest.fixture(autouse=True)
def _clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def _build(method):
  method.global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
  method.global_batch_size, method.seed = 2, 0
  method.build()
  return method


def test_stylegan2_optimizers_come_from_gin_and_are_lazily_adjusted():
  config.parse_config([], [
      "StyleGAN2Method.optimizer = @tf.keras.optimizers.SGD",
      "tf.keras.optimizers.SGD.learning_rate = 0.1",
      "tf.keras.optimizers.SGD.momentum = 0.5",
  ], finalize=False)
  method = _build(stylegan2_trainer.StyleGAN2Method(
      resolution=16, channel_divisor=64, z_dim=8, style_dim=8,
      mapping_layers=1))
  for opt, every in ((method.g_optimizer, 4), (method.d_optimizer, 16)):
    assert isinstance(opt, tf.keras.optimizers.SGD)
    assert opt.momentum == 0.5
    assert float(opt.learning_rate) == pytest.approx(0.1 * every / (every + 1),
                                                     rel=1e-5)
  assert method.g_optimizer.name == "g_optimizer"
  assert method.d_optimizer.built


def test_latent_gan_default_is_adam_and_gin_can_replace_it():
  default = _build(confignet_trainer.ConfigNetLatentGAN(latent_dim=4))
  assert isinstance(default.g_optimizer, tf.keras.optimizers.Adam)
  assert float(default.g_optimizer.learning_rate) == pytest.approx(5e-5)
  # The reference's widths: hidden int(1.5 * Z), LeakyReLU 0.3.
  assert default.generator.mlp.dense[0].units == 6
  assert default.generator.mlp.slope == 0.3
  config.parse_config([], [
      "ConfigNetLatentGAN.optimizer = @tf.keras.optimizers.RMSprop",
      "tf.keras.optimizers.RMSprop.learning_rate = 0.01",
  ], finalize=False)
  method = _build(confignet_trainer.ConfigNetLatentGAN(latent_dim=4))
  assert isinstance(method.d_optimizer, tf.keras.optimizers.RMSprop)
  # No lazy regularizer here: the rate is the configured one.
  assert float(method.d_optimizer.learning_rate) == pytest.approx(0.01)


def test_a_run_with_a_gin_optimizer_schedule_restores(tmp_path):
  """Bindings read only while building (the optimizer and its schedule) are
  in the run's operative config, so restore_run rebuilds the same optimizer."""
  from tfface.training import restore  # pylint: disable=g-import-not-at-top
  from tfface.training import train_lib  # pylint: disable=g-import-not-at-top
  config.parse_config(["gin/stylegan2/test.gin"], [
      "StyleGAN2Method.optimizer = @tf.keras.optimizers.Adam",
      "tf.keras.optimizers.Adam.learning_rate = "
      "@tf.keras.optimizers.schedules.CosineDecay()",
      "tf.keras.optimizers.schedules.CosineDecay.initial_learning_rate = 0.01",
      "tf.keras.optimizers.schedules.CosineDecay.decay_steps = 100",
      "train.max_steps = 2", "train.checkpoint_every = 2",
  ])
  model_dir = str(tmp_path / "run")
  train_lib.train(model_dir=model_dir)
  with open(f"{model_dir}/operative_config.gin") as f:
    assert "CosineDecay.decay_steps = 100" in f.read()
  gin.clear_config()
  # Before the config was read after build(), this restore failed: the
  # rebuilt optimizer had a constant rate, the checkpoint a schedule.
  method = restore.restore_run(model_dir)
  assert int(method.global_step.numpy()) == 2
