"""DiscoFaceGAN's generator and discriminator (reference notes §3.1).

* :class:`DiscoFaceGenerator`: the mapping from ``[λ, ε]`` (StyleGAN v1
  ``G_mapping`` with **no pixel norm of the input**, 8 × 512, lrmul 0.01) and
  a synthesis network: StyleGAN v1's progressive ``G_synthesis``
  (:class:`tfface.networks.stylegan1.StyleGenerator`: AdaIN, noise,
  ``[1, 2, 1]`` blur, fused up-convs from 128 px; ``synthesis="stylegan1"``,
  the reference) or tfface's StyleGAN2 synthesis
  (:class:`tfface.networks.stylegan2.SynthesisNetwork`,
  ``synthesis="stylegan2"``, not progressive: below the top LOD its output is
  average-pooled to the LOD's size). No style mixing and no built-in
  truncation, as the reference (attribute-preserving truncation is
  :mod:`tfface.methods.discofacegan.truncation`).
* :class:`ProgressiveDiscriminator`: StyleGAN v1's ``D_basic`` (FromRGB per
  LOD, conv 3×3 → blur → conv 3×3 → 2× average pool per block, minibatch
  stddev group 4, conv, dense, dense 1; progressive fade-in of the input).
"""

import math
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from tfface import layers as L
from tfface.networks import base
from tfface.networks import stylegan1 as s1
from tfface.networks import stylegan2 as s2

SYNTHESES = ("stylegan1", "stylegan2")


def _log2(resolution: int) -> int:
  log2 = int(round(math.log2(int(resolution))))
  if 2**log2 != int(resolution) or resolution < 8:
    raise ValueError(f"resolution must be a power of two >= 8, got "
                     f"{resolution}")
  return log2


