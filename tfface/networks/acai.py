"""ACAI's convolutional encoder, decoder and interpolation critic.

ACAI (Berthelot et al. 2018, "Understanding and Improving Interpolation in
Autoencoders via an Adversarial Regularizer") as the conditional-latent-models
project trained it on CelebA 64 (``ivanvovk/controllable-face-generation@ACAI:
modules.py``, after kylemcdonald's PyTorch port; facts in
``shared/reference/alae.md`` §2.2):

* **Encoder**: a 1×1 convolution to ``depth`` channels *with zero padding 1*
  (a 64 px image becomes 66 × 66: the border is the bias alone), then per
  scale s = 0 … scales − 1: ``convs_per_scale`` × [3×3 conv to depth·2^s,
  LeakyReLU(0.01)], 2×2 average pooling (floor); then a 3×3 conv to
  depth·2^scales, LeakyReLU, and a 3×3 conv to ``latent_channels`` (linear).
  At 64 px with depth 16, 5 scales and 32 latent channels the code is
  2 × 2 × 32 = 128 numbers (66 → 33 → 16 → 8 → 4 → 2).
* **Decoder**: the encoder's stack reversed, nearest-neighbour 2× upsampling
  after each scale, then a 3×3 conv to ``depth`` (LeakyReLU) and a 3×3 conv to
  3 colours, no output activation and no normalisation.
* **Critic**: the encoder's stack (its own ``depth``, the reference's
  ``advdepth``); its output is the mean over space and channels, one number
  per image: the critic's estimate of the interpolation coefficient α.

The reference's one conv per scale is the default; the original ACAI code has
two (``convs_per_scale=2``). Weights use Keras' default (Glorot uniform)
initialisation rather than the port's custom initializer: nothing in the
reference notes depends on it.

Codes are feature maps ``[B, h, w, latent_channels]``; :func:`flatten_code`
and :func:`unflatten_code` turn them into the ``[B, Z]`` vectors the latent
models use (NHWC order, so a code converted from the PyTorch model's
``view(bs, 32, 2, 2)`` needs a transpose).
"""

from typing import Tuple

import tensorflow as tf

from tfface.layers.tracking import track
from tfface.networks import base

keras = tf.keras

# The reference's LeakyReLU slope (PyTorch's default 0.01).
SLOPE = 0.01


def code_spatial_size(image_size: int, scales: int,
                      stem_padding: int = 1) -> int:
  """h = w of the code map for square ``image_size`` inputs.

  ``(image_size + 2·stem_padding)`` halved (floor) ``scales`` times.

  Raises:
    ValueError: the code map would be empty.
  """
  size = int(image_size) + 2 * int(stem_padding)
  for _ in range(int(scales)):
    size //= 2
  if size < 1:
    raise ValueError(f"ACAI image size {image_size} with {scales} scales "
                     f"leaves no code map (needs image_size >= 2**scales)")
  return size


def decoder_output_size(code_size: int, scales: int) -> int:
  """Output side of the decoder for an h × h code map: ``h · 2**scales``."""
  return int(code_size) * 2**int(scales)


def flatten_code(code: tf.Tensor) -> tf.Tensor:
  """`[B, h, w, C]` code map -> `[B, h·w·C]` (NHWC order)."""
  shape = tf.shape(code)
  return tf.reshape(code, [shape[0], -1])


def unflatten_code(z: tf.Tensor, shape: Tuple[int, int, int]) -> tf.Tensor:
  """`[B, h·w·C]` -> `[B, h, w, C]` for ``shape = (h, w, C)``."""
  return tf.reshape(z, [-1] + list(shape))


class _ConvStack(keras.layers.Layer):
  """The encoder stack shared by :class:`ACAIEncoder` and :class:`ACAICritic`."""

  def __init__(self, scales: int, depth: int, latent_channels: int,
               convs_per_scale: int = 1, stem_padding: int = 1,
               slope: float = SLOPE, **kwargs):
    super().__init__(**kwargs)
    if scales < 1 or depth < 1 or latent_channels < 1 or convs_per_scale < 1:
      raise ValueError(f"ACAI stack needs scales, depth, latent_channels and "
                       f"convs_per_scale >= 1, got {scales}, {depth}, "
                       f"{latent_channels}, {convs_per_scale}")
    self.scales, self.depth = int(scales), int(depth)
    self.stem_padding = int(stem_padding)
    self.slope = float(slope)
    self.stem = keras.layers.Conv2D(depth, 1, padding="valid", name="stem")
    convs = []
    for s in range(scales):
      for _ in range(convs_per_scale):
        convs.append(keras.layers.Conv2D(depth << s, 3, padding="same"))
    self.convs_per_scale = int(convs_per_scale)
    self.convs = track(self, "conv", convs)
    self.top = keras.layers.Conv2D(depth << scales, 3, padding="same",
                                   name="top")
    self.out = keras.layers.Conv2D(latent_channels, 3, padding="same",
                                   name="out")

  def call(self, x):
    p = self.stem_padding
    if p:
      x = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
    x = self.stem(x)
    for i, conv in enumerate(self.convs):
      x = tf.nn.leaky_relu(conv(x), self.slope)
      if (i + 1) % self.convs_per_scale == 0:
        x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
    x = tf.nn.leaky_relu(self.top(x), self.slope)
    return self.out(x)


