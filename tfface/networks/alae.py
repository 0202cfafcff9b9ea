"""StyleALAE's encoder E and latent discriminator D (podgorskiy/ALAE ``net.py``).

The mapping F and the style generator G of StyleALAE are StyleGAN v1's and
live in :mod:`tfface.networks.stylegan1` (DiscoFaceGAN reuses them). This
module holds the two networks only ALAE has, built from the same
equalized-lr layers:

* :class:`StyleEncoder` E: image -> w. Each block (``EncodeBlock``) computes
  the instance statistics (mean and biased std over H, W) of its two
  activations before instance-normalizing them; two equalized dense maps
  C_i turn the ``[m, σ]`` vectors into latent-sized styles, and w is the sum
  of the styles of every active block (``styles[:, 0] += s1 + s2``). The
  spatial output of the last block (2×2) is discarded. Progressive: ``call(
  images, lod, alpha)`` starts at block ``lod`` and, for α < 1, scales the
  new top block's styles by α and lerps its features with
  ``FromRGB_{lod−1}(avgpool(x))`` (ALAE ``encode2``).
* :class:`LatentDiscriminator` D: w -> logit, ALAE's ``MappingD``: three
  equalized dense layers (lr multiplier 0.1) **without nonlinearities** by
  default. The reference's author calls this an error (ALAE issue #44) but
  kept it for the published results, and the released checkpoints are
  trained with it, so it is the default here; ``activation="lrelu"`` puts a
  leaky ReLU between the layers (ivanvovk's re-implementation). The
  reference's last layer has 2·latent outputs of which only unit ``latent``
  is read (issue #38; "the same as if the last layer had one output"), so
  here it has one output and the converter keeps that row.

Images are `[B, H, W, 3]` float32 in [-1, 1]; w is `[B, latent]`.
"""

from typing import Dict, Optional, Sequence

import tensorflow as tf

from tfface import layers as L
from tfface.networks import base
from tfface.networks import stylegan1 as s1

keras = tf.keras

D_ACTIVATIONS = (None, "lrelu")


def _statistics(x: tf.Tensor, epsilon: float) -> tf.Tensor:
  """``concat([mean_HW(x), sqrt(mean_HW((x − m)²) + ε)])``: `[B, H, W, C]` ->
  `[B, 2C]` (means first, as ``torch.cat((m, std), dim=1)``)."""
  mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
  std = tf.sqrt(tf.reduce_mean(tf.square(x - mean), axis=[1, 2]) + epsilon)
  return tf.concat([mean[:, 0, 0, :], std], axis=-1)


class EncodeBlock(keras.layers.Layer):
  """One encoder resolution (ALAE ``EncodeBlock``).

  conv 3×3 (C_in -> C_in, no bias) + bias -> leaky ReLU -> statistics s1
  -> instance norm (ε 1e-5) -> blur -> [fused stride-2 conv, or conv 3×3 +
  2×2 average pool] (C_in -> C_out) + bias -> leaky ReLU -> statistics s2 ->
  instance norm. ``style_1`` `Dense(2·C_in -> latent)` and ``style_2``
  `Dense(2·C_out -> latent)` (gain √2) map the statistics to styles.

  Args:
    in_channels, out_channels: C_in, C_out.
    latent_size: the style size.
    fused: the fused stride-2 conv (ALAE: input resolution >= 128).
    std_epsilon: added under the square root of the statistics' std. The
      reference adds nothing; a tiny ε keeps the gradient (and R1's second
      derivative) finite on a channel that is constant over H, W.

  Call: `[B, H, W, C_in]` -> (`[B, H/2, W/2, C_out]`, `[B, latent]`,
  `[B, latent]`).
  """

  def __init__(self, in_channels: int, out_channels: int, latent_size: int,
               fused: bool, std_epsilon: float = 1e-8, **kwargs):
    super().__init__(**kwargs)
    self.in_channels, self.out_channels = int(in_channels), int(out_channels)
    self.fused = bool(fused)
    self.std_epsilon = float(std_epsilon)
    self.conv_1 = s1.WScaleConv2D(self.in_channels, 3, use_bias=False,
                                  name="conv_1")
    self.blur = s1.blur_layer("blur")
    self.conv_2 = (s1.FusedDownConv2D(self.out_channels, name="conv_2")
                   if self.fused else
                   s1.WScaleConv2D(self.out_channels, 3, use_bias=False,
                                   name="conv_2"))
    self.style_1 = s1.WScaleDense(int(latent_size), name="style_1")
    self.style_2 = s1.WScaleDense(int(latent_size), name="style_2")

  def build(self, input_shape):
    self.bias_1 = self.add_weight(name="bias_1", shape=(self.in_channels,),
                                  initializer="zeros")
    self.bias_2 = self.add_weight(name="bias_2", shape=(self.out_channels,),
                                  initializer="zeros")

  def call(self, x):
    x = s1.leaky_relu(self.conv_1(x) + self.bias_1)
    stats_1 = _statistics(x, self.std_epsilon)
    x = L.instance_norm(x, epsilon=1e-5)
    x = self.conv_2(self.blur(x))
    if not self.fused:
      x = s1.downsample_average(x)
    x = s1.leaky_relu(x + self.bias_2)
    stats_2 = _statistics(x, self.std_epsilon)
    x = L.instance_norm(x, epsilon=1e-5)
    return x, self.style_1(stats_1), self.style_2(stats_2)


