"""Dense image warp (tfface.layers.image_warp) against a NumPy reference."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.layers.image_warp import dense_image_warp


def numpy_warp(image, flow):
  """Pixel-by-pixel bilinear sampling with the contrib op's clamping."""
  batch, height, width, _ = image.shape
  out = np.zeros_like(image, np.float64)
  for b in range(batch):
    for y in range(height):
      for x in range(width):
        qy, qx = y - flow[b, y, x, 0], x - flow[b, y, x, 1]
        y0 = int(min(max(np.floor(qy), 0), height - 2))
        x0 = int(min(max(np.floor(qx), 0), width - 2))
        ay = min(max(qy - y0, 0.0), 1.0)
        ax = min(max(qx - x0, 0.0), 1.0)
        out[b, y, x] = ((1 - ay) * (1 - ax) * image[b, y0, x0] +
                        (1 - ay) * ax * image[b, y0, x0 + 1] +
                        ay * (1 - ax) * image[b, y0 + 1, x0] +
                        ay * ax * image[b, y0 + 1, x0 + 1])
  return out


def test_integer_flow_moves_a_pattern():
  image = np.zeros([1, 8, 9, 2], np.float32)
  image[0, 2, 3] = [1.0, -1.0]
  image[0, 4, 5] = [0.5, 0.25]
  flow = np.zeros([1, 8, 9, 2], np.float32)
  flow[..., 0], flow[..., 1] = 2.0, -1.0  # two rows down, one column left
  out = dense_image_warp(tf.constant(image), tf.constant(flow)).numpy()
  expected = np.zeros_like(image)
  expected[0, 4, 2] = [1.0, -1.0]
  expected[0, 6, 4] = [0.5, 0.25]
  # Rows 0-1 and the last column read clamped edge pixels (zeros here).
  np.testing.assert_allclose(out, expected, atol=1e-6)


def test_subpixel_flow_matches_numpy_bilinear():
  rng = np.random.default_rng(0)
  image = rng.uniform(-1, 1, [2, 6, 7, 3]).astype(np.float32)
  # Large enough that some queries leave the image (clamped at the edges).
  flow = rng.uniform(-3, 3, [2, 6, 7, 2]).astype(np.float32)
  out = tf.function(dense_image_warp)(tf.constant(image), tf.constant(flow))
  np.testing.assert_allclose(out.numpy(), numpy_warp(image, flow), atol=1e-5)
  # A constant half-pixel shift averages two neighbours.
  half = np.zeros([2, 6, 7, 2], np.float32)
  half[..., 1] = 0.5
  out = dense_image_warp(tf.constant(image), tf.constant(half)).numpy()
  np.testing.assert_allclose(out[:, :, 1:],
                             0.5 * (image[:, :, :-1] + image[:, :, 1:]),
                             atol=1e-6)


def test_gradients_wrt_flow_and_image():
  rng = np.random.default_rng(1)
  image = tf.constant(rng.uniform(-1, 1, [1, 5, 5, 3]).astype(np.float32))
  flow = tf.Variable(rng.uniform(-0.8, 0.8, [1, 5, 5, 2]).astype(np.float32))
  weights = tf.constant(rng.normal(size=[1, 5, 5, 3]).astype(np.float32))
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(image)
    loss = tf.reduce_sum(weights * dense_image_warp(image, flow))
  grad_flow = tape.gradient(loss, flow).numpy()
  grad_image = tape.gradient(loss, image).numpy()
  assert np.all(np.isfinite(grad_flow)) and np.abs(grad_flow).max() > 1e-3
  assert np.abs(grad_image).max() > 1e-3
  # Central finite difference on one interior flow entry.
  eps = 1e-2
  values = flow.numpy()

  def loss_at(delta):
    shifted = values.copy()
    shifted[0, 2, 2, 1] += delta
    return float(tf.reduce_sum(weights * dense_image_warp(image, shifted)))

  numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
  assert grad_flow[0, 2, 2, 1] == pytest.approx(numeric, rel=1e-2, abs=1e-4)


def test_bad_shapes_raise():
  with pytest.raises(ValueError, match="flow must be"):
    dense_image_warp(tf.zeros([1, 4, 4, 3]), tf.zeros([1, 4, 4, 3]))
  with pytest.raises(ValueError, match="matching image"):
    dense_image_warp(tf.zeros([1, 4, 4, 3]), tf.zeros([1, 4, 5, 2]))