class ACAIEncoder(base.Network):
  """E: images -> code maps.

  Args:
    scales: number of 2× poolings (5 at 64 px).
    depth: channels of the first scale (16); scale s has ``depth·2**s``.
    latent_channels: channels of the code map (32).
    convs_per_scale: 3×3 convs per scale (1 as the reference; 2 as ACAI).
    stem_padding: zero padding of the 1×1 stem conv (1 as the reference).
    slope: LeakyReLU slope (0.01).

  Call ``(images)``: `[B, H, W, 3]` float32 in [-1, 1] -> `[B, h, w,
  latent_channels]` float32 (:func:`code_spatial_size`).
  """

  def __init__(self, scales: int, depth: int, latent_channels: int,
               convs_per_scale: int = 1, stem_padding: int = 1,
               slope: float = SLOPE, **kwargs):
    super().__init__(**kwargs)
    self.stack = _ConvStack(scales, depth, latent_channels, convs_per_scale,
                            stem_padding, slope, name="stack")

  def call(self, images, training=None):
    return self.stack(images)


class ACAIDecoder(base.Network):
  """G: code maps -> images.

  Args:
    scales, depth, latent_channels, convs_per_scale, slope: as
      :class:`ACAIEncoder` (the stack is mirrored).
    colors: output channels (3).

  Call ``(code)``: `[B, h, w, latent_channels]` float32 -> `[B, h·2**scales,
  w·2**scales, colors]` float32, unbounded (no output activation, as the
  reference; trained towards [-1, 1] images).
  """

  def __init__(self, scales: int, depth: int, latent_channels: int,
               convs_per_scale: int = 1, slope: float = SLOPE,
               colors: int = 3, **kwargs):
    super().__init__(**kwargs)
    if scales < 1 or depth < 1 or latent_channels < 1 or convs_per_scale < 1:
      raise ValueError(f"ACAIDecoder needs scales, depth, latent_channels and "
                       f"convs_per_scale >= 1, got {scales}, {depth}, "
                       f"{latent_channels}, {convs_per_scale}")
    self.scales = int(scales)
    self.convs_per_scale = int(convs_per_scale)
    self.slope = float(slope)
    convs = []
    for s in range(scales - 1, -1, -1):
      for _ in range(convs_per_scale):
        convs.append(keras.layers.Conv2D(depth << s, 3, padding="same"))
    self.convs = track(self, "conv", convs)
    self.head = keras.layers.Conv2D(depth, 3, padding="same", name="head")
    self.out = keras.layers.Conv2D(colors, 3, padding="same", name="out")

  def call(self, code, training=None):
    x = code
    for i, conv in enumerate(self.convs):
      x = tf.nn.leaky_relu(conv(x), self.slope)
      if (i + 1) % self.convs_per_scale == 0:
        shape = tf.shape(x)
        x = tf.image.resize(x, [2 * shape[1], 2 * shape[2]],
                            method="nearest")
    x = tf.nn.leaky_relu(self.head(x), self.slope)
    return self.out(x)


class ACAICritic(base.Network):
  """The interpolation critic C: images -> estimated α.

  Args:
    scales, depth, latent_channels, convs_per_scale, stem_padding, slope: the
      encoder stack's settings (``depth`` is the reference's ``advdepth``).

  Call ``(images)``: `[B, H, W, 3]` float32 -> `[B, 1]` float32, the mean of
  the stack's output over space and channels.
  """

  def __init__(self, scales: int, depth: int, latent_channels: int,
               convs_per_scale: int = 1, stem_padding: int = 1,
               slope: float = SLOPE, **kwargs):
    super().__init__(**kwargs)
    self.stack = _ConvStack(scales, depth, latent_channels, convs_per_scale,
                            stem_padding, slope, name="stack")

  def call(self, images, training=None):
    return tf.reduce_mean(self.stack(images), axis=[1, 2, 3])[:, None]
