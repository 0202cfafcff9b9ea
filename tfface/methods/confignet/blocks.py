"""ConfigNet's own blocks (HoloGAN-style projection and discriminator).

The generic pieces ConfigNet's networks are made of live in
:mod:`tfface.layers`: AdaIN and ConvAdaIN, the Dense stack (MLP), the 3D
volume rotation and upsampling, and layer tracking. What is left here is
specific to HoloGAN-style networks:

* :class:`ProjectionUnit`: HoloGAN's volume-to-image projection.
* :class:`DiscriminatorBlock`: strided conv with per-block style statistics.
* :func:`num_2d_blocks`: the generator's 2D upsampling blocks per resolution.

Everything here is gin-free and takes plain Python ints.
"""

import math

import tensorflow as tf

keras = tf.keras


class ProjectionUnit(keras.layers.Layer):
  """HoloGAN's projection: fold depth into channels, then a 1x1 conv.

  `[B, H, W, D, C]` -> `[B, H, W, D*C]` -> Conv2D(filters, 1) ->
  LeakyReLU(0.2).
  """

  def __init__(self, filters: int, **kwargs):
    super().__init__(**kwargs)
    self.conv = keras.layers.Conv2D(int(filters), 1, name="conv")

  def call(self, volume):
    h, w, d, c = (int(s) for s in volume.shape[1:])
    x = tf.reshape(volume, [-1, h, w, d * c])
    return tf.nn.leaky_relu(self.conv(x), 0.2)


class DiscriminatorBlock(keras.layers.Layer):
  """Conv(k3, stride 2) -> style logit -> LeakyReLU(0.3) -> InstanceNorm.

  The style logit is ``Dense(1)(concat(mean, std))`` of the pre-activation conv
  output over the spatial axes (HoloGAN's style discriminator). The instance
  normalization has learned scale and offset.

  Args:
    filters: output channels.
    style_output: whether to compute the style logit.
  """

  def __init__(self, filters: int, style_output: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.conv = keras.layers.Conv2D(int(filters), 3, strides=2,
                                    padding="same", name="conv")
    self.style = keras.layers.Dense(1, name="style") if style_output else None
    self.filters = int(filters)
    self.gamma = self.add_weight(name="in_gamma", shape=(self.filters,),
                                 initializer="ones")
    self.beta = self.add_weight(name="in_beta", shape=(self.filters,),
                                initializer="zeros")

  def call(self, x):
    """Returns ``(features [B, H/2, W/2, F], style_logit [B, 1] or None)``."""
    x = self.conv(x)
    mean, var = tf.nn.moments(x, axes=[1, 2], keepdims=True)
    std = tf.sqrt(var + 1e-8)
    logit = None
    if self.style is not None:
      logit = self.style(tf.concat([mean[:, 0, 0], std[:, 0, 0]], -1))
    x = tf.nn.leaky_relu(x, 0.3)
    mean, var = tf.nn.moments(x, axes=[1, 2], keepdims=True)
    x = (x - mean) / (tf.sqrt(var) + 1e-3)
    return x * self.gamma + self.beta, logit


def num_2d_blocks(resolution: int) -> int:
  """Upsampling 2D blocks after the 16x16 projection: log2(resolution / 16).

  Raises:
    ValueError: resolution is not a power of two >= 32.
  """
  n = math.log2(resolution / 16) if resolution > 0 else -1
  if resolution < 32 or n != int(n):
    raise ValueError("ConfigNet resolution must be a power of two >= 32 "
                     f"(32, 64, ..., 512), got {resolution}")
  return int(n)
