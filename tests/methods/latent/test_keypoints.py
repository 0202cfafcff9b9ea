"""The keypoint mapper: keypoint normalisation, the gradient penalty by hand,
the adversarial gradient reaching R (regression test for the reference's
cancelled gradient), identity pairs, a few steps under MirroredStrategy from
keypoints_test.gin, the decoder's identity fine-tuning."""

import numpy as np
import pytest
import tensorflow as tf

from tests.methods.latent import conftest as fx
from tfface import training
from tfface.methods.latent import codes
from tfface.methods.latent import data
from tfface.methods.latent import keypoints


def test_keypoints_are_normalised_to_the_image():
  points = tf.constant([[[0.0, 16.0], [8.0, 4.0]] + [[8.0, 8.0]] * 66])
  c = keypoints.normalize_keypoints(points, 16)
  assert c.shape == (1, 136)
  np.testing.assert_allclose(c[0, :4], [-1.0, 1.0, 0.0, -0.5])
  raw = keypoints.normalize_keypoints(points, 16, reference_pixels=True)
  np.testing.assert_allclose(raw[0, :4], [0.0, 16.0, 8.0, 4.0])
  image = tf.constant([[-1.0, 0.0, 1.0]])
  np.testing.assert_allclose(keypoints.detector_input(image), image)
  np.testing.assert_allclose(keypoints.detector_input(image, True),
                             [[-3.0, -1.0, 1.0]])


def test_gradient_penalty_of_a_linear_critic_by_hand():
  """C(z, c) = a.z + b.c has gradient (a, b) everywhere: GP = (|(a, b)| - 1)^2."""
  a = tf.constant([[3.0], [0.0]])
  b = tf.constant([[0.0], [4.0], [0.0]])
  critic = lambda z, c: z @ a + c @ b  # noqa: E731
  real = (tf.random.normal([5, 2]), tf.random.normal([5, 3]))
  fake = (tf.random.normal([5, 2]), tf.random.normal([5, 3]))
  gp = keypoints.gradient_penalty(critic, real, fake, tf.constant([1, 2]))
  np.testing.assert_allclose(gp, (5.0 - 1.0) ** 2, rtol=1e-5)


def test_identity_pairs_use_the_mean_code_as_source(faces, autoencoder_file):
  table = codes.cached_codes(autoencoder_file, faces)
  pairs = data.keypoint_pairs(table, "train", fx.HELDOUT_MODULUS)
  assert pairs["z_source"].shape == (24, 8)
  assert set(pairs["identity"]) == {0, 1, 2, 4, 5, 6}
  members = np.flatnonzero(table["identity"] == 0)
  np.testing.assert_allclose(pairs["z_source"][0],
                             table["z"][members].mean(0), rtol=1e-5)
  np.testing.assert_allclose(pairs["keypoints_source"][0],
                             table["landmarks"][members].mean(0), rtol=1e-5)
  np.testing.assert_array_equal(pairs["z_target"][:4], table["z"][members])


def _method(autoencoder_file, **kwargs):
  m = keypoints.KeypointMapperMethod(autoencoder=autoencoder_file,
                                     mapper_layers=2, critic_layers=2,
                                     **kwargs)
  m.global_step = tf.Variable(0, dtype=tf.int64)
  m.global_batch_size = 8
  m.build()
  return m


def _batch(faces, autoencoder_file):
  table = codes.cached_codes(autoencoder_file, faces)
  pairs = data.keypoint_pairs(table, "train", fx.HELDOUT_MODULUS)
  return {k: tf.constant(v[::3][:8]) for k, v in pairs.items()
          if k != "identity"}


