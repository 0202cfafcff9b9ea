"""ConfigNet-specific building blocks (HoloGAN-style generator and discriminator).

Everything here is gin-free and takes plain Python ints:

* :class:`AdaIN`: instance normalization modulated by an MLP of the latent.
* :class:`ConvAdaIN`: conv (2D or 3D) -> LeakyReLU -> AdaIN, the unit of G.
* :func:`euler_to_matrix` and :func:`rotate_volume`: differentiable trilinear
  rotation of a `[B, H, W, D, C]` feature volume by a head pose.
* :class:`ProjectionUnit`: HoloGAN's volume-to-image projection.
* :class:`MLP`: ``MLPSimple`` of the reference (Dense/LeakyReLU stack).
* :class:`DiscriminatorBlock`: strided conv with per-block style statistics.

Volume axes: a feature volume is `[B, H, W, D, C]`: H runs down the image
(row 0 at the top), W to the right, D toward the camera. Model space is
right-handed, +x right, +y up, +z toward the camera, so voxel (i, j, k) sits at
``(x, y, z) = (j - c, c - i, k - c)`` with ``c = (N - 1) / 2``.
"""

import math
from typing import Sequence

import tensorflow as tf

keras = tf.keras


def track(owner, prefix: str, layers):
  """Makes every layer of a list a named attribute of ``owner``; returns the list.

  Keras 3 tracks layers held in lists/dicts for its own ``weights`` but not as
  ``tf.train.Checkpoint`` dependencies, so checkpoints would silently miss
  them. Attribute ``<prefix>_<i>`` (or ``<prefix>_<key>``) fixes that.
  """
  items = layers.items() if isinstance(layers, dict) else enumerate(layers)
  for key, layer in items:
    setattr(owner, f"{prefix}_{key}", layer)
  return layers


class AdaIN(keras.layers.Layer):
  """Adaptive instance normalization: ``IN(x) * (1 + gamma(z)) + beta(z)``.

  As in the reference: instance normalization over the spatial axes without
  own scale/offset (epsilon 1e-3), modulated by an MLP
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
    axes = list(range(1, len(x.shape) - 1))
    mean, var = tf.nn.moments(x, axes=axes, keepdims=True)
    x = (x - mean) * tf.math.rsqrt(var + self.epsilon)
    style = self.out(tf.nn.leaky_relu(self.hidden(z), 0.2))
    gamma, beta = tf.split(style, 2, axis=-1)
    shape = [-1] + [1] * len(axes) + [self.channels]
    return x * (1.0 + tf.reshape(gamma, shape)) + tf.reshape(beta, shape)


class ConvAdaIN(keras.layers.Layer):
  """Conv -> LeakyReLU(0.3) -> AdaIN(z) (``Conv3dAdaIn`` / ``Conv2dAdaIn``).

  Args:
    filters: output channels.
    kernel_size: 3 for the 3D blocks, 4 for the 2D blocks in the reference.
    rank: 2 or 3.
    mlp_units: AdaIN MLP width.
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
    # Keras' LeakyReLU default slope (0.3) is what the reference uses here.
    return self.adain(tf.nn.leaky_relu(self.conv(x), 0.3), z)


def euler_to_matrix(angles: tf.Tensor) -> tf.Tensor:
  """Rotation matrices from Euler angles, ``R = Rz(roll) Ry(yaw) Rx(pitch)``.

  Args:
    angles: `[B, 3]` float32 (pitch, yaw, roll) in radians.

  Returns:
    `[B, 3, 3]` float32 rotation matrices.
  """
  angles = tf.convert_to_tensor(angles, tf.float32)
  if angles.shape.rank != 2 or angles.shape[-1] != 3:
    raise ValueError("euler_to_matrix expects angles of shape [B, 3] "
                     f"(pitch, yaw, roll), got {angles.shape}")
  sx, sy, sz = tf.unstack(tf.sin(angles), axis=-1)
  cx, cy, cz = tf.unstack(tf.cos(angles), axis=-1)
  zero, one = tf.zeros_like(sx), tf.ones_like(sx)
  rx = tf.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1)
  ry = tf.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1)
  rz = tf.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1)
  rx, ry, rz = (tf.reshape(m, [-1, 3, 3]) for m in (rx, ry, rz))
  return tf.matmul(rz, tf.matmul(ry, rx))