class StyleEncoder(base.Network):
  """E: image -> w (ALAE ``EncoderDefault``), progressive.

  Args:
    channels: input channels of each block, 4×4 block first — the
      generator's table (:func:`~tfface.networks.stylegan1.alae_channels`);
      block i reads ``channels[i]`` maps at ``4·2**i`` px and writes
      ``channels[i − 1]`` (block 0: ``last_channels``) at half the size.
    latent_size: the size of w.
    last_channels: output channels of the 4×4 block (ALAE:
      ``min(max_channels, start_channels · 2**layer_count)``).
    fused_min_resolution: blocks whose input is at least this large use the
      fused stride-2 conv (128); 0 never.
    image_channels: 3.
    std_epsilon: see :class:`EncodeBlock`.

  Attributes: ``num_blocks``, ``top_lod``, ``resolution``, ``latent_size``.
  """

  def __init__(self, channels: Sequence[int], latent_size: int,
               last_channels: Optional[int] = None,
               fused_min_resolution: int = 128, image_channels: int = 3,
               std_epsilon: float = 1e-8, **kwargs):
    super().__init__(**kwargs)
    self.channels = tuple(int(c) for c in channels)
    if not self.channels or min(self.channels) < 1:
      raise ValueError(f"encoder channels must be a non-empty list of "
                       f"positive ints, got {channels!r}")
    self.latent_size = int(latent_size)
    self.last_channels = int(last_channels or self.channels[0])
    self.fused_min_resolution = int(fused_min_resolution)
    self.image_channels = int(image_channels)
    self.std_epsilon = float(std_epsilon)
    self.num_blocks = len(self.channels)
    self.top_lod = self.num_blocks - 1
    self.resolution = s1.resolution_of(self.top_lod)
    blocks = []
    for i, c in enumerate(self.channels):
      out = self.last_channels if i == 0 else self.channels[i - 1]
      fused = (self.fused_min_resolution > 0 and
               s1.resolution_of(i) >= self.fused_min_resolution)
      blocks.append(EncodeBlock(c, out, self.latent_size, fused,
                                self.std_epsilon, name=f"block_{i}"))
    self.blocks = L.track(self, "block", blocks)
    self.from_rgbs = L.track(self, "from_rgb", [
        s1.WScaleConv2D(c, 1, use_bias=True, name=f"from_rgb_{i}")
        for i, c in enumerate(self.channels)])

  def build(self, input_shape):
    for layer in self.from_rgbs:
      if not layer.built:
        layer.build((None, None, None, self.image_channels))

  def build_all(self) -> None:
    """Creates every weight."""
    self(tf.zeros([1, self.resolution, self.resolution,
                   self.image_channels]))

  def _from_rgb(self, images, lod):
    # FromRGB ends in a leaky ReLU and encode() applies another one
    # (ALAE net.py L311-312); both are kept to match the released weights.
    return s1.leaky_relu(s1.leaky_relu(self.from_rgbs[lod](images)))

  def call(self, images, lod: Optional[int] = None, alpha: s1.Alpha = 1.0):
    """Encodes images at level of detail ``lod``.

    Args:
      images: `[B, 4·2**lod, 4·2**lod, 3]` float32 in [-1, 1].
      lod: Python int in ``[0, top_lod]`` (None: the top).
      alpha: fade-in factor in [0, 1]; for lod > 0 and α ≠ 1 the top block's
        styles count α times and its output features are
        ``(1 − α)·FromRGB_{lod−1}(avgpool(x)) + α·block_lod(...)``.

    Returns:
      w `[B, latent_size]` float32.
    """
    lod = self.top_lod if lod is None else int(lod)
    if not 0 <= lod <= self.top_lod:
      raise ValueError(f"lod must be in [0, {self.top_lod}], got {lod}")
    blend = lod > 0 and not (isinstance(alpha, (int, float)) and alpha == 1)
    x, s_a, s_b = self.blocks[lod](self._from_rgb(images, lod))
    if blend:
      alpha = tf.cast(alpha, x.dtype)
      styles = alpha * (s_a + s_b)
      previous = self._from_rgb(s1.downsample_average(images), lod - 1)
      x = s1.lerp(previous, x, alpha)
    else:
      styles = s_a + s_b
    for i in range(lod - 1, -1, -1):
      x, s_a, s_b = self.blocks[i](x)
      styles = styles + s_a + s_b
    return styles

  def config(self) -> Dict[str, object]:
    return {"channels": list(self.channels), "latent_size": self.latent_size,
            "last_channels": self.last_channels,
            "fused_min_resolution": self.fused_min_resolution,
            "image_channels": self.image_channels,
            "std_epsilon": self.std_epsilon}


