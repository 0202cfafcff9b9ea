"""DiscoFaceGAN's contrastive losses (tfface.losses.contrastive)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfface.losses import contrastive
from tests.layers.test_image_warp import numpy_warp


def numpy_blur(images, size=5, sigma=2.0):
  """Zero-padded 'SAME' Gaussian blur, loop by loop."""
  r = size // 2
  k = np.array([[math.exp(-(i * i + j * j) / (2 * sigma ** 2))
                 for j in range(-r, r + 1)] for i in range(-r, r + 1)])
  k /= k.sum()
  padded = np.pad(images, [(0, 0), (r, r), (r, r), (0, 0)])
  out = np.zeros_like(images, np.float64)
  for i in range(size):
    for j in range(size):
      out += k[i, j] * padded[:, i:i + images.shape[1], j:j + images.shape[2]]
  return out


def test_gaussian_kernel_is_the_reference_kernel():
  kernel = contrastive.gaussian_kernel(5, 2.0)
  assert kernel.shape == (5, 5) and kernel.sum() == pytest.approx(1.0)
  # Centre over corner: exp(0) / exp(-(4 + 4) / 8).
  assert kernel[2, 2] / kernel[0, 0] == pytest.approx(math.e, rel=1e-6)
  with pytest.raises(ValueError, match="odd"):
    contrastive.gaussian_kernel(4)


def test_expression_warp_loss_hand_values():
  # Constant faces, zero flow; the loss mask keeps one pixel.
  c1, c2 = np.array([0.2, -0.4, 0.1]), np.array([0.5, 0.0, -0.1])
  fake_1 = np.tile(c1, [1, 5, 5, 1]).astype(np.float32)
  fake_2 = np.tile(c2, [1, 5, 5, 1]).astype(np.float32)
  flow = np.zeros([1, 5, 5, 2], np.float32)
  mask_2 = np.zeros([1, 5, 5, 1], np.float32)
  mask_1 = np.ones([1, 5, 5, 1], np.float32)
  mask_1[0, 2, 2] = 0.0   # the centre: the whole 5x5 kernel is inside
  loss = contrastive.expression_warp_loss(fake_1, fake_2, flow, mask_1,
                                          mask_2)
  expected = math.sqrt(float(np.sum((c2 - c1) ** 2)) + 1e-8)
  assert float(loss) == pytest.approx(expected, rel=1e-5)
  # The corner pixel: zero padding keeps the kernel's inner 3x3 quarter.
  mask_1[0, 2, 2], mask_1[0, 0, 0] = 1.0, 0.0
  weights = [math.exp(-(i * i + j * j) / 8.0) for i in range(-2, 3)
             for j in range(-2, 3)]
  inner = sum(math.exp(-(i * i + j * j) / 8.0) for i in range(3)
              for j in range(3))
  corner = inner / sum(weights)
  loss = contrastive.expression_warp_loss(fake_1, fake_2, flow, mask_1,
                                          mask_2)
  expected = math.sqrt(corner ** 2 * float(np.sum((c2 - c1) ** 2)) + 1e-8)
  assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_expression_warp_loss_vanishes_for_the_right_flow():
  rng = np.random.default_rng(0)
  fake_1 = np.zeros([1, 10, 10, 3], np.float32)
  fake_1[0, 3:7, 2:6] = rng.uniform(-1, 1, [4, 4, 3])
  flow = np.zeros([1, 10, 10, 2], np.float32)
  flow[..., 0], flow[..., 1] = 1.0, 2.0
  fake_2 = np.roll(fake_1, (1, 2), axis=(1, 2))
  ones = np.ones([1, 10, 10, 1], np.float32)
  loss = contrastive.expression_warp_loss(fake_1, fake_2, flow, ones, ones)
  assert float(loss) == pytest.approx(1e-4, rel=1e-3)  # sqrt(0 + 1e-8)
  # The opposite sign does not align them.
  loss = contrastive.expression_warp_loss(fake_1, fake_2, -flow, ones, ones)
  assert float(loss) > 0.05


def test_expression_warp_loss_matches_numpy_and_has_gradients():
  rng = np.random.default_rng(1)
  fake_1 = rng.uniform(-1, 1, [2, 8, 8, 3]).astype(np.float32)
  fake_2 = rng.uniform(-1, 1, [2, 8, 8, 3]).astype(np.float32)
  flow = rng.uniform(-2, 2, [2, 8, 8, 2]).astype(np.float32)
  mask_1 = (rng.uniform(size=[2, 8, 8, 1]) > 0.5).astype(np.float32)
  mask_2 = (rng.uniform(size=[2, 8, 8, 1]) > 0.5).astype(np.float32)
  keep = (mask_1 - mask_2 <= 0).astype(np.float64)
  diff = numpy_blur(fake_2) - numpy_blur(numpy_warp(fake_1, flow))
  dist = np.sqrt(np.sum(diff ** 2, -1, keepdims=True) + 1e-8)
  expected = np.sum(keep * dist) / np.sum(keep)
  fake_1 = tf.Variable(fake_1)
  with tf.GradientTape() as tape:
    loss = contrastive.expression_warp_loss(fake_1, fake_2, flow, mask_1,
                                            mask_2[..., 0])
  assert float(loss) == pytest.approx(expected, rel=1e-5)
  grad = tape.gradient(loss, fake_1).numpy()
  assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0


def test_illumination_change_loss_hand_values():
  fake_3 = np.zeros([1, 4, 4, 3], np.float32)
  fake_4 = np.zeros([1, 4, 4, 3], np.float32)
  fake_4[..., 0] = 0.5
  fake_4[..., 1] = 2.0       # clipped to 1 before the nets

  def hair(x):
    return (x[..., 0] + 1.0) / 2.0            # 0.5 vs 0.75

  def embed(x):
    return tf.reduce_mean(x, [1, 2]) + tf.constant([[1.0, 0.0, 0.0]])

  def landmarks(x):
    return 10.0 * tf.reduce_mean(x) * tf.ones([1, 68, 2])  # 0 vs 5 px

  out = contrastive.illumination_change_loss(fake_3, fake_4, hair, embed,
                                             landmarks)
  hair_loss = 0.25 ** 2
  identity = 1.0 - 1.5 / math.sqrt(1.5 ** 2 + 1.0)
  landmark = (5.0 * 256.0 / 4.0 / 224.0) ** 2
  assert float(out["hair"]) == pytest.approx(hair_loss, rel=1e-6)
  assert float(out["identity"]) == pytest.approx(identity, rel=1e-5)
  assert float(out["landmarks"]) == pytest.approx(landmark, rel=1e-5)
  assert float(out["total"]) == pytest.approx(
      hair_loss + 2 * identity + 1000 * landmark, rel=1e-5)
  out = contrastive.illumination_change_loss(
      fake_3, fake_4, hair, embed, landmarks, hair_weight=0.0,
      identity_weight=0.0, landmark_weight=1.0, image_size=256)
  assert float(out["total"]) == pytest.approx((5.0 / 224.0) ** 2, rel=1e-5)


def test_callables_from_networks():
  logits = np.zeros([1, 2, 2, 8], np.float32)
  logits[..., 2] = math.log(7.0)               # p(hair) = 7 / (7 + 7) = 0.5

  def parser(images, training=None):
    assert training is False
    return tf.constant(logits)

  hair = contrastive.parser_hair_probability(parser)(tf.zeros([1, 2, 2, 3]))
  np.testing.assert_allclose(hair.numpy(), 0.5, rtol=1e-6)
  points = tf.ones([1, 68, 2])
  from_dict = contrastive.network_landmarks(
      lambda x, training=None: {"landmarks": points, "pose": x})
  from_tensor = contrastive.network_landmarks(lambda x, training=None: points)
  assert from_dict(tf.zeros([1, 2, 2, 3])) is points
  assert from_tensor(tf.zeros([1, 2, 2, 3])) is points
  with pytest.raises(ValueError, match="landmarks"):
    contrastive.network_landmarks(lambda x, training=None: {"pose": x})(points)