class DiscoFaceGenerator(base.Network):
  """G: ``[λ, ε]`` -> image.

  Args:
    input_dim: size of ``[λ, ε]`` (254 + 32 = 286 for BFM, 89 + 32 for the
      procedural layout).
    resolution: output size R (power of two, >= 8; >= 16 for StyleGAN2).
    w_dim: style size W (512).
    mapping_layers: dense layers of the mapping (8).
    mapping_lr_multiplier: 0.01.
    synthesis: ``"stylegan1"`` (reference) or ``"stylegan2"``.
    fmap_base, fmap_max: StyleGAN v1 channel table (8192, 512).
    fused_min_resolution: fused up-conv from this output size (128).
    stylegan2_divisor: divides StyleGAN2's channel table (tiny test models).

  Attributes: ``num_layers`` (W+ entries: 2·log2(R) − 2), ``num_lods``
  (StyleGAN v1 blocks; LOD l renders 4·2**l px), ``mapping``, ``synthesis``,
  ``input_shift`` / ``input_scale`` (`[input_dim]` non-trainable: the mapping
  sees ``([λ, ε] − shift) / scale``; 0 and 1 unless
  :meth:`set_input_standardization` is called).
  """

  def __init__(self, input_dim: int, resolution: int = 256, w_dim: int = 512,
               mapping_layers: int = 8, mapping_lr_multiplier: float = 0.01,
               synthesis: str = "stylegan1", fmap_base: int = 8192,
               fmap_max: int = 512, fused_min_resolution: int = 128,
               stylegan2_divisor: int = 1, **kwargs):
    super().__init__(**kwargs)
    if synthesis not in SYNTHESES:
      raise ValueError(f"DiscoFaceGenerator synthesis must be one of "
                       f"{SYNTHESES}, got {synthesis!r}")
    log2 = _log2(resolution)
    self.input_dim, self.resolution = int(input_dim), int(resolution)
    self.w_dim = int(w_dim)
    self.synthesis_kind = synthesis
    self._config = dict(input_dim=input_dim, resolution=resolution,
                        w_dim=w_dim, mapping_layers=mapping_layers,
                        mapping_lr_multiplier=mapping_lr_multiplier,
                        synthesis=synthesis, fmap_base=fmap_base,
                        fmap_max=fmap_max,
                        fused_min_resolution=fused_min_resolution,
                        stylegan2_divisor=stylegan2_divisor)
    # No pixel norm of [λ, ε]: the reference comments out normalize_latents.
    self.mapping = s1.MappingNetwork(self.input_dim, self.w_dim,
                                     int(mapping_layers),
                                     lr_multiplier=mapping_lr_multiplier,
                                     normalize_input=False, name="mapping")
    # The λ standardization (set_input_standardization); saved with G's
    # checkpoints and exports, so a loaded G maps λ as it was trained.
    self.input_shift = self.add_weight(
        name="input_shift", shape=(self.input_dim,), initializer="zeros",
        trainable=False)
    self.input_scale = self.add_weight(
        name="input_scale", shape=(self.input_dim,), initializer="ones",
        trainable=False)
    self.num_lods = log2 - 1
    self.num_layers = 2 * log2 - 2
    if synthesis == "stylegan1":
      self.synthesis = s1.StyleGenerator(
          s1.stylegan_channels(self.resolution, fmap_base, fmap_max),
          self.w_dim, fused_min_resolution=fused_min_resolution,
          name="synthesis")
    else:
      if self.resolution < 16:
        raise ValueError(f"the StyleGAN2 synthesis needs resolution >= 16, "
                         f"got {resolution}")
      self.synthesis = s2.SynthesisNetwork(
          self.resolution, s2.channel_table(self.resolution,
                                            divisor=stylegan2_divisor),
          style_dim=self.w_dim, name="synthesis")

  def build_all(self) -> None:
    """Creates every weight."""
    self.mapping.build_all()
    if self.synthesis_kind == "stylegan1":
      self.synthesis.build_all()
    else:
      self.synthesis(tf.zeros([1, self.num_layers, self.w_dim]),
                     noise_mode="none")

  def set_input_standardization(self, shift, scale) -> None:
    """The mapping sees ``([λ, ε] − shift) / scale`` (per input dimension).

    A departure from the reference, which maps raw λ: its BFM coefficients
    are of order 0.1–1, like ε ~ N(0, I), but tfface's procedural λ is far
    smaller (expression ~0.01, SH ~0.02 per dimension on the pseudo-real
    faces), so with raw λ the first dense layer's λ inputs are ~50× weaker
    than ε's, and equalized-lr gradients to their weights are as small: G
    learned to ignore λ (measured: after 6000 steps every row of the
    variation grid was constant and the Table-2 cosines ~0.3 for every
    factor). Standardizing by the λ VAEs' training statistics puts λ and ε
    on one scale. Shift 0 and scale 1 is the reference.

    Args:
      shift, scale: `[input_dim]` float (scale > 0).
    """
    shift = np.asarray(shift, np.float32).reshape(-1)
    scale = np.asarray(scale, np.float32).reshape(-1)
    if shift.shape != (self.input_dim,) or scale.shape != (
        self.input_dim,) or not np.all(scale > 0):
      raise ValueError(f"DiscoFaceGenerator.set_input_standardization: shift "
                       f"and scale must be [{self.input_dim}] with scale > 0,"
                       f" got {shift.shape} and {scale.shape}")
    self.input_shift.assign(shift)
    self.input_scale.assign(scale)

  def map(self, inputs: tf.Tensor) -> tf.Tensor:
    """``[λ, ε]`` `[B, input_dim]` -> w `[B, W]`."""
    inputs = tf.convert_to_tensor(inputs, tf.float32)
    if inputs.shape.rank != 2 or inputs.shape[-1] != self.input_dim:
      raise ValueError(f"generator input [lambda, noise] must be [B, "
                       f"{self.input_dim}], got shape {inputs.shape}")
    return self.mapping((inputs - self.input_shift) / self.input_scale)

  def w_plus(self, inputs: tf.Tensor) -> tf.Tensor:
    """``[λ, ε]`` -> W+ `[B, num_layers, W]` (w broadcast to every layer)."""
    return s1.broadcast_styles(self.map(inputs), self.num_layers)

  def synthesize(self, w_plus: tf.Tensor, lod: Optional[int] = None,
                 alpha=1.0, noise_mode: str = "random",
                 noise_seed=None) -> tf.Tensor:
    """W+ `[B, num_layers, W]` (or w `[B, W]`) -> image `[B, r, r, 3]`,
    r = 4·2**lod (default the top), roughly in [-1, 1]."""
    w_plus = s1.broadcast_styles(w_plus, self.num_layers)
    lod = self.num_lods - 1 if lod is None else int(lod)
    if self.synthesis_kind == "stylegan1":
      return self.synthesis(w_plus, lod=lod, alpha=alpha,
                            noise_mode=noise_mode, noise_seed=noise_seed)
    image = self.synthesis(w_plus, noise_mode=noise_mode,
                           noise_seed=noise_seed)
    return s1.downsample_average(image, 2**(self.num_lods - 1 - lod))

  def call(self, inputs, lod: Optional[int] = None, alpha=1.0,
           noise_mode: str = "random", noise_seed=None):
    """``[λ, ε]`` `[B, input_dim]` -> image `[B, r, r, 3]` (see
    :meth:`synthesize`)."""
    return self.synthesize(self.w_plus(inputs), lod, alpha, noise_mode,
                           noise_seed)

  def config(self) -> Dict[str, object]:
    return dict(self._config)


