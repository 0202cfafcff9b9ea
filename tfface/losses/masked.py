"""Image losses inside a mask, and masks from landmarks.

* :func:`masked_l1`: mean absolute error inside a soft mask.
* :func:`masked_squared_error`: ConfigNet's eye loss, ``Σ((a−b)·m)² / (1 + Σm)``.
* :func:`landmark_box_mask`: a box around some of the 68 iBUG landmarks
  (:data:`MOUTH_LANDMARKS`, :data:`EYE_LANDMARKS`).

Images are `[B, H, W, 3]` float32 in [-1, 1]; masks `[B, H, W, 1]` float32 in
[0, 1]; every loss returns the scalar batch mean of a per-image value.
"""

from typing import Sequence

import tensorflow as tf

# iBUG-68 landmark indices (0-based).
MOUTH_LANDMARKS = tuple(range(48, 68))
EYE_LANDMARKS = tuple(range(36, 48))


def masked_l1(target: tf.Tensor, generated: tf.Tensor,
              mask: tf.Tensor) -> tf.Tensor:
  """Mean absolute error inside a mask: ``Σ|gt−gen|·m / (3·Σm)``.

  Args:
    target, generated: `[B, H, W, 3]` float32 in [-1, 1].
    mask: `[B, H, W, 1]` float32 in [0, 1].

  Returns:
    scalar, the batch mean of the per-image loss (0 for an empty mask).
  """
  per_image = tf.reduce_sum(tf.abs(target - generated) * mask, [1, 2, 3]) / (
      3.0 * tf.maximum(tf.reduce_sum(mask, [1, 2, 3]), 1.0))
  return tf.reduce_mean(per_image)


def masked_squared_error(target: tf.Tensor, generated: tf.Tensor,
                         mask: tf.Tensor) -> tf.Tensor:
  """Masked squared error, ConfigNet's eye loss: ``Σ((gt−gen)·m)² / (1 + Σm)``.

  Args:
    target, generated: `[B, H, W, 3]` float32 in [-1, 1].
    mask: `[B, H, W, 1]` float32 in [0, 1] (ConfigNet: the iris mask).

  Returns:
    scalar, the batch mean of the per-image loss.
  """
  diff = tf.square((target - generated) * mask)
  per_image = tf.reduce_sum(diff, [1, 2, 3]) / (
      1.0 + tf.reduce_sum(mask, [1, 2, 3]))
  return tf.reduce_mean(per_image)


def landmark_box_mask(landmarks: tf.Tensor, size: int,
                      indices: Sequence[int] = MOUTH_LANDMARKS,
                      margin: float = 2.0) -> tf.Tensor:
  """The axis-aligned box around some landmarks, as a mask.

  Args:
    landmarks: `[B, 68, 2]` float32 (x, y) pixels, origin at the top-left
      corner of the image.
    size: the (square) image size in pixels.
    indices: which landmarks the box bounds (the mouth's by default).
    margin: pixels added on every side.

  Returns:
    `[B, size, size, 1]` float32 in {0, 1}: pixels whose centre lies in the box.
  """
  points = tf.gather(landmarks, list(indices), axis=1)
  low = tf.reduce_min(points, 1) - margin  # [B, 2]
  high = tf.reduce_max(points, 1) + margin
  centers = tf.range(size, dtype=tf.float32) + 0.5
  in_x = (centers[None] >= low[:, :1]) & (centers[None] <= high[:, :1])
  in_y = (centers[None] >= low[:, 1:]) & (centers[None] <= high[:, 1:])
  return tf.cast(in_y[:, :, None] & in_x[:, None, :], tf.float32)[..., None]
