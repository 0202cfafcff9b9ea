"""ACAI: the critic's target and regulariser by hand, the interpolation, the
perceptual weights and their typo, a few-step run under MirroredStrategy from
acai_test.gin, the run as a frozen autoencoder (read by a child process), the
cached codes table."""

import numpy as np
import pytest
import tensorflow as tf

from tests.methods.latent import conftest as fx
from tfface.methods.latent import acai
from tfface.methods.latent import codes


def test_critic_target_and_regularizer_by_hand():
  c_mix = tf.constant([[0.1], [0.4], [-0.2]])
  alpha = tf.constant([[0.0], [0.5], [0.25]])
  c_blend = tf.constant([[0.3], [-0.1], [0.2]])
  alpha_loss, reg = acai.acai_critic_losses(c_mix, alpha, c_blend)
  # ((0.1-0)^2 + (0.4-0.5)^2 + (-0.2-0.25)^2) / 3 and (0.09+0.01+0.04) / 3.
  np.testing.assert_allclose(alpha_loss, (0.01 + 0.01 + 0.2025) / 3, rtol=1e-6)
  np.testing.assert_allclose(reg, 0.14 / 3, rtol=1e-6)
  _, summed = acai.acai_critic_losses(c_mix, alpha, c_blend, batch_sums=True,
                                      global_batch_size=3)
  np.testing.assert_allclose(summed, 0.14, rtol=1e-6)


def test_interpolation_mixes_each_code_with_the_next_by_alpha():
  code = tf.constant([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
  alpha = tf.constant([[0.5], [0.0], [0.25]])
  # Partner = the batch shifted by one: rows 2, 0, 1.
  np.testing.assert_allclose(acai.mix_codes(code, alpha),
                             [[1.5, 1.0], [0.0, 1.0], [1.5, 1.75]])
  a = acai.interpolation_alpha(1000, tf.constant([1, 2]))
  assert 0.0 <= float(tf.reduce_min(a)) and float(tf.reduce_max(a)) <= 0.5
  assert abs(float(tf.reduce_mean(a)) - 0.25) < 0.02


def test_perceptual_levels_and_the_reference_typo():
  fixed = acai.ACAIMethod(image_size=16, scales=3, depth=2, latent_channels=1)
  typo = acai.ACAIMethod(image_size=16, scales=3, depth=2, latent_channels=1,
                         reference_perceptual_typo=True)
  assert fixed.level_weights == (1.0, 0.2, 0.1)
  np.testing.assert_allclose(typo.level_weights, (1.0, 0.3, 0.0))
  loss = acai.LevelPerceptualLoss(level_weights=typo.level_weights,
                                  width=0.0625)
  loss.build(16)
  a = tf.random.uniform([2, 16, 16, 3], -1, 1, seed=1)
  b = tf.random.uniform([2, 16, 16, 3], -1, 1, seed=2)
  levels = loss.levels(a, b).numpy()
  assert levels.shape == (3,) and np.all(levels > 0)
  np.testing.assert_allclose(loss(a, b), levels[0] + 0.3 * levels[1],
                             rtol=1e-5)


def test_sizes_that_do_not_decode_back_are_refused():
  with pytest.raises(ValueError, match="decodes to"):
    acai.ACAIMethod(image_size=20, scales=3)


@pytest.fixture(scope="module")
def run(faces, tmp_path_factory):
  model_dir = tmp_path_factory.mktemp("acai") / "run"
  method, losses = fx.gin_run("acai_test.gin", model_dir,
                              [f"DATA = '{faces}'"], steps=3)
  return method, losses, str(model_dir)


def test_few_steps_under_mirrored_strategy(run):
  method, losses, _ = run
  assert all(np.isfinite(v) for v in losses.values())
  for name in ("ae_mse", "ae_perceptual", "critic_alpha"):
    assert losses[name] > 0
  fx.assert_replicas_identical(method.model.trainable_variables +
                               method.critic.trainable_variables)
  assert int(method.ae_optimizer.iterations.numpy()) == 3
  images = tf.random.uniform([2, 16, 16, 3], -1, 1, seed=3)
  assert method.model.encode(images).shape == (2, 8)
  assert method.image_summaries()["interpolation"].shape[1:] == (16, 16, 3)


def test_the_run_is_a_frozen_autoencoder(run):
  method, _, model_dir = run
  loaded = codes.load_autoencoder(model_dir)  # written by a child process
  assert loaded.weights_metadata["step"] == 3
  images = tf.random.uniform([3, 16, 16, 3], -1, 1, seed=4)
  np.testing.assert_allclose(loaded.encode(images), method.model.encode(images),
                             atol=1e-5)
  assert not loaded.trainable_variables
  # Its export module (saved and probed in test_export.py).
  module, signatures = method.export_signatures()
  assert sorted(signatures) == ["decode", "encode"]
  assert module.export_metadata()["code_size"] == 8


def test_codes_table_is_encoded_once_and_cached(faces, autoencoder_file):
  table = codes.cached_codes(autoencoder_file, faces)
  assert table["z"].shape == (fx.NUM_FACES, 8)
  assert table["landmarks"].shape == (fx.NUM_FACES, 68, 2)
  assert list(table["identity"][:5]) == [0, 0, 0, 0, 1]
  assert "factor/hair_color" in table and "factor/pose" in table
  ae = codes.load_autoencoder(autoencoder_file)
  first = next(iter(tf.data.Dataset.from_tensor_slices(table["z"][:2])))
  assert first.shape == (8,)
  cache = [p for p in __import__("os").listdir(
      __import__("os").path.dirname(autoencoder_file)) if p.startswith("codes-")]
  assert len(cache) == 1
  again = codes.cached_codes(autoencoder_file, faces, autoencoder=ae)
  np.testing.assert_array_equal(again["z"], table["z"])
  held = codes.heldout_mask(table["identity"], fx.HELDOUT_MODULUS)
  assert held.sum() == 8 and set(table["identity"][held]) == {3, 7}


def test_load_autoencoder_errors_name_the_path(tmp_path):
  with pytest.raises(FileNotFoundError, match="no autoencoder"):
    codes.load_autoencoder(str(tmp_path / "missing"))
  with pytest.raises(ValueError, match="operative_config"):
    codes.load_autoencoder(str(tmp_path))
  bad = tmp_path / "bad.npz"
  np.savez(bad, config=np.asarray('{"network": {}}'))
  with pytest.raises(codes.WeightsError, match="not an autoencoder"):
    codes.load_autoencoder(str(bad))
