"""ConfigNet's networks (Kowalski et al., ECCV 2020), Keras subclassed models.

* :class:`Generator` — G, HoloGAN-style: learned 4³ constant, 3D convs with
  AdaIN, trilinear 3D rotation by the head pose, projection unit, 2D AdaIN
  blocks, tanh.
* :class:`RealEncoder` — E_R: image -> (z, bounded rotation).
* :class:`SyntheticEncoder` — E_S: θ (dict of factors) -> z, one MLP per factor.
* :class:`ImageDiscriminator` — D_R and D_S, with per-block style logits.
* :class:`LatentRegressor` — predicts [z, 5·rotation] from an image.
* :class:`DomainDiscriminator` — D_DA, a 4-layer MLP on z.
The latent GAN's networks are :mod:`tfface.networks.latent_mlp`'s, E_R's
backbone is :mod:`tfface.networks.backbones`', and the generic blocks are in
:mod:`tfface.layers`. Sizes follow ``microsoft/ConfigNet`` (see
shared/reference/confignet.md §2); channel widths are arguments so tests and
the CPU demo run small.
"""

import math
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfface import layers
from tfface.methods.confignet import blocks
from tfface.methods.confignet import factors as factors_lib
from tfface.networks import backbones
from tfface.networks import base
from tfface.networks.latent_mlp import LatentDiscriminator
from tfface.networks.latent_mlp import LatentGenerator

keras = tf.keras

# E_R's rotation bounds, (pitch, yaw, roll) radians: SynthFace covers pitch
# ±10°, yaw ±30°, roll 0 (reference real_encoder.py, reordered to tfface's
# (pitch, yaw, roll) convention).
ROTATION_BOUNDS = (math.radians(10.0), math.radians(30.0), 0.0)


