"""Pixel norm and minibatch standard deviation."""

import tensorflow as tf

keras = tf.keras


def pixel_norm(x: tf.Tensor, epsilon: float = 1e-8) -> tf.Tensor:
  """``x * rsqrt(mean(x**2, axis=-1) + epsilon)``; `[..., C]` -> `[..., C]`."""
  return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1,
                                          keepdims=True) + epsilon)


class PixelNorm(keras.layers.Layer):
  """Layer form of :func:`pixel_norm` (normalizes the last axis)."""

  def __init__(self, epsilon: float = 1e-8, **kwargs):
    super().__init__(**kwargs)
    self.epsilon = epsilon

  def call(self, x):
    return pixel_norm(x, self.epsilon)


def minibatch_stddev(x: tf.Tensor, group_size: int = 4,
                     num_features: int = 1, epsilon: float = 1e-8
                     ) -> tf.Tensor:
  """Appends the minibatch standard deviation as extra channels.

  As rosinality's discriminator: the batch is split into ``G = min(group_size,
  B)`` groups by ``b // (B / G)``; samples ``j, j + B/G, ...`` share one
  statistic: the standard deviation over the group, averaged over channels
  (split into ``num_features`` parts) and pixels.

  Args:
    x: `[B, H, W, C]` float32; B must be divisible by ``min(group_size, B)``.
    group_size: group size G.
    num_features: number of appended channels.
    epsilon: added to the variance before the square root.

  Returns:
    `[B, H, W, C + num_features]` float32.
  """
  batch = x.shape[0]
  if batch is None:
    raise ValueError("minibatch_stddev needs a static batch size")
  h, w, c = x.shape[1], x.shape[2], x.shape[3]
  group = min(int(group_size), int(batch))
  if batch % group:
    raise ValueError(f"batch size {batch} is not divisible by the minibatch "
                     f"stddev group size {group}")
  if c % num_features:
    raise ValueError(f"channels {c} not divisible by num_features "
                     f"{num_features}")
  y = tf.reshape(x, [group, batch // group, h, w, num_features,
                     c // num_features])
  y = y - tf.reduce_mean(y, axis=0, keepdims=True)
  y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + epsilon)
  y = tf.reduce_mean(y, axis=[1, 2, 4])  # [B/G, F]
  y = tf.tile(y, [group, 1])  # [B, F]; sample b gets y[b % (B/G)]
  y = tf.broadcast_to(y[:, None, None, :], [batch, h, w, num_features])
  return tf.concat([x, y], axis=-1)


class MinibatchStddev(keras.layers.Layer):
  """Layer form of :func:`minibatch_stddev`."""

  def __init__(self, group_size: int = 4, num_features: int = 1, **kwargs):
    super().__init__(**kwargs)
    self.group_size = group_size
    self.num_features = num_features

  def call(self, x):
    return minibatch_stddev(x, self.group_size, self.num_features)
