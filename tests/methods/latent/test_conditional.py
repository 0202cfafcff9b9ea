"""Conditional latent GANs: the cycle term, target sampling, the codes
dataset, few-step runs under MirroredStrategy from cgan_test.gin (projection
+ cBN; AC-GAN with the reference's frozen block2 and 2 D steps per G step)."""

import numpy as np
import pytest
import tensorflow as tf

from tests.methods.latent import conftest as fx
from tfface.methods.latent import conditional
from tfface.methods.latent import data
from tfface.methods.latent import labels


def test_cycle_loss_and_targets():
  z = tf.constant([[1.0, -2.0], [0.5, 0.0]])
  cycled = tf.constant([[0.0, -2.0], [1.0, 1.0]])
  np.testing.assert_allclose(conditional.cycle_loss(z, cycled), 2.5 / 4)
  hair = labels.make_condition("hair_color")
  t = conditional.random_targets(hair, tf.zeros([500, 5]), tf.constant([3, 4]))
  ids = np.argmax(t.numpy(), 1)
  assert t.shape == (500, 5) and set(ids) == set(range(5))
  yaw = labels.make_condition("factor:pose[1:2]", {"pose": 3})
  values = tf.constant([[0.1], [0.2], [0.3]])
  np.testing.assert_allclose(
      conditional.random_targets(yaw, values, tf.constant([1, 1])),
      [[0.3], [0.1], [0.2]])


def test_codes_dataset_keeps_training_identities_with_a_class(
    faces, autoencoder_file):
  batch = next(iter(data.latent_codes_dataset(
      4, autoencoder=autoencoder_file, path=faces, condition="beard",
      heldout_modulus=fx.HELDOUT_MODULUS)))
  assert batch["z"].shape == (4, 8) and batch["label"].shape == (4, 2)
  np.testing.assert_array_equal(tf.reduce_sum(batch["label"], 1), np.ones(4))
  from tfface.methods.latent import codes  # pylint: disable=g-import-not-at-top
  table = codes.cached_codes(autoencoder_file, faces)
  z, values = data._labelled_codes(table, labels.make_condition("beard"),
                                   "heldout", fx.HELDOUT_MODULUS)
  assert len(z) == 8 and set(values) <= {0, 1}
  with pytest.raises(ValueError, match="need at least one batch"):
    data.latent_codes_dataset(64, autoencoder=autoencoder_file, path=faces,
                              condition="beard", split="heldout",
                              heldout_modulus=fx.HELDOUT_MODULUS)


def test_projection_cgan_steps_under_mirrored_strategy(faces, autoencoder_file,
                                                       tmp_path):
  method, losses = fx.gin_run("cgan_test.gin", tmp_path / "run", [
      f"AUTOENCODER = '{autoencoder_file}'", f"DATA = '{faces}'"], steps=3)
  assert all(np.isfinite(v) for v in losses.values())
  assert losses["g_cycle"] > 0
  d = method.discriminator
  fx.assert_replicas_identical(method.generator.trainable_variables +
                               d.trainable_variables + [d.phi.u, d.embed.v])
  assert int(method.g_optimizer.iterations.numpy()) == 3
  grids = method.image_summaries()
  assert set(grids) == {"reconstructions", "edit_none", "edit_beard"}
  z = tf.random.normal([3, 8])
  edited = method.edit(z, tf.one_hot([1, 1, 0], 2))
  assert edited.shape == (3, 8) and float(tf.reduce_min(edited)) < 0


def test_acgan_reference_frozen_block2_and_d_steps(faces, autoencoder_file,
                                                   tmp_path):
  p = "ConditionalLatentGANMethod"
  method = None
  captured = {}
  build = conditional.ConditionalLatentGANMethod.build

  def build_and_record(self):
    build(self)
    captured["block1"] = fx.arrays(self.discriminator.block1)
    captured["block2"] = fx.arrays(self.discriminator.block2)

  conditional.ConditionalLatentGANMethod.build = build_and_record
  try:
    method, losses = fx.gin_run("cgan_test.gin", tmp_path / "run", [
        f"AUTOENCODER = '{autoencoder_file}'", f"DATA = '{faces}'",
        f"{p}.model = 'acgan'", f"{p}.generator = 'acgan'",
        f"{p}.reference_frozen_block2 = True", f"{p}.d_steps = 2",
        "CONDITION = 'hair_color'"], steps=4)
  finally:
    conditional.ConditionalLatentGANMethod.build = build
  assert all(np.isfinite(v) for v in losses.values())
  for name in ("d_class", "g_class", "d_class_accuracy"):
    assert name in losses
  d = method.discriminator
  assert fx.changed(captured["block1"], fx.arrays(d.block1))
  assert not fx.changed(captured["block2"], fx.arrays(d.block2))
  # G updates on steps 1 and 3 only (every 2nd); D and its class head on each.
  assert int(method.g_optimizer.iterations.numpy()) == 2
  assert int(method.d_optimizer.iterations.numpy()) == 4
  assert int(method.classifier_optimizer.iterations.numpy()) == 4
  fx.assert_replicas_identical(method.generator.trainable_variables)


def test_bad_settings_are_one_clear_error():
  with pytest.raises(ValueError, match="model"):
    conditional.ConditionalLatentGANMethod(autoencoder="x", model="infogan")
  with pytest.raises(ValueError, match="d_steps"):
    conditional.ConditionalLatentGANMethod(autoencoder="x", d_steps=0)
  with pytest.raises(ValueError, match="unknown condition"):
    conditional.ConditionalLatentGANMethod(autoencoder="x", condition="age")


@pytest.mark.parametrize("model", ["projection", "acgan"])
def test_continuous_conditions_train_eagerly(model, faces, autoencoder_file):
  """A factor slice (yaw in radians) as the condition: one eager step."""
  spec = "factor:pose[1:2]"
  method = conditional.ConditionalLatentGANMethod(
      autoencoder=autoencoder_file, condition=spec, model=model, hidden=8,
      gan_loss="non_saturating")
  method.global_step = tf.Variable(0, dtype=tf.int64)
  method.global_batch_size = 4
  method.build()
  batch = next(iter(data.latent_codes_dataset(
      4, autoencoder=autoencoder_file, path=faces, condition=spec,
      heldout_modulus=fx.HELDOUT_MODULUS)))
  assert batch["label"].shape == (4, 1)
  losses = method.train_step(batch)
  assert all(np.isfinite(float(v)) for v in losses.values())
  assert set(method.image_summaries()) == {"reconstructions",
                                           "edit_partner_condition"}