def test_the_adversarial_gradient_reaches_the_mapper(faces, autoencoder_file):
  """With the L1 terms off, R's update is the adversarial gradient alone:
  non-zero with the fix, exactly cancelled with the reference's summed
  backward passes."""
  batch = _batch(faces, autoencoder_file)
  tf.keras.utils.set_random_seed(1)
  fixed = _method(autoencoder_file, target_weight=0.0, cycle_weight=0.0)
  grads = fixed.mapper_update_gradients(batch)
  assert max(float(tf.reduce_max(tf.abs(g))) for g in grads) > 1e-4
  tf.keras.utils.set_random_seed(1)
  reference = _method(autoencoder_file, target_weight=0.0, cycle_weight=0.0,
                      reference_cancelled_gradient=True)
  grads = reference.mapper_update_gradients(batch)
  assert max(float(tf.reduce_max(tf.abs(g))) for g in grads) < 1e-6
  # With the L1 terms on, the reference's R learns from them alone.
  tf.keras.utils.set_random_seed(1)
  l1_only = _method(autoencoder_file, adversarial_weight=0.0)
  tf.keras.utils.set_random_seed(1)
  reference = _method(autoencoder_file, reference_cancelled_gradient=True)
  for a, b in zip(l1_only.mapper_update_gradients(batch),
                  reference.mapper_update_gradients(batch)):
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_mapper_steps_under_mirrored_strategy(faces, autoencoder_file,
                                              tmp_path):
  method, losses = fx.gin_run("keypoints_test.gin", tmp_path / "run", [
      f"AUTOENCODER = '{autoencoder_file}'", f"DATA = '{faces}'"], steps=3)
  assert all(np.isfinite(v) for v in losses.values())
  assert losses["critic_gp"] > 0 and losses["mapper_target_l1"] > 0
  fx.assert_replicas_identical(method.mapper.trainable_variables +
                               method.critic.trainable_variables)
  assert int(method.critic_optimizer.iterations.numpy()) == 3
  mapped = method.map(tf.random.normal([2, 8]), tf.fill([2, 68, 2], 8.0))
  assert mapped.shape == (2, 8) and float(tf.reduce_min(mapped)) < 0
  assert method.image_summaries()["mapped"].shape[1:] == (16, 16, 3)


def test_decoder_finetuning_trains_only_the_decoder(faces, autoencoder_file,
                                                    tmp_path):
  method = keypoints.DecoderFinetuneMethod(autoencoder=autoencoder_file,
                                           vgg_width=0.0625, pixel_weight=1.0,
                                           learning_rate=1e-2)
  dataset = data.latent_image_dataset(4, path=faces, image_size=16,
                                      identities=(0, 1))
  before = {}
  build = method.build

  def build_and_record():
    build()
    before["encoder"] = fx.arrays(method.model.encoder)
    before["decoder"] = fx.arrays(method.model.decoder)

  method.build = build_and_record
  losses = training.run_training(
      method, dataset, str(tmp_path / "run"),
      training.LoopConfig(max_steps=2, checkpoint_every=2, image_every=0,
                          summary_every=0, log_every=2))
  assert np.isfinite(losses["total"]) and losses["perceptual"] > 0
  assert not fx.changed(before["encoder"], fx.arrays(method.model.encoder))
  assert fx.changed(before["decoder"], fx.arrays(method.model.decoder))
  batch = next(iter(dataset))
  assert set(np.asarray(batch["identity"])) <= {0, 1}
  path = str(tmp_path / "finetuned.npz")
  codes.save_autoencoder(path, method.autoencoder())
  z = tf.random.normal([2, 8])
  np.testing.assert_allclose(codes.load_autoencoder(path).decode(z),
                             method.model.decode(z), atol=1e-5)


def test_bad_settings_are_one_clear_error():
  with pytest.raises(ValueError, match="cycle"):
    keypoints.KeypointMapperMethod(autoencoder="x", cycle="both")
  with pytest.raises(ValueError, match="critic_steps must be 1"):
    keypoints.KeypointMapperMethod(autoencoder="x", critic_steps=2,
                                   reference_cancelled_gradient=True)


def test_reference_options_train_eagerly(faces, autoencoder_file):
  """The paper's cycle, the target as the critic's real pair, the reference's
  BatchNorm critic and pixel keypoints: one eager step each way."""
  batch = _batch(faces, autoencoder_file)
  for reference in (False, True):
    method = _method(autoencoder_file, cycle="paper", critic_real="target",
                     critic_norm="batch", reference_pixel_keypoints=True,
                     reference_cancelled_gradient=reference)
    losses = method.train_step(batch)
    assert all(np.isfinite(float(v)) for v in losses.values())
    assert int(method.mapper_optimizer.iterations.numpy()) == 1
  assert method.keypoint_convention().startswith("R sees raw pixel")
