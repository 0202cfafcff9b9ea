"""StyleRig's losses against hand-computed values, and the index surgery."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.stylerig import losses
from tfface.methods.stylerig import networks


def test_photometric_loss_is_the_masked_mean_per_pixel():
  images = np.zeros([1, 2, 2, 3], np.float32)
  rendered = np.zeros([1, 2, 2, 3], np.float32)
  rendered[0, 0, 0] = 1.0          # squared error 3 (in the mask)
  rendered[0, 0, 1] = 2.0          # 12 (in the mask)
  rendered[0, 1, 1] = 5.0          # 75, masked out
  mask = np.zeros([1, 2, 2, 1], np.float32)
  mask[0, 0, :] = 1.0
  value = losses.photometric_loss(images, rendered, mask)
  np.testing.assert_allclose(value.numpy(), (3 + 12) / 2)
  # An empty mask gives 0, not NaN.
  assert losses.photometric_loss(images, rendered, 0 * mask).numpy() == 0


def test_landmark_loss_in_image_side_units():
  target = np.array([[[0.0, 0.0], [3.0, 4.0]]], np.float32)
  predicted = np.zeros_like(target)
  np.testing.assert_allclose(
      losses.landmark_loss(target, predicted, 5).numpy(), (0 + 1) / 2)
  np.testing.assert_allclose(
      losses.landmark_loss(target, predicted, 5, [1.0, 3.0]).numpy(),
      (0 + 3 * 1) / 4)


def test_rendering_loss_adds_weighted_landmarks():
  images = np.zeros([1, 1, 1, 3], np.float32)
  rendered = np.ones([1, 1, 1, 3], np.float32)
  mask = np.ones([1, 1, 1, 1], np.float32)
  target = np.array([[[2.0, 0.0]]], np.float32)
  total, photo, land = losses.rendering_loss(
      images, rendered, mask, target, np.zeros_like(target), 4, 10.0)
  np.testing.assert_allclose([total, photo, land], [3 + 10 * 0.25, 3, 0.25])


def test_statistical_regularizer_value_and_gradient():
  identity = tf.Variable([[1.0, 2.0], [0.0, -1.0]])
  expression = tf.Variable([[3.0], [1.0]])
  weights = {"identity": 0.5, "expression": 2.0}
  with tf.GradientTape() as tape:
    value = losses.statistical_regularizer(
        {"identity": identity, "expression": expression, "pose": identity},
        weights)
  # mean over the batch of 0.5 |id|² + 2 |expr|²: (2.5 + 18 + 0.5 + 2) / 2.
  np.testing.assert_allclose(value.numpy(), (0.5 * 5 + 18 + 0.5 * 1 + 2) / 2)
  g_id, g_expr = tape.gradient(value, [identity, expression])
  # d/dp of λ p² / B = 2 λ p / B.
  np.testing.assert_allclose(g_id.numpy(), 2 * 0.5 * identity.numpy() / 2)
  np.testing.assert_allclose(g_expr.numpy(), 2 * 2.0 * expression.numpy() / 2)
  with pytest.raises(ValueError, match="albedo"):
    losses.statistical_regularizer({"identity": identity}, {"albedo": 1.0})


def test_latent_reconstruction_loss():
  w = np.zeros([1, 2, 2], np.float32)
  w_hat = np.array([[[1.0, 0.0], [0.0, 3.0]]], np.float32)
  np.testing.assert_allclose(
      losses.latent_reconstruction_loss(w_hat, w).numpy(), (1 + 9) / 4)


def test_index_surgery_picks_the_mode_slices():
  layout = networks.ParameterLayout.named("procedural")
  # identity 0:25 expression 25:49 albedo 49:59 gaze 59:61 beard 61:64
  # pose 64:67 sh 67:94 translation 94:97.
  np.testing.assert_array_equal(layout.mode_indices("pose"), [64, 65, 66])
  np.testing.assert_array_equal(layout.mode_indices("illumination"),
                                np.arange(67, 94))
  np.testing.assert_array_equal(layout.mode_indices("expression"),
                                np.arange(25, 49))
  np.testing.assert_array_equal(
      layout.mode_indices("identity"),
      np.concatenate([np.arange(0, 25), np.arange(49, 59)]))
  k = layout.mode_indices("pose")
  p_v = tf.constant(np.arange(97, dtype=np.float32)[None] + 1000)
  p_hat = tf.constant(-np.arange(97, dtype=np.float32)[None])
  p_w = tf.constant(np.arange(97, dtype=np.float32)[None] + 2000)
  edit = losses.edit_parameters(p_v, p_hat, k).numpy()[0]
  expected = np.arange(97) + 1000.0
  expected[64:67] = [-64, -65, -66]
  np.testing.assert_array_equal(edit, expected)
  consist = losses.consistency_parameters(p_hat, p_w, k).numpy()[0]
  expected = -np.arange(97, dtype=np.float64)
  expected[64:67] = [2064, 2065, 2066]
  np.testing.assert_array_equal(consist, expected)
  bfm = networks.ParameterLayout.named("bfm257")
  np.testing.assert_array_equal(bfm.mode_indices("pose"), [224, 225, 226])
  np.testing.assert_array_equal(bfm.mode_indices("illumination"),
                                np.arange(227, 254))
  with pytest.raises(ValueError, match="mode"):
    layout.mode_indices("hair")
  with pytest.raises(ValueError, match="indices"):
    losses.index_mask([97], 97)