class Generator(base.Network):
  """G: (z, rotation) -> image. The HoloGAN-style decoder of ConfigNet.

  Reference sequence at 256 px (defaults): Dense-from-zero constant 4³×512 →
  up → Conv3D 256 + AdaIN → up (16³) → Conv3D 128 + AdaIN → rotate →
  Conv3D 64, Conv3D 64 → projection (1×1 conv, 512) → 2D blocks
  (256, 64, 32, 32[, 16]) each Conv k4 + AdaIN + up ×2 → Conv k4 → tanh.
  The number of 2D blocks is log2(resolution/16).

  Args:
    latent_dim: Z (145 for the paper).
    resolution: output size, a power of two >= 32.
    const_channels: channels of the learned 4³ constant (512).
    channels_3d: channels of the two 3D AdaIN blocks before rotation.
    channels_3d_post: channels of the two 3D convs after rotation.
    projection_channels: output channels of the projection unit.
    channels_2d: channels of the 2D blocks (the first log2(res/16) are used).
    mlp_units: AdaIN MLP width (128).
    constant_size: edge of the learned constant volume: 4 (the reference:
      4³, upsampled ×2 before each of the two 3D AdaIN blocks) or 8 / 16 (a
      finer learned template, fewer upsamplings; the 3D blocks then run at
      16³ sooner). The volume is 16³ at the rotation either way. A finer
      template learns face detail in far fewer steps (the CPU demo uses 16).
  """

  def __init__(self, latent_dim: int, resolution: int = 256,
               const_channels: int = 512,
               channels_3d: Sequence[int] = (256, 128),
               channels_3d_post: Sequence[int] = (64, 64),
               projection_channels: int = 512,
               channels_2d: Sequence[int] = (256, 64, 32, 32, 16),
               mlp_units: int = 128, constant_size: int = 4, **kwargs):
    super().__init__(**kwargs)
    self.latent_dim = int(latent_dim)
    self.resolution = int(resolution)
    # Everything needed to build an identical generator (clone, export).
    self.config_kwargs = dict(
        latent_dim=self.latent_dim, resolution=self.resolution,
        const_channels=int(const_channels),
        channels_3d=tuple(int(c) for c in channels_3d),
        channels_3d_post=tuple(int(c) for c in channels_3d_post),
        projection_channels=int(projection_channels),
        channels_2d=tuple(int(c) for c in channels_2d),
        mlp_units=int(mlp_units), constant_size=int(constant_size))
    n2d = blocks.num_2d_blocks(self.resolution)
    if len(channels_2d) < n2d:
      raise ValueError(f"resolution {resolution} needs {n2d} 2D channel "
                       f"counts, got channels_2d={tuple(channels_2d)}")
    if len(channels_3d) != 2:
      raise ValueError("channels_3d needs 2 channel counts (the 3D AdaIN "
                       f"blocks), got {tuple(channels_3d)}")
    if constant_size not in (4, 8, 16):
      raise ValueError(f"constant_size must be 4, 8 or 16, got {constant_size}")
    self.constant_size = int(constant_size)
    # Upsample before 3D block i while the volume is below 16³.
    self.upsample_3d = [self.constant_size * 2 ** (i + 1) <= 16
                        for i in range(2)]
    self.const_channels = int(const_channels)
    # The reference learns the constant as Dense(4*4*4*C) of a zero input with
    # kernel 0 and bias 1: that is a learned tensor initialized to ones. A
    # finer template starts from ones plus small noise, so its voxels differ.
    size = self.constant_size
    self.constant = self.add_weight(
        name="constant", shape=(size, size, size, self.const_channels),
        initializer="ones" if size == 4 else
        keras.initializers.RandomNormal(1.0, 0.1, seed=0))
    self.blocks_3d = layers.track(self, "block_3d", [
        layers.ConvAdaIN(int(c), 3, rank=3, mlp_units=mlp_units,
                         name=f"map_3d_{i}") for i, c in enumerate(channels_3d)])
    self.post_3d = layers.track(self, "post_3d", [
        keras.layers.Conv3D(int(c), 3, padding="same", name=f"map_3d_post_{i}")
        for i, c in enumerate(channels_3d_post)])
    self.projection = blocks.ProjectionUnit(int(projection_channels),
                                            name="projection")
    # The reference lists LReLU explicitly only for its first 2D block; its
    # Conv2dAdaIn building block applies the nonlinearity in every block,
    # which is what ConvAdaIN does here.
    self.blocks_2d = layers.track(self, "block_2d", [
        layers.ConvAdaIN(int(c), 4, rank=2, mlp_units=mlp_units,
                         name=f"map_2d_{i}")
        for i, c in enumerate(channels_2d[:n2d])])
    self.to_rgb = keras.layers.Conv2D(3, 4, padding="same", name="map_final")

  def call(self, z, rotation, training=None):
    """Generates images.

    Args:
      z: `[B, Z]` float32 latent.
      rotation: `[B, 3]` float32 head pose (pitch, yaw, roll) radians.

    Returns:
      `[B, R, R, 3]` float32 in [-1, 1].
    """
    z = tf.convert_to_tensor(z, tf.float32)
    batch = tf.shape(z)[0]
    x = tf.tile(self.constant[None], [batch, 1, 1, 1, 1])
    for block, upsample in zip(self.blocks_3d, self.upsample_3d):
      if upsample:
        x = layers.upsample_nearest(x)
      x = block(x, z)
    x = layers.rotate_volume(x, rotation)
    for conv in self.post_3d:
      x = tf.nn.leaky_relu(conv(x), 0.3)
    x = self.projection(x)
    for block in self.blocks_2d:
      x = block(x, z)
      x = layers.upsample_nearest(x)
    return tf.tanh(self.to_rgb(x))


