"""Adaptive instance normalization (HoloGAN / ConfigNet, StyleGAN v1, ALAE).

:func:`instance_norm` and :func:`adaptive_instance_norm` are the shared
arithmetic, ``IN(x) · (1 + γ) + β``; :class:`AdaIN` computes γ and β from
a latent with a small MLP (ConfigNet); :class:`ConvAdaIN` is the
conv → LeakyReLU → AdaIN unit of HoloGAN-style generators, in 2D or 3D.
"""

import tensorflow as tf

keras = tf.keras


def instance_norm(x: tf.Tensor, epsilon: float = 1e-3) -> tf.Tensor:
  """Normalizes each sample and channel over the spatial axes.

  Args:
    x: `[B, ..., C]` float32 (any number of spatial axes).
    epsilon: added to the variance.

  Returns:
    `[B, ..., C]` float32 with zero mean, unit variance per (sample, channel).
  """
  axes = list(range(1, len(x.shape) - 1))
  mean, var = tf.nn.moments(x, axes=axes, keepdims=True)
  return (x - mean) * tf.math.rsqrt(var + epsilon)


def adaptive_instance_norm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor,
                           epsilon: float = 1e-3) -> tf.Tensor:
  """``IN(x) · (1 + γ) + β`` with per-sample, per-channel γ and β.

  Args:
    x: `[B, ..., C]` float32.
    gamma, beta: `[B, C]` float32 (γ = 0, β = 0 leaves ``IN(x)``).
    epsilon: variance epsilon of the normalization.

  Returns:
    `[B, ..., C]` float32.
  """
  spatial = len(x.shape) - 2
  shape = [-1] + [1] * spatial + [int(x.shape[-1])]
  return (instance_norm(x, epsilon) * (1.0 + tf.reshape(gamma, shape)) +
          tf.reshape(beta, shape))


class AdaIN(keras.layers.Layer):
  """Adaptive instance normalization: ``IN(x) * (1 + gamma(z)) + beta(z)``.

  As in ConfigNet: instance normalization over the spatial axes without own
  scale/offset (epsilon 1e-3), modulated by an MLP
  ``Dense(units) -> LeakyReLU(0.2) -> Dense(2C)`` of the full latent.

  Args:
    channels: C, the channel count of ``x``.
    mlp_units: hidden width of the modulation MLP (reference: 128).
    epsilon: variance epsilon of the normalization.
  """

  def __init__(self, channels: int, mlp_units: int = 128,
               epsilon: float = 1e-3, **kwargs):
    super().__init__(**kwargs)
    self.channels = int(channels)
    self.epsilon = float(epsilon)
    self.hidden = keras.layers.Dense(int(mlp_units), name="mlp_hidden")
    self.out = keras.layers.Dense(2 * self.channels, name="mlp_out")

  def call(self, x, z):
    """Modulates ``x``.

    Args:
      x: `[B, ..., C]` float32 feature map (2D or 3D spatial).
      z: `[B, Z]` float32 latent.

    Returns:
      `[B, ..., C]` float32.
    """
    style = self.out(tf.nn.leaky_relu(self.hidden(z), 0.2))
    gamma, beta = tf.split(style, 2, axis=-1)
    return adaptive_instance_norm(x, gamma, beta, self.epsilon)


class ConvAdaIN(keras.layers.Layer):
  """Conv -> LeakyReLU(0.3) -> AdaIN(z) (ConfigNet's ``Conv3dAdaIn`` /
  ``Conv2dAdaIn``).

  Args:
    filters: output channels.
    kernel_size: 3 for ConfigNet's 3D blocks, 4 for its 2D blocks.
    rank: 2 or 3.
    mlp_units: AdaIN MLP width.

  Call ``(x, z)``: `[B, ..., C_in]`, `[B, Z]` -> `[B, ..., filters]`.
  """

  def __init__(self, filters: int, kernel_size: int, rank: int,
               mlp_units: int = 128, **kwargs):
    super().__init__(**kwargs)
    if rank not in (2, 3):
      raise ValueError(f"ConvAdaIN rank must be 2 or 3, got {rank}")
    conv = keras.layers.Conv3D if rank == 3 else keras.layers.Conv2D
    self.conv = conv(int(filters), int(kernel_size), padding="same",
                     name="conv")
    self.adain = AdaIN(int(filters), mlp_units, name="adain")

  def call(self, x, z):
    # Keras' LeakyReLU default slope (0.3) is what ConfigNet uses here.
    return self.adain(tf.nn.leaky_relu(self.conv(x), 0.3), z)
