"""Pixel norm and minibatch standard deviation."""

import numpy as np
import pytest
import tensorflow as tf

from tfface import layers


def test_pixel_norm_gives_unit_mean_square():
  x = tf.random.normal([4, 10]) * 7.0
  y = layers.pixel_norm(x).numpy()
  np.testing.assert_allclose((y**2).mean(axis=1), 1.0, rtol=1e-5)


def test_minibatch_stddev_matches_rosinality_grouping():
  rng = np.random.default_rng(0)
  x = rng.standard_normal([8, 3, 3, 4]).astype(np.float32)
  y = layers.minibatch_stddev(tf.constant(x), group_size=4).numpy()
  assert y.shape == (8, 3, 3, 5)
  np.testing.assert_array_equal(y[..., :4], x)
  # Samples j, j+2, j+4, j+6 form a group (view(group, -1, ...)).
  for j in range(2):
    members = x[j::2]
    expected = np.sqrt(members.var(axis=0) + 1e-8).mean()
    for b in range(j, 8, 2):
      np.testing.assert_allclose(y[b, :, :, 4], expected, rtol=1e-5)


def test_minibatch_stddev_rejects_indivisible_batch():
  with pytest.raises(ValueError, match="divisible"):
    layers.minibatch_stddev(tf.zeros([6, 2, 2, 1]), group_size=4)
