"""VGG perceptual loss: zero for identical images, the pixel L1 term."""

import pytest
import tensorflow as tf

from tfface.losses import perceptual


def _images(seed, n=2, size=32):
  return tf.random.stateless_uniform([n, size, size, 3], [seed, 0], -1, 1)


def test_zero_for_identical_positive_for_different():
  loss = perceptual.PerceptualLoss(width=0.125)
  a, b = _images(1), _images(2)
  assert float(loss(a, a)) == pytest.approx(0.0, abs=1e-6)
  assert float(loss(a, b)) > 0
  per = loss.per_example(a, tf.concat([a[:1], b[1:]], 0))
  assert float(per[0]) == pytest.approx(0.0, abs=1e-6) and float(per[1]) > 0


def test_pixel_l1_term_adds_mean_abs_difference():
  a, b = _images(1), _images(2)
  plain = perceptual.PerceptualLoss(width=0.125)
  with_l1 = perceptual.PerceptualLoss(width=0.125, pixel_l1_weight=2.0)
  with_l1(a, b)
  plain(a, b)
  with_l1.features.set_weights(plain.features.get_weights())
  expected = float(plain(a, b)) + 2.0 * float(tf.reduce_mean(tf.abs(a - b)))
  assert float(with_l1(a, b)) == pytest.approx(expected, rel=1e-5)