class ProgressiveDiscriminator(base.Network):
  """StyleGAN v1 ``D_basic``, progressive.

  Args:
    resolution: input size R.
    fmap_base, fmap_max: channel table (8192, 512, as G).
    mbstd_group: minibatch-stddev group size (4).
    fused_min_resolution: blocks at >= this input size use the fused
      conv + pool (128, as the reference).

  Call ``(images, lod=None, alpha=1.0)``: `[B, r, r, 3]` with r = 4·2**lod ->
  logits `[B, 1]`. During a fade-in (α < 1) the input also goes through the
  previous LOD's FromRGB at half size, blended after the new block (as
  StyleGAN's recursive structure).
  """

  def __init__(self, resolution: int = 256, fmap_base: int = 8192,
               fmap_max: int = 512, mbstd_group: int = 4,
               fused_min_resolution: int = 128, **kwargs):
    super().__init__(**kwargs)
    log2 = _log2(resolution)
    self.resolution = int(resolution)
    self.channels = s1.stylegan_channels(self.resolution, fmap_base, fmap_max)
    self.num_lods = log2 - 1
    self.mbstd_group = int(mbstd_group)
    self._config = dict(resolution=resolution, fmap_base=fmap_base,
                        fmap_max=fmap_max, mbstd_group=mbstd_group,
                        fused_min_resolution=fused_min_resolution)
    ch = self.channels
    self.from_rgbs = L.track(self, "from_rgb", [
        s1.WScaleConv2D(ch[i], 1, use_bias=True, name=f"from_rgb_{i}")
        for i in range(self.num_lods)])
    convs0, convs1, blurs = [], [], []
    for i in range(1, self.num_lods):
      convs0.append(s1.WScaleConv2D(ch[i], 3, use_bias=True,
                                    name=f"conv0_{i}"))
      fused = s1.resolution_of(i) >= int(fused_min_resolution) > 0
      convs1.append(s1.FusedDownConv2D(ch[i - 1], name=f"conv1_down_{i}")
                    if fused else
                    s1.WScaleConv2D(ch[i - 1], 3, use_bias=False,
                                    name=f"conv1_{i}"))
      blurs.append(s1.blur_layer(f"blur_{i}"))
    self.fused = [s1.resolution_of(i) >= int(fused_min_resolution) > 0
                  for i in range(1, self.num_lods)]
    self.convs0 = L.track(self, "conv0", convs0)
    self.convs1 = L.track(self, "conv1", convs1)
    self.blurs = L.track(self, "blur", blurs)
    self.final_conv = s1.WScaleConv2D(ch[0], 3, use_bias=True,
                                      name="final_conv")
    self.final_dense = s1.WScaleDense(ch[0], name="final_dense")
    self.out = s1.WScaleDense(1, gain=1.0, name="out")

  def build(self, input_shape):
    for i, layer in enumerate(self.from_rgbs):
      if not layer.built:
        layer.build((None, None, None, 3))
    self.block_bias = [self.add_weight(name=f"conv1_bias_{i}",
                                       shape=(self.channels[i - 1],),
                                       initializer="zeros")
                       for i in range(1, self.num_lods)]

  def build_all(self) -> None:
    """Creates every weight (every LOD's FromRGB and block)."""
    self(tf.zeros([self.mbstd_group, self.resolution, self.resolution, 3]))

  def _block(self, i: int, x: tf.Tensor) -> tf.Tensor:
    """Block at LOD i >= 1: `[B, r, r, C_i]` -> `[B, r/2, r/2, C_{i−1}]`."""
    x = s1.leaky_relu(self.convs0[i - 1](x))
    x = self.blurs[i - 1](x)
    x = self.convs1[i - 1](x)
    if not self.fused[i - 1]:
      x = s1.downsample_average(x)
    return s1.leaky_relu(x + self.block_bias[i - 1])

  def call(self, images, lod: Optional[int] = None, alpha=1.0):
    lod = self.num_lods - 1 if lod is None else int(lod)
    if not 0 <= lod < self.num_lods:
      raise ValueError(f"lod must be in [0, {self.num_lods - 1}], got {lod}")
    images = tf.convert_to_tensor(images, tf.float32)
    x = s1.leaky_relu(self.from_rgbs[lod](images))
    blend = lod > 0 and not (isinstance(alpha, (int, float)) and alpha == 1)
    for i in range(lod, 0, -1):
      x = self._block(i, x)
      if i == lod and blend:
        old = s1.leaky_relu(self.from_rgbs[lod - 1](
            s1.downsample_average(images)))
        x = s1.lerp(old, x, alpha)
    x = L.minibatch_stddev(x, self.mbstd_group)
    x = s1.leaky_relu(self.final_conv(x))
    x = tf.reshape(x, [-1, 16 * self.channels[0]])
    x = s1.leaky_relu(self.final_dense(x))
    return self.out(x)

  def config(self) -> Dict[str, object]:
    return dict(self._config)