class RealEncoder(base.Network):
  """E_R: real image -> (z, rotation), rotation bounded by ``tanh``.

  The reference uses ResNet-50 (ImageNet weights, "caffe" preprocessing) with
  a linear head for z and ``tanh × bounds`` for the rotation. Here the
  backbone is one of :mod:`tfface.networks.backbones`: ``"resnet50"``
  (weights from ``weights_path`` or random — never downloaded) or
  ``"small"`` (for the CPU demo).

  Args:
    latent_dim: Z.
    resolution: input size (square).
    backbone: ``"resnet50"`` or ``"small"``.
    weights_path: optional Keras weights file for the ResNet-50 backbone
      (``include_top=False``).
    small_widths: channels of the small backbone.
    rotation_bounds: (pitch, yaw, roll) maxima in radians.
  """

  def __init__(self, latent_dim: int, resolution: int = 256,
               backbone: str = "resnet50", weights_path: Optional[str] = None,
               small_widths: Sequence[int] = (32, 64, 128, 256),
               rotation_bounds: Sequence[float] = ROTATION_BOUNDS, **kwargs):
    super().__init__(**kwargs)
    self.latent_dim = int(latent_dim)
    self.backbone_name = backbone
    self.backbone = backbones.make_backbone(backbone, resolution, weights_path,
                                            small_widths)
    self.z_head = keras.layers.Dense(self.latent_dim, name="z_head")
    self.rotation_head = keras.layers.Dense(3, name="rotation_head")
    self.rotation_bounds = tf.constant(list(rotation_bounds), tf.float32)

  def call(self, images, training=None):
    """Encodes images.

    Args:
      images: `[B, R, R, 3]` float32 in [-1, 1], RGB.

    Returns:
      ``(z [B, Z], rotation [B, 3] (pitch, yaw, roll) radians)``.
    """
    features = self.backbone(images, training=training)
    z = self.z_head(features)
    rotation = tf.tanh(self.rotation_head(features)) * self.rotation_bounds
    return z, rotation


class SyntheticEncoder(base.Network):
  """E_S: θ -> z, one 2-layer MLP per factor, concatenated in sorted order.

  Each factor: Dense(dim θ_i) -> LeakyReLU(0.3) -> Dense(dim z_i).

  Args:
    table: the :class:`~tfface.methods.confignet.factors.FactorTable`.
  """

  def __init__(self, table: factors_lib.FactorTable, **kwargs):
    super().__init__(**kwargs)
    self.table = table
    self.encoders = {
        f.name: layers.MLP(2, f.theta_dim, f.z_dim,
                           name="enc_" + _safe(f.name))
        for f in table.factors}
    layers.track(self, "enc",
                 {_safe(name): mlp for name, mlp in self.encoders.items()})

  def encode_factor(self, name: str, theta: tf.Tensor) -> tf.Tensor:
    """z_i = E_S,i(θ_i): `[B, dim θ_i]` -> `[B, dim z_i]`."""
    factor = self.table[name]
    theta = tf.convert_to_tensor(theta, tf.float32)
    if theta.shape.rank != 2 or theta.shape[-1] != factor.theta_dim:
      raise ValueError(f"factor {name!r} expects θ of shape [B, "
                       f"{factor.theta_dim}], got {theta.shape}")
    return self.encoders[name](theta)

  def call(self, theta: Mapping[str, tf.Tensor]):
    """Encodes every factor.

    Args:
      theta: dict name -> `[B, dim θ_i]` float32 (extra keys, e.g. ``pose``,
        are ignored).

    Returns:
      `[B, Z]` float32, the z_i concatenated in sorted name order.
    """
    missing = [n for n in self.table.names if n not in theta]
    if missing:
      raise ValueError(f"θ is missing factors {missing}; expected "
                       f"{list(self.table.names)}")
    return tf.concat([self.encode_factor(n, theta[n])
                      for n in self.table.names], axis=-1)


def _safe(name: str) -> str:
  return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)


class _DiscriminatorTrunk(keras.layers.Layer):
  """1×1 conv to 3 channels, then ``num_blocks`` DiscriminatorBlocks."""

  def __init__(self, num_blocks: int, base_filters: int, max_filters: int,
               style_outputs: bool, **kwargs):
    super().__init__(**kwargs)
    self.from_rgb = keras.layers.Conv2D(3, 1, name="from_rgb")
    self.blocks = layers.track(self, "block", [
        blocks.DiscriminatorBlock(min(int(base_filters) * 2 ** i,
                                      int(max_filters)),
                                  style_output=style_outputs,
                                  name=f"block_{i}")
        for i in range(int(num_blocks))])

  def call(self, images):
    x = self.from_rgb(images)
    logits = []
    for block in self.blocks:
      x, logit = block(x)
      logits.append(logit)
    return x, logits


