"""DiscoFaceGAN's imitative losses against hand-computed values."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.losses import imitative


def _img(pixels):
  """[[r, g, b], ...] -> [1, 1, N, 3]."""
  return tf.constant(np.asarray(pixels, np.float32)[None, None])


def _mask(values):
  return tf.constant(np.asarray(values, np.float32)[None, None, :, None])


def test_pixel_loss_is_masked_mean_distance():
  fake = _img([[0, 0, 0], [0, 0, 0]])
  render = _img([[0.3, 0.4, 0.0], [0.6, 0.8, 0.0]])
  # Only pixel 0 counts: |(0.3, 0.4, 0)| = 0.5.
  np.testing.assert_allclose(
      imitative.pixel_loss(fake, render, _mask([1, 0])), 0.5, atol=1e-6)
  # Both: (0.5 + 1.0) / 2.
  np.testing.assert_allclose(
      imitative.pixel_loss(fake, render, _mask([1, 1])), 0.75, atol=1e-6)


def test_landmark_sh_identity_skin_losses():
  a = tf.zeros([1, 2, 2])
  b = tf.constant([[[2.0, 0.0], [0.0, 0.0]]])
  # ((2 / 4)^2 + 0 + 0 + 0) / 4.
  np.testing.assert_allclose(imitative.landmark_loss(a, b, 4), 0.0625,
                             atol=1e-7)
  np.testing.assert_allclose(
      imitative.sh_loss(tf.fill([2, 27], 0.5), tf.zeros([2, 27])), 0.5)
  # Pair 1 orthogonal (1 - cos = 1), pair 2 identical (floored at 0.3).
  e1 = tf.constant([[1.0, 0.0], [3.0, 4.0]])
  e2 = tf.constant([[0.0, 2.0], [3.0, 4.0]])
  np.testing.assert_allclose(imitative.identity_loss(e1, e2), 0.65,
                             atol=1e-6)
  np.testing.assert_allclose(imitative.identity_loss(e1, e2, 0.0), 0.5,
                             atol=1e-6)
  fake = _img([[0.2, 0.0, 0.0], [1.0, 1.0, 1.0]])
  render = _img([[0.0, 0.0, 0.0], [-1.0, -1.0, -1.0]])
  # Mask keeps pixel 0: sqrt(0.2^2) = 0.2 (pixel 1 is ignored).
  np.testing.assert_allclose(
      imitative.skin_color_loss(fake, render, _mask([1, 0])), 0.2, atol=1e-6)
  np.testing.assert_array_equal(
      imitative.masked_face(fake, _mask([1, 0])).numpy()[0, 0, 1], [-1] * 3)


def test_resolution_switch_and_weights():
  fake = tf.zeros([2, 4, 4, 3])
  render = tf.fill([2, 4, 4, 3], 0.0) + tf.constant([0.3, 0.4, 0.0])
  mask = tf.ones([2, 4, 4, 1])

  def recon(images):
    batch = tf.shape(images)[0]
    return {"sh": tf.ones([batch, 27]),
            "landmarks": tf.zeros([batch, 68, 2])}

  def embed(images):
    return tf.reshape(images, [tf.shape(images)[0], -1])[:, :2] + 1.0

  loss = imitative.ImitativeLoss(recon, embed)
  low = loss(fake, render, mask, tf.zeros([2, 68, 2]), tf.zeros([2, 27]),
             resolution=32)
  assert sorted(low) == ["imitative_pixel"]
  np.testing.assert_allclose(low["imitative_pixel"], 20 * 0.5, rtol=1e-5)
  lm = tf.concat([tf.fill([2, 1, 2], 4.0), tf.zeros([2, 67, 2])], axis=1)
  high = loss(fake, render, mask, lm, tf.zeros([2, 27]), resolution=64)
  assert sorted(high) == ["imitative_identity", "imitative_landmarks",
                          "imitative_sh", "imitative_skin"]
  # Landmarks: one point off by (4, 4) px at 4 px -> 2·1 / (68·2) per image.
  np.testing.assert_allclose(high["imitative_landmarks"],
                             500 * 2.0 / 136, rtol=1e-5)
  np.testing.assert_allclose(high["imitative_sh"], 10 * 1.0, rtol=1e-6)
  np.testing.assert_allclose(high["imitative_skin"], 20 * 0.5, rtol=1e-5)
  # Masked fake (0) and render (0.3, 0.4) embed to (1, 1) and (1.3, 1.4).
  cos = (1.3 + 1.4) / (np.sqrt(2) * np.hypot(1.3, 1.4))
  np.testing.assert_allclose(high["imitative_identity"],
                             3 * max(0.3, 1 - cos), rtol=1e-5)
  stage2 = imitative.ImitativeLoss(recon, None, {"landmarks": 100.0})
  out = stage2(fake, render, mask, lm, tf.zeros([2, 27]), resolution=64)
  assert "imitative_identity" not in out
  np.testing.assert_allclose(out["imitative_landmarks"], 100 * 2.0 / 136,
                             rtol=1e-5)
  with pytest.raises(ValueError, match="unknown imitative"):
    imitative.ImitativeLoss(weights={"lm": 1.0})


def test_expression_term_is_off_by_default_and_reads_the_net():
  fake = tf.zeros([2, 4, 4, 3])
  mask = tf.ones([2, 4, 4, 1])

  def recon(images):
    batch = tf.shape(images)[0]
    return {"sh": tf.zeros([batch, 27]), "landmarks": tf.zeros([batch, 68, 2]),
            "expression": tf.fill([batch, 24], 0.25)}

  args = (fake, fake, mask, tf.zeros([2, 68, 2]), tf.zeros([2, 27]))
  off = imitative.ImitativeLoss(recon, None)(*args, resolution=64)
  assert "imitative_expression" not in off
  loss = imitative.ImitativeLoss(recon, None, {"expression": 8.0})
  target = tf.concat([tf.fill([2, 12], 1.0), tf.fill([2, 12], 0.25)], -1)
  on = loss(*args, resolution=64, target_expression=target)
  # |0.25 - 1| on half the blendshapes, 0 on the rest.
  np.testing.assert_allclose(on["imitative_expression"], 8.0 * 0.375,
                             rtol=1e-6)
  assert "imitative_expression" not in loss(*args, resolution=16)
  with pytest.raises(ValueError, match="target_expression"):
    loss(*args, resolution=64)