class LatentDiscriminator(base.Network):
  """D: w -> logit (ALAE ``MappingD``).

  Args:
    latent_size: input size.
    num_layers: dense layers (3).
    hidden: hidden width (default ``latent_size``).
    lr_multiplier: 0.1, as the reference.
    activation: None (the reference, linear D; see the module docstring) or
      ``"lrelu"`` (leaky ReLU 0.2 between the layers).

  Input `[B, latent_size]`, output `[B, 1]` logits.
  """

  def __init__(self, latent_size: int, num_layers: int = 3,
               hidden: Optional[int] = None, lr_multiplier: float = 0.1,
               activation: Optional[str] = None, **kwargs):
    super().__init__(**kwargs)
    if activation not in D_ACTIVATIONS:
      raise ValueError(f"latent discriminator activation must be one of "
                       f"{D_ACTIVATIONS}, got {activation!r}")
    if num_layers < 1:
      raise ValueError(f"latent discriminator num_layers must be >= 1, got "
                       f"{num_layers}")
    self.latent_size = int(latent_size)
    self.hidden = int(hidden or latent_size)
    self.lr_multiplier = float(lr_multiplier)
    self.activation = activation
    self.dense = L.track(self, "dense", [
        s1.WScaleDense(1 if i == num_layers - 1 else self.hidden,
                       lr_multiplier=self.lr_multiplier, name=f"dense_{i}")
        for i in range(int(num_layers))])

  def build_all(self) -> None:
    self(tf.zeros([1, self.latent_size]))

  def call(self, w):
    x = w
    last = len(self.dense) - 1
    for i, layer in enumerate(self.dense):
      x = layer(x)
      if self.activation == "lrelu" and i < last:
        x = s1.leaky_relu(x)
    return x

  def config(self) -> Dict[str, object]:
    return {"latent_size": self.latent_size, "num_layers": len(self.dense),
            "hidden": self.hidden, "lr_multiplier": self.lr_multiplier,
            "activation": self.activation}