def rotate_volume(volume: tf.Tensor, angles: tf.Tensor) -> tf.Tensor:
  """Rotates a feature volume about its centre, with trilinear resampling.

  The content at model-space point p moves to ``R p``: each output voxel q
  samples the input at ``R^T q``. As in the reference, sample coordinates are
  clamped to the volume (edge features extend outward). Differentiable w.r.t.
  ``volume`` and ``angles``.

  Args:
    volume: `[B, H, W, D, C]` float32 (axes as in the module docstring).
    angles: `[B, 3]` float32 (pitch, yaw, roll) radians.

  Returns:
    `[B, H, W, D, C]` float32.
  """
  shape = tf.shape(volume)
  b = shape[0]
  h, w, d = (int(s) for s in volume.shape[1:4])
  c = int(volume.shape[4])
  rotation = euler_to_matrix(angles)  # [B, 3, 3]
  ci, cj, ck = (h - 1) / 2.0, (w - 1) / 2.0, (d - 1) / 2.0
  ii, jj, kk = tf.meshgrid(tf.range(h, dtype=tf.float32),
                           tf.range(w, dtype=tf.float32),
                           tf.range(d, dtype=tf.float32), indexing="ij")
  points = tf.stack([tf.reshape(jj - cj, [-1]), tf.reshape(ci - ii, [-1]),
                     tf.reshape(kk - ck, [-1])], axis=-1)  # [N, 3] (x, y, z)
  # Source position R^T q for every output q: row-vector form q R.
  source = tf.einsum("nk,bkl->bnl", points, rotation)  # [B, N, 3]
  x, y, z = tf.unstack(source, axis=-1)
  si = tf.clip_by_value(ci - y, 0.0, h - 1.0)
  sj = tf.clip_by_value(x + cj, 0.0, w - 1.0)
  sk = tf.clip_by_value(z + ck, 0.0, d - 1.0)
  i0, j0, k0 = tf.floor(si), tf.floor(sj), tf.floor(sk)
  fi, fj, fk = si - i0, sj - j0, sk - k0
  i0, j0, k0 = (tf.cast(v, tf.int32) for v in (i0, j0, k0))
  i1 = tf.minimum(i0 + 1, h - 1)
  j1 = tf.minimum(j0 + 1, w - 1)
  k1 = tf.minimum(k0 + 1, d - 1)
  flat = tf.reshape(volume, [b * h * w * d, c])
  base = (tf.range(b) * (h * w * d))[:, None]

  def gather(i, j, k):
    return tf.gather(flat, base + (i * w + j) * d + k)  # [B, N, C]

  fi, fj, fk = fi[..., None], fj[..., None], fk[..., None]
  c00 = gather(i0, j0, k0) * (1 - fk) + gather(i0, j0, k1) * fk
  c01 = gather(i0, j1, k0) * (1 - fk) + gather(i0, j1, k1) * fk
  c10 = gather(i1, j0, k0) * (1 - fk) + gather(i1, j0, k1) * fk
  c11 = gather(i1, j1, k0) * (1 - fk) + gather(i1, j1, k1) * fk
  c0 = c00 * (1 - fj) + c01 * fj
  c1 = c10 * (1 - fj) + c11 * fj
  out = c0 * (1 - fi) + c1 * fi
  return tf.reshape(out, [b, h, w, d, c])


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


class MLP(keras.layers.Layer):
  """``num_layers`` Dense layers with LeakyReLU between them (``MLPSimple``).

  Args:
    num_layers: total Dense layers (>= 1); the last is linear.
    hidden: width of the hidden layers.
    out: output width.
    slope: LeakyReLU slope (Keras' default 0.3 in the reference).
  """

  def __init__(self, num_layers: int, hidden: int, out: int,
               slope: float = 0.3, **kwargs):
    super().__init__(**kwargs)
    if num_layers < 1:
      raise ValueError(f"MLP needs at least one layer, got {num_layers}")
    self.slope = float(slope)
    self.dense = track(self, "hidden", [
        keras.layers.Dense(int(hidden), name=f"dense_{i}")
        for i in range(int(num_layers) - 1)])
    self.final = keras.layers.Dense(int(out), name="dense_out")

  def call(self, x):
    for layer in self.dense:
      x = tf.nn.leaky_relu(layer(x), self.slope)
    return self.final(x)


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


def leaky_stack(x: tf.Tensor, layers: Sequence[keras.layers.Layer],
                slope: float) -> tf.Tensor:
  """Applies ``layers`` each followed by LeakyReLU(slope)."""
  for layer in layers:
    x = tf.nn.leaky_relu(layer(x), slope)
  return x
