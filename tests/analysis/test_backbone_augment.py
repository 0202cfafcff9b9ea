"""The analysis trunk and the training augmentation."""

import numpy as np
import tensorflow as tf

from tfface.analysis import augment
from tfface.analysis import backbone


def test_backbone_returns_every_stage_at_its_resolution():
  trunk = backbone.ResidualBackbone((4, 8, 16), blocks_per_stage=2)
  maps = trunk(tf.zeros([2, 32, 32, 3]), training=False)
  assert [m.shape for m in maps] == [(2, 32, 32, 4), (2, 16, 16, 8),
                                     (2, 8, 8, 16)]
  # 3 stages x 2 blocks, each tracked (Keras 3 ignores plain lists).
  assert len([v for v in trunk.trainable_weights if "conv_1" in v.path]) == 6
  assert backbone.resize_to(tf.zeros([1, 8, 8, 3]), 8).shape == (1, 8, 8, 3)
  assert backbone.resize_to(tf.zeros([1, 8, 8, 3]), 4).shape == (1, 4, 4, 3)


def _blob_image(size=32):
  """A white disc at (20, 10) (x, y) on black, and its centre."""
  ys, xs = np.mgrid[0:size, 0:size] + 0.5
  disc = ((xs - 20.0)**2 + (ys - 10.0)**2 < 9.0).astype(np.float32)
  image = np.repeat(disc[None, ..., None], 3, -1) * 2.0 - 1.0
  return tf.constant(image), np.array([[[20.0, 10.0]]], np.float32)


def test_similarity_moves_landmarks_and_classes_with_the_image():
  image, centre = _blob_image()
  classes = tf.cast(image[..., 0] > 0, tf.int32)
  for salt in range(4):
    out, points, out_classes = augment.similarity(
        image, tf.constant([7, salt]), tf.constant(centre), classes,
        max_rotation_degrees=20, max_scale=0.2, max_shift=0.1)
    weight = (out.numpy()[0, ..., 0] + 1.0) / 2.0
    ys, xs = np.mgrid[0:32, 0:32] + 0.5
    found = np.array([(weight * xs).sum(), (weight * ys).sum()]) / weight.sum()
    np.testing.assert_allclose(points.numpy()[0, 0], found, atol=0.35)
    agree = np.mean(out_classes.numpy()[0] == (weight > 0.5))
    assert agree > 0.98
  # Zero ranges are the identity.
  same, points, _ = augment.similarity(image, tf.constant([1, 2]),
                                       tf.constant(centre), None, 0.0, 0.0,
                                       0.0)
  np.testing.assert_allclose(same, image, atol=1e-5)
  np.testing.assert_allclose(points, centre, atol=1e-5)


def test_photometric_stays_in_range_changes_images_and_is_seeded():
  image = tf.random.uniform([4, 32, 32, 3], -1, 1, seed=3)
  a = augment.photometric(image, tf.constant([1, 2]))
  b = augment.photometric(image, tf.constant([1, 2]))
  c = augment.photometric(image, tf.constant([1, 3]))
  assert a.shape == image.shape
  assert float(tf.reduce_min(a)) >= -1.0 and float(tf.reduce_max(a)) <= 1.0
  np.testing.assert_array_equal(a, b)
  assert float(tf.reduce_max(tf.abs(a - c))) > 0.05
  assert float(tf.reduce_mean(tf.abs(a - image))) > 0.02
  off = augment.photometric(image, tf.constant([1, 2]), strength=0.0,
                            max_blur_sigma=0.0, max_noise=0.0,
                            low_resolution_probability=0.0)
  np.testing.assert_allclose(off, image, atol=1e-5)


def test_gaussian_blur_keeps_the_mean_and_smooths():
  image = tf.random.uniform([2, 16, 16, 1], 0, 1, seed=4)
  out = augment.gaussian_blur(image, tf.constant([0.0, 1.5]))
  np.testing.assert_allclose(out[0], image[0])
  assert float(tf.math.reduce_std(out[1])) < float(
      tf.math.reduce_std(image[1]))
  np.testing.assert_allclose(float(tf.reduce_mean(out[1])),
                             float(tf.reduce_mean(image[1])), atol=0.02)