class ImageDiscriminator(base.Network):
  """D_R / D_S: HoloGAN discriminator with per-block style logits.

  Filters min(base·2^i, max) for i < num_blocks (reference 48..512, 5 blocks,
  at 256 px the final map is 8×8).

  Args:
    resolution: input size (the final map is resolution / 2^num_blocks).
    num_blocks: strided blocks (5).
    base_filters: 48.
    max_filters: 512.
  """

  def __init__(self, resolution: int = 256, num_blocks: int = 5,
               base_filters: int = 48, max_filters: int = 512, **kwargs):
    super().__init__(**kwargs)
    if resolution % (2 ** num_blocks):
      raise ValueError(f"discriminator resolution {resolution} is not "
                       f"divisible by 2^{num_blocks}")
    self.num_blocks = int(num_blocks)
    self.trunk = _DiscriminatorTrunk(num_blocks, base_filters, max_filters,
                                     True, name="trunk")
    self.final = keras.layers.Dense(1, name="final")

  @property
  def output_names_(self):
    return [f"style_{i}" for i in range(self.num_blocks)] + ["final"]

  def call(self, images, training=None):
    """Logits for every output.

    Args:
      images: `[B, R, R, 3]` float32 in [-1, 1].

    Returns:
      dict ``style_0 .. style_{n-1}, final`` -> `[B, 1]` float32 logits.
    """
    x, logits = self.trunk(images)
    out = {f"style_{i}": l for i, l in enumerate(logits)}
    out["final"] = self.final(tf.reshape(x, [tf.shape(x)[0], -1]))
    return out


class LatentRegressor(base.Network):
  """Predicts ``[z, 5·rotation]`` from an image (HoloGAN's identity loss).

  Same trunk as the discriminator, without style outputs.
  """

  def __init__(self, latent_dim: int, resolution: int = 256,
               num_blocks: int = 5, base_filters: int = 48,
               max_filters: int = 512, **kwargs):
    super().__init__(**kwargs)
    del resolution
    self.latent_dim = int(latent_dim)
    self.trunk = _DiscriminatorTrunk(num_blocks, base_filters, max_filters,
                                     False, name="trunk")
    self.head = keras.layers.Dense(self.latent_dim + 3, name="head")

  def call(self, images, training=None):
    """`[B, R, R, 3]` -> `[B, Z + 3]` (z, then 5 × rotation)."""
    x, _ = self.trunk(images)
    return self.head(tf.reshape(x, [tf.shape(x)[0], -1]))


class DomainDiscriminator(base.Network):
  """D_DA: 4-layer MLP on z (hidden = Z), one logit."""

  def __init__(self, latent_dim: int, num_layers: int = 4, **kwargs):
    super().__init__(**kwargs)
    self.mlp = layers.MLP(num_layers, int(latent_dim), 1, name="mlp")

  def call(self, z, training=None):
    """`[B, Z]` -> `[B, 1]` logit."""
    return self.mlp(z)


def build_networks(nets: Dict[str, keras.Model], table, resolution: int):
  """Calls every network once on zeros so its weights exist.

  Args:
    nets: name -> network; recognized names: ``generator*``, ``synthetic_encoder``,
      ``real_encoder``, ``d_*`` image discriminators, ``regressor``,
      ``domain_discriminator``, ``latent_*``.
    table: the factor table.
    resolution: image size.
  """
  z = tf.zeros([1, table.latent_dim])
  image = tf.zeros([1, resolution, resolution, 3])
  theta = {f.name: tf.zeros([1, f.theta_dim]) for f in table.factors}
  for name, net in nets.items():
    if isinstance(net, Generator):
      net(z, tf.zeros([1, 3]))
    elif isinstance(net, SyntheticEncoder):
      net(theta)
    elif isinstance(net, (RealEncoder, ImageDiscriminator, LatentRegressor)):
      net(image)
    elif isinstance(net, (DomainDiscriminator, LatentGenerator,
                          LatentDiscriminator)):
      net(z)
    else:
      raise ValueError(f"build_networks does not know network {name!r}")


def count_parameters(model: keras.Model) -> int:
  return int(sum(np.prod(v.shape) for v in model.trainable_weights))
