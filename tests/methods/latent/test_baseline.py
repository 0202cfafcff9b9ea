"""The baseline AE: nearest-landmark arithmetic by hand, a few steps under
MirroredStrategy from baseline_test.gin, its weights file."""

import numpy as np
import pytest
import tensorflow as tf

from tests.methods.latent import conftest as fx
from tfface.methods.latent import baseline
from tfface.methods.latent import codes


def test_nearest_landmark_shift_by_hand():
  bank_z = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [10.0, 10.0]],
                    np.float32)
  bank_landmarks = np.array([0.0, 1.0, 2.0, 9.0], np.float32).reshape(4, 1, 1)
  target = np.array([[[0.4]], [[8.0]]], np.float32)
  shift = baseline.nearest_landmark_shift(target, bank_z, bank_landmarks, k=2)
  mean_all = bank_z.mean(0)  # (3, 3.5)
  np.testing.assert_allclose(shift[0], [1.0, 0.0] - mean_all)   # rows 0, 1
  np.testing.assert_allclose(shift[1], [5.0, 7.0] - mean_all)   # rows 2, 3
  z = np.array([[1.0, 1.0], [0.0, 0.0]], np.float32)
  np.testing.assert_allclose(
      baseline.latent_arithmetic(z, target, bank_z, bank_landmarks, 2),
      z + shift)
  np.testing.assert_allclose(
      baseline.latent_arithmetic(z, target, bank_z, bank_landmarks, 2,
                                 baseline.NOTEBOOK_ARITHMETIC),
      0.7 * z + 1.5 * shift, rtol=1e-6)
  # k larger than the bank: every face.
  np.testing.assert_allclose(
      baseline.nearest_landmark_shift(target, bank_z, bank_landmarks, 100),
      np.zeros([2, 2]), atol=1e-6)


def test_baseline_steps_under_mirrored_strategy(faces, tmp_path):
  method, losses = fx.gin_run("baseline_test.gin", tmp_path / "run",
                              [f"DATA = '{faces}'"], steps=3)
  assert all(np.isfinite(v) for v in losses.values())
  assert losses["landmark_mse"] > 0 and losses["perceptual"] > 0
  fx.assert_replicas_identical(method.model.trainable_variables)
  ae = method.autoencoder()
  assert ae.code_size == 64
  z = ae.encode(tf.zeros([2, 16, 16, 3]))
  points = ae.landmarks(z)
  assert points.shape == (2, 68, 2)
  assert 0 <= float(tf.reduce_min(points)) <= float(tf.reduce_max(points)) <= 16
  path = str(tmp_path / "baseline.npz")
  codes.save_autoencoder(path, ae)
  loaded = codes.load_autoencoder(path)
  np.testing.assert_allclose(loaded.landmarks(z), points, atol=1e-5)
  np.testing.assert_allclose(loaded.decode(z), ae.decode(z), atol=1e-5)


def test_sizes_must_mirror():
  with pytest.raises(ValueError, match="multiple of 16"):
    baseline.LatentBaselineMethod(image_size=40)
