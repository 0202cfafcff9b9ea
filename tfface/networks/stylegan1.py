"""StyleGAN v1 pieces (Karras et al. 2019), reusable by ALAE and DiscoFaceGAN.

The style-based generator of NVlabs/stylegan (``G_mapping`` / ``G_synthesis``
with ``structure='recursive'``) as it is also written in podgorskiy/ALAE
(``net.py``: ``MappingF``, ``DecodeBlock``, ``Generator``). Both share the
same arithmetic; the differences are constructor options:

* :class:`MappingNetwork` z -> w: optional pixel norm of z, ``num_layers``
  equalized dense layers (gain √2) with leaky ReLU after each, a learning-rate
  multiplier (StyleGAN / DiscoFaceGAN 0.01, ALAE 0.1), and the tracked w̄.
* :class:`StyleGenerator` (synthesis) styles -> image with a learned 4×4
  constant (init 1), per-layer noise with a learned per-channel weight
  (init 0), the ``[1, 2, 1]`` blur after each upsampling conv, instance
  norm + style modulation, the fused transposed conv at output resolutions
  >= ``fused_min_resolution`` (128) and nearest ×2 + conv below it, and
  progressive growing: ``call(styles, lod, alpha)`` runs the blocks up to
  level of detail ``lod`` (0 = 4×4) and, for ``alpha < 1``, blends the new
  ToRGB with the previous LOD's ToRGB (nearest-upsampled).
* Style mixing (:func:`mix_styles`, :func:`mixing_cutoff`), truncation
  (:func:`truncate`), channel tables (:func:`alae_channels`,
  :func:`stylegan_channels`) and the image-count driven LOD schedule
  (:class:`ProgressiveSchedule`).

**Style modulation.** ``style_mod="one_plus"`` computes ``IN(x)·(1 + γ) + β``
with (γ, β) = ``Dense(w)`` (bias 0): this is what both NVlabs' ``style_mod``
and ALAE's ``style_mod`` (``addcmul(β, x, γ + 1)``) compute. ``"direct"`` is
the AdaIN formula of the StyleGAN paper (Eq. 1), ``IN(x)·γ + β``, with γ's
bias initialised to 1 so it starts at the same identity; a converted
checkpoint always uses ``"one_plus"``.

**Equalized learning rate.** Every layer stores unit-scale weights and
multiplies them at run time by ``gain · lr_multiplier / sqrt(fan_in)``
(StyleGAN's ``use_wscale``; ALAE's ``lreq`` layers with the runtime scale
moved into the optimizer, which Adam with β1 = 0 makes equivalent). The
gains are the references': √2 for convs and the mapping, 1 for the style
layers, ``to_rgb_gain`` for ToRGB (StyleGAN 1, ALAE 0.03).

All NHWC. Styles are ``[B, num_layers, W]`` (W+, two per block) or ``[B, W]``
(one w for every layer).
"""

import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from tfface import layers as L
from tfface.layers import equalized
from tfface.networks import base

keras = tf.keras

SQRT2 = math.sqrt(2.0)
LEAKY_SLOPE = 0.2
STYLE_MODS = ("one_plus", "direct")
NOISE_MODES = ("random", "const", "none", "alae_deterministic")
# The seed of the batch-constant noise maps of noise_mode="const".
_CONST_NOISE_SEED = 20190412
BLUR_TAPS = (1, 2, 1)

Alpha = Union[float, tf.Tensor]


# ------------------------------------------------------------------ layers


class WScaleDense(equalized.EqualizedDense):
  """:class:`~tfface.layers.EqualizedDense` with StyleGAN's gain.

  ``y = x @ (kernel · gain · lr_multiplier / sqrt(fan_in)) + bias ·
  lr_multiplier``; no activation (the references apply a plain leaky ReLU
  after the bias).

  Args:
    units: output size.
    gain: √2 (the default of StyleGAN's ``dense`` and ALAE's ``lreq.Linear``),
      1 for style layers.
    lr_multiplier: learning-rate multiplier.
    use_bias: add a bias.
    bias_init: initial stored bias.

  Input `[..., fan_in]`, output `[..., units]` float32.
  """

  def __init__(self, units: int, gain: float = SQRT2,
               lr_multiplier: float = 1.0, use_bias: bool = True,
               bias_init: float = 0.0, **kwargs):
    super().__init__(units, lr_multiplier=lr_multiplier, use_bias=use_bias,
                     bias_init=bias_init, **kwargs)
    self.gain = float(gain)

  def build(self, input_shape):
    super().build(input_shape)
    self.weight_scale = self.weight_scale * self.gain


class WScaleConv2D(equalized.EqualizedConv2D):
  """:class:`~tfface.layers.EqualizedConv2D` with StyleGAN's gain.

  Args:
    filters, kernel_size, strides, padding, use_bias, lr_multiplier: as
      :class:`~tfface.layers.EqualizedConv2D`.
    gain: √2 by default; ToRGB uses 1 (StyleGAN) or 0.03 (ALAE).

  Input `[B, H, W, C_in]`, output `[B, H', W', filters]`; ``kernel``
  `[k, k, C_in, filters]`.
  """

  def __init__(self, filters: int, kernel_size: int, gain: float = SQRT2,
               **kwargs):
    super().__init__(filters, kernel_size, **kwargs)
    self.gain = float(gain)

  def build(self, input_shape):
    super().build(input_shape)
    self.weight_scale = self.weight_scale * self.gain


def _four_tap_kernel(w: tf.Tensor) -> tf.Tensor:
  """The 3×3 -> 4×4 kernel of a fused up/down conv: the sum of the four
  one-pixel shifts of the zero-padded kernel (StyleGAN's ``upscale2d_conv2d``,
  ALAE ``lreq.py`` L141-160). `[3, 3, I, O]` -> `[4, 4, I, O]`."""
  w = tf.pad(w, [[1, 1], [1, 1], [0, 0], [0, 0]])
  return w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]


class FusedUpConv2D(WScaleConv2D):
  """Nearest ×2 upsampling and a 3×3 conv fused into one transposed conv.

  The stored kernel is a 3×3 conv kernel `[3, 3, C_in, filters]` (fan-in
  ``9·C_in``); at run time it becomes the 4×4 kernel of a stride-2
  transposed convolution with padding 1 (PyTorch
  ``conv_transpose2d(x, w, stride=2, padding=1)``). No bias.

  Input `[B, H, W, C_in]`, output `[B, 2H, 2W, filters]`.
  """

  def __init__(self, filters: int, gain: float = SQRT2, **kwargs):
    super().__init__(filters, 3, gain=gain, strides=2, padding=1,
                     use_bias=False, **kwargs)

  def call(self, x):
    w = _four_tap_kernel(self.kernel * self.weight_scale)
    w = tf.transpose(w, [0, 1, 3, 2])  # conv2d_transpose wants [h, w, O, I]
    shape = tf.shape(x)
    out_shape = tf.stack([shape[0], 2 * shape[1], 2 * shape[2], self.filters])
    y = tf.nn.conv2d_transpose(x, w, out_shape, strides=2,
                               padding=[[0, 0], [1, 1], [1, 1], [0, 0]])
    static = x.shape
    return tf.ensure_shape(y, [static[0],
                               None if static[1] is None else 2 * static[1],
                               None if static[2] is None else 2 * static[2],
                               self.filters])


class FusedDownConv2D(WScaleConv2D):
  """A 3×3 conv and 2×2 average pooling fused into one stride-2 conv.

  The stored 3×3 kernel becomes ``0.25 ×`` the 4×4 four-shift kernel of a
  stride-2 convolution with padding 1 (ALAE's encoder at >= 128 px). No bias.

  Input `[B, H, W, C_in]` (H, W even), output `[B, H/2, W/2, filters]`.
  """

  def __init__(self, filters: int, gain: float = SQRT2, **kwargs):
    super().__init__(filters, 3, gain=gain, strides=2, padding=1,
                     use_bias=False, **kwargs)

  def call(self, x):
    w = _four_tap_kernel(self.kernel * self.weight_scale) * 0.25
    x = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    return tf.nn.conv2d(x, w, 2, "VALID")


def leaky_relu(x: tf.Tensor) -> tf.Tensor:
  """Plain leaky ReLU, slope 0.2 (the gain sits in the weights).

  Written as ``max(x, 0.2·x)``: Grappler's remapper fails (and logs an
  error) fusing ``LeakyRelu`` gradients inside the per-LOD switch branches.
  """
  return tf.maximum(x, LEAKY_SLOPE * x)


def upsample_nearest(x: tf.Tensor, factor: int = 2) -> tf.Tensor:
  """Nearest-neighbour upsampling. `[B, H, W, C]` -> `[B, fH, fW, C]`."""
  factor = int(factor)
  if factor == 1:
    return x
  return tf.repeat(tf.repeat(x, factor, axis=1), factor, axis=2)


def downsample_average(x: tf.Tensor, factor: int = 2) -> tf.Tensor:
  """``factor × factor`` average pooling (ALAE's pre-downsampled LODs).
  `[B, H, W, C]` -> `[B, H/f, W/f, C]`."""
  factor = int(factor)
  if factor == 1:
    return x
  return tf.nn.avg_pool2d(x, factor, factor, "VALID")


def lerp(a: tf.Tensor, b: tf.Tensor, alpha: Alpha) -> tf.Tensor:
  """``(1 − α)·a + α·b``: exactly ``a`` at α = 0 and ``b`` at α = 1."""
  alpha = tf.cast(alpha, a.dtype)
  return (1.0 - alpha) * a + alpha * b


def blur_layer(name: str) -> L.Blur:
  """The ``[1, 2, 1] ⊗ [1, 2, 1] / 16`` blur with padding 1 (size kept)."""
  return L.Blur(BLUR_TAPS, pad=(1, 1), name=name)


# ------------------------------------------------------------------ tables


def alae_channels(layer_count: int, start_channels: int = 64,
                  max_channels: int = 256) -> Tuple[int, ...]:
  """ALAE's channel table, 4×4 block first (``net.py`` ``Generator``).

  Block i has ``min(max_channels, start_channels · 2**(layer_count − 1 −
  i))`` feature maps; e.g. CelebA-128 (6, 64, 256): 256, 256, 256, 256, 128,
  64. The encoder uses the same table for the inputs of its blocks.
  """
  if layer_count < 1:
    raise ValueError(f"layer_count must be >= 1, got {layer_count}")
  return tuple(min(int(max_channels), int(start_channels) *
                   2**(layer_count - 1 - i)) for i in range(layer_count))


def stylegan_channels(resolution: int, fmap_base: int = 8192,
                      fmap_max: int = 512, fmap_decay: float = 1.0
                      ) -> Tuple[int, ...]:
  """NVlabs StyleGAN's table ``nf(stage) = min(fmap_base / 2**stage,
  fmap_max)``, 4×4 block first; 256 px: 512, 512, 512, 512, 256, 128, 64."""
  log2 = int(round(math.log2(resolution)))
  if 2**log2 != resolution or resolution < 4:
    raise ValueError(f"resolution must be a power of two >= 4, got "
                     f"{resolution}")
  return tuple(min(int(fmap_base / 2.0**((r - 1) * fmap_decay)),
                   int(fmap_max)) for r in range(2, log2 + 1))


def resolution_of(lod: int) -> int:
  """The image size of level of detail ``lod``: 4·2**lod."""
  return 4 * 2**int(lod)


# ------------------------------------------------------------ styles ops


def broadcast_styles(styles: tf.Tensor, num_layers: int) -> tf.Tensor:
  """`[B, W]` -> `[B, num_layers, W]`; `[B, num_layers, W]` passes through."""
  styles = tf.convert_to_tensor(styles)
  if styles.shape.rank == 2:
    return tf.tile(styles[:, None, :], [1, num_layers, 1])
  if styles.shape.rank != 3 or (styles.shape[1] is not None and
                                int(styles.shape[1]) != num_layers):
    raise ValueError(f"styles must be [B, W] or [B, {num_layers}, W], got "
                     f"{styles.shape}")
  return styles


def mix_styles(w1: tf.Tensor, w2: tf.Tensor, cutoff: tf.Tensor,
               num_layers: int) -> tf.Tensor:
  """Style mixing: layers with index < ``cutoff`` take w1, the rest w2.

  Args:
    w1, w2: `[B, W]` or `[B, num_layers, W]`.
    cutoff: int scalar; ``num_layers`` (or more) means no mixing.
    num_layers: L.

  Returns:
    `[B, L, W]`.
  """
  w1 = broadcast_styles(w1, num_layers)
  w2 = broadcast_styles(w2, num_layers)
  index = tf.range(num_layers)[None, :, None]
  return tf.where(index < tf.cast(cutoff, tf.int32), w1, w2)


def mixing_cutoff(seed: tf.Tensor, probability: float, max_cutoff: int,
                  num_layers: int) -> tf.Tensor:
  """A random mixing cutoff (stateless).

  With probability ``probability`` a cutoff drawn uniformly from
  ``[1, max_cutoff]`` (inclusive), else ``num_layers`` (no mixing). ALAE
  draws ``randint(1, 2·(lod + 1))`` (``max_cutoff`` = the active layers);
  NVlabs StyleGAN draws from ``[1, active − 1]``.

  Args:
    seed: `[2]` int seed.
    probability: mixing probability (0.9 in both references).
    max_cutoff: largest cutoff (>= 1).
    num_layers: the "no mixing" value.

  Returns:
    int32 scalar.
  """
  seeds = tf.random.experimental.stateless_split(seed, 2)
  mix = tf.random.stateless_uniform([], seeds[0]) < probability
  cutoff = tf.random.stateless_uniform([], seeds[1], minval=1,
                                       maxval=int(max_cutoff) + 1,
                                       dtype=tf.int32)
  return tf.where(mix, cutoff, tf.constant(int(num_layers), tf.int32))


def truncate(styles: tf.Tensor, w_avg: tf.Tensor, psi: Alpha,
             cutoff: Optional[int] = None) -> tf.Tensor:
  """The truncation trick ``w̄ + ψ·(w − w̄)`` on layers below ``cutoff``.

  Args:
    styles: `[B, L, W]`.
    w_avg: `[W]` w̄.
    psi: ψ (1 = none).
    cutoff: truncate layers with index < cutoff only (ALAE, StyleGAN: 8);
      None truncates all.

  Returns:
    `[B, L, W]`.
  """
  psi = tf.cast(psi, styles.dtype)
  truncated = w_avg + psi * (styles - w_avg)
  if cutoff is None:
    return truncated
  num_layers = int(styles.shape[1])
  index = tf.range(num_layers)[None, :, None]
  return tf.where(index < int(cutoff), truncated, styles)


# ------------------------------------------------------------- networks


class MappingNetwork(base.Network):
  """F: z -> w (StyleGAN ``G_mapping``, ALAE ``MappingF``).

  ``pixel_norm(z)`` (optional; DiscoFaceGAN switches it off), then
  ``num_layers`` × (:class:`WScaleDense` (gain √2, ``lr_multiplier``) +
  leaky ReLU 0.2). The references apply the activation after every layer,
  the last included (``final_activation``; ivanvovk's re-implementation ends
  in a plain linear layer).

  Args:
    z_dim: input size (ALAE: the latent size; DiscoFaceGAN: 286).
    w_dim: output size W.
    num_layers: dense layers (8 in the face configs).
    hidden: width of the hidden layers (default ``w_dim``).
    lr_multiplier: 0.01 (StyleGAN, DiscoFaceGAN) or 0.1 (ALAE).
    normalize_input: pixel norm of z.
    final_activation: leaky ReLU after the last layer.

  ``w_avg`` `[W]` (non-trainable, MEAN-aggregated) is w̄, moved by
  :meth:`update_w_avg`.
  """

  def __init__(self, z_dim: int, w_dim: int, num_layers: int = 8,
               hidden: Optional[int] = None, lr_multiplier: float = 0.01,
               normalize_input: bool = True, final_activation: bool = True,
               **kwargs):
    super().__init__(**kwargs)
    if num_layers < 1:
      raise ValueError(f"mapping num_layers must be >= 1, got {num_layers}")
    self.z_dim, self.w_dim = int(z_dim), int(w_dim)
    self.hidden = int(hidden or w_dim)
    self.lr_multiplier = float(lr_multiplier)
    self.normalize_input = bool(normalize_input)
    self.final_activation = bool(final_activation)
    self.dense = L.track(self, "dense", [
        WScaleDense(self.w_dim if i == num_layers - 1 else self.hidden,
                    gain=SQRT2, lr_multiplier=self.lr_multiplier,
                    name=f"dense_{i}") for i in range(int(num_layers))])
    self.w_avg = self.add_weight(name="w_avg", shape=(self.w_dim,),
                                 initializer="zeros", trainable=False,
                                 aggregation="mean")

  def build_all(self) -> None:
    """Creates every weight."""
    self(tf.zeros([1, self.z_dim]))

  def call(self, z):
    """z `[B, z_dim]` float32 -> w `[B, W]` float32."""
    x = L.pixel_norm(z) if self.normalize_input else z
    last = len(self.dense) - 1
    for i, layer in enumerate(self.dense):
      x = layer(x)
      if i < last or self.final_activation:
        x = leaky_relu(x)
    return x

  def update_w_avg(self, w: tf.Tensor, decay: float = 0.995) -> None:
    """``w̄ ← mean(w) + decay·(w̄ − mean(w))``; w `[B, W]`."""
    mean = tf.reduce_mean(tf.stop_gradient(w), axis=0)
    self.w_avg.assign(mean + decay * (self.w_avg - mean))

  def config(self) -> Dict[str, object]:
    return {"z_dim": self.z_dim, "w_dim": self.w_dim,
            "num_layers": len(self.dense), "hidden": self.hidden,
            "lr_multiplier": self.lr_multiplier,
            "normalize_input": self.normalize_input,
            "final_activation": self.final_activation}


class StyledLayer(keras.layers.Layer):
  """The layer epilogue: noise, bias, leaky ReLU, instance norm, style mod.

  ``x + noise_weight · n`` (per-channel weight, init 0; n `[B, H, W, 1]`),
  ``+ bias``, leaky ReLU 0.2, instance norm (ε 1e-8), then
  ``IN·(1 + γ) + β`` (or ``IN·γ + β``, see the module docstring) with
  ``(γ, β) = style(w)``, a :class:`WScaleDense` with gain 1.

  Args:
    channels: C.
    w_dim: style size W.
    style_mod: ``"one_plus"`` or ``"direct"``.
    use_noise: add the noise input.
    noise_scale: the √(block + 1) of ALAE's deterministic noise stand-in.

  Call ``(x, w, noise)``: `[B, H, W, C]`, `[B, W]`, a `[B or 1, H, W, 1]`
  noise map or None (no noise) or the string ``"alae_deterministic"``.
  """

  def __init__(self, channels: int, w_dim: int, style_mod: str = "one_plus",
               use_noise: bool = True, noise_scale: float = 1.0, **kwargs):
    super().__init__(**kwargs)
    if style_mod not in STYLE_MODS:
      raise ValueError(f"style_mod must be one of {STYLE_MODS}, got "
                       f"{style_mod!r}")
    self.channels = int(channels)
    self.w_dim = int(w_dim)
    self.style_mod = style_mod
    self.use_noise = bool(use_noise)
    self.noise_scale = float(noise_scale)
    self.style = WScaleDense(2 * self.channels, gain=1.0, name="style")

  def build(self, input_shape):
    if self.use_noise:
      self.noise_weight = self.add_weight(name="noise_weight",
                                          shape=(self.channels,),
                                          initializer="zeros")
    self.bias = self.add_weight(name="bias", shape=(self.channels,),
                                initializer="zeros")
    self.style.build((None, self.w_dim))
    if self.style_mod == "direct":
      # γ starts at 1 (identity), β at 0.
      self.style.bias.assign(np.concatenate(
          [np.ones(self.channels), np.zeros(self.channels)]).astype(np.float32))

  def call(self, x, w, noise=None):
    if self.use_noise and noise is not None:
      if isinstance(noise, str):  # ALAE's noise=False stand-in (net.py L218).
        s = self.noise_scale
        x = x + s * tf.exp(-x * x / (2.0 * s * s)) / math.sqrt(
            2.0 * math.pi) * 0.8
      else:
        x = x + self.noise_weight * noise
    x = leaky_relu(x + self.bias)
    gamma, beta = tf.split(self.style(w), 2, axis=-1)
    if self.style_mod == "direct":
      gamma = gamma - 1.0
    return L.adaptive_instance_norm(x, gamma, beta, epsilon=1e-8)


class SynthesisBlock(keras.layers.Layer):
  """One resolution of the style generator (ALAE ``DecodeBlock``).

  Block 0 starts from the constant: epilogue, conv 3×3, epilogue. Later
  blocks: upsample (fused transposed conv, or nearest ×2 + conv 3×3) -> blur
  -> epilogue -> conv 3×3 -> epilogue. Convs have no bias of their own (the
  epilogue adds it after the noise).

  Args:
    in_channels, out_channels: C_in, C_out.
    w_dim: style size W.
    first: the 4×4 block (no upsampling conv).
    fused: use :class:`FusedUpConv2D`.
    blur: the [1, 2, 1] blur after the upsampling conv.
    style_mod, use_noise: see :class:`StyledLayer`.
    index: the block index (ALAE's deterministic-noise scale).
  """

  def __init__(self, in_channels: int, out_channels: int, w_dim: int,
               first: bool, fused: bool, blur: bool = True,
               style_mod: str = "one_plus", use_noise: bool = True,
               index: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.in_channels, self.out_channels = int(in_channels), int(out_channels)
    self.first, self.fused, self.use_blur = bool(first), bool(fused), bool(blur)
    scale = math.sqrt(index + 1.0)
    if not self.first:
      self.conv_1 = (FusedUpConv2D(self.out_channels, name="conv_1")
                     if self.fused else
                     WScaleConv2D(self.out_channels, 3, use_bias=False,
                                  name="conv_1"))
      if self.use_blur:
        self.blur = blur_layer("blur")
    self.layer_1 = StyledLayer(self.out_channels, w_dim, style_mod, use_noise,
                               scale, name="layer_1")
    self.conv_2 = WScaleConv2D(self.out_channels, 3, use_bias=False,
                               name="conv_2")
    self.layer_2 = StyledLayer(self.out_channels, w_dim, style_mod, use_noise,
                               scale, name="layer_2")

  def call(self, x, w1, w2, noise1=None, noise2=None):
    """`[B, H, W, C_in]` (H = W/2-size input, or the 4×4 constant) and two
    `[B, W]` styles -> `[B, H', W', C_out]` (H' = 2H, or 4 for block 0)."""
    if not self.first:
      if not self.fused:
        x = upsample_nearest(x)
      x = self.conv_1(x)
      if self.use_blur:
        x = self.blur(x)
    x = self.layer_1(x, w1, noise1)
    x = self.conv_2(x)
    return self.layer_2(x, w2, noise2)


class StyleGenerator(base.Network):
  """G: styles -> image, progressive (StyleGAN ``G_synthesis``, ALAE
  ``Generator``).

  Args:
    channels: feature maps per block, 4×4 first (:func:`alae_channels`,
      :func:`stylegan_channels`); the resolution is ``4·2**(len − 1)``.
    w_dim: style size W.
    image_channels: 3.
    fused_min_resolution: blocks whose output is at least this large use the
      fused transposed conv (128 in both references); 0 never.
    blur: the [1, 2, 1] blur.
    use_noise: the noise inputs.
    style_mod: ``"one_plus"`` or ``"direct"`` (module docstring).
    to_rgb_gain: ToRGB's weight gain (StyleGAN 1, ALAE 0.03).

  Attributes: ``num_blocks``, ``num_layers`` (= 2·num_blocks styles),
  ``resolution``, ``top_lod`` (= num_blocks − 1).
  """

  def __init__(self, channels: Sequence[int], w_dim: int,
               image_channels: int = 3, fused_min_resolution: int = 128,
               blur: bool = True, use_noise: bool = True,
               style_mod: str = "one_plus", to_rgb_gain: float = 1.0,
               **kwargs):
    super().__init__(**kwargs)
    self.channels = tuple(int(c) for c in channels)
    if not self.channels or min(self.channels) < 1:
      raise ValueError(f"generator channels must be a non-empty list of "
                       f"positive ints, got {channels!r}")
    self.w_dim = int(w_dim)
    self.image_channels = int(image_channels)
    self.fused_min_resolution = int(fused_min_resolution)
    self.use_noise = bool(use_noise)
    self.style_mod = style_mod
    self.to_rgb_gain = float(to_rgb_gain)
    self.use_blur = bool(blur)
    self.num_blocks = len(self.channels)
    self.num_layers = 2 * self.num_blocks
    self.top_lod = self.num_blocks - 1
    self.resolution = resolution_of(self.top_lod)
    blocks = []
    for i, c in enumerate(self.channels):
      fused = (i > 0 and self.fused_min_resolution > 0 and
               resolution_of(i) >= self.fused_min_resolution)
      blocks.append(SynthesisBlock(
          self.channels[max(i - 1, 0)], c, self.w_dim, first=(i == 0),
          fused=fused,
          blur=blur, style_mod=style_mod, use_noise=use_noise, index=i,
          name=f"block_{i}"))
    self.blocks = L.track(self, "block", blocks)
    self.to_rgbs = L.track(self, "to_rgb", [
        WScaleConv2D(self.image_channels, 1, gain=self.to_rgb_gain,
                     use_bias=True, name=f"to_rgb_{i}")
        for i in range(self.num_blocks)])
    self.const = self.add_weight(name="const", shape=(1, 4, 4,
                                                      self.channels[0]),
                                 initializer="ones")

  def build(self, input_shape):
    # Every LOD's ToRGB, also those a top-LOD call does not use; the blocks
    # build in the first call.
    for c, layer in zip(self.channels, self.to_rgbs):
      if not layer.built:
        layer.build((None, None, None, c))

  def build_all(self) -> None:
    """Creates every weight (all blocks, every LOD's ToRGB)."""
    self(tf.zeros([1, self.w_dim]), lod=self.top_lod, noise_mode="none")

  def check_lod(self, lod: Optional[int]) -> int:
    lod = self.top_lod if lod is None else int(lod)
    if not 0 <= lod <= self.top_lod:
      raise ValueError(f"lod must be in [0, {self.top_lod}], got {lod}")
    return lod

  def noise_maps(self, batch_size, lod: int, mode: str = "random",
                 seed: Optional[tf.Tensor] = None) -> List[object]:
    """The noise input of every layer up to ``lod`` (2 per block).

    Args:
      batch_size: B (int or scalar tensor).
      lod: the top block.
      mode: ``"random"`` (fresh `[B, r, r, 1]` normal noise, stateless when
        ``seed`` is given), ``"const"`` (fixed batch-constant maps, the same
        in every call and process), ``"none"`` (no noise) or
        ``"alae_deterministic"`` (ALAE's ``noise=False`` term
        ``x + s·exp(−x²/2s²)/√(2π)·0.8``).
      seed: `[2]` int seed for ``"random"``.

    Returns:
      A list of 2·(lod + 1) entries: tensors, None, or the mode string.
    """
    if mode not in NOISE_MODES:
      raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got "
                       f"{mode!r}")
    out = []
    for i in range(2 * (lod + 1)):
      r = resolution_of(i // 2)
      if mode == "none":
        out.append(None)
      elif mode == "alae_deterministic":
        out.append(mode)
      elif mode == "const":
        out.append(tf.random.stateless_normal(
            [1, r, r, 1], tf.constant([i, _CONST_NOISE_SEED], tf.int32)))
      elif seed is None:
        out.append(tf.random.normal(tf.stack([batch_size, r, r, 1])))
      else:
        out.append(tf.random.stateless_normal(
            tf.stack([batch_size, r, r, 1]),
            tf.random.experimental.stateless_fold_in(seed, i)))
    return out

  def call(self, styles, lod: Optional[int] = None, alpha: Alpha = 1.0,
           noise_mode: str = "random", noise_seed=None):
    """Synthesizes images at level of detail ``lod``.

    Args:
      styles: `[B, num_layers, W]` (W+) or `[B, W]` float32.
      lod: Python int in ``[0, top_lod]`` (None: the top); the blocks
        ``0..lod`` run and the output is ``4·2**lod`` px.
      alpha: fade-in factor in [0, 1] (float or scalar tensor). For lod > 0
        and α ≠ 1 the output is ``(1 − α)·up(ToRGB_{lod−1}(x_{lod−1})) +
        α·ToRGB_lod(x_lod)`` with nearest upsampling (ALAE ``decode2``);
        α = 0 is exactly the previous LOD's image upsampled.
      noise_mode, noise_seed: see :meth:`noise_maps`.

    Returns:
      `[B, 4·2**lod, 4·2**lod, image_channels]` float32, roughly [-1, 1]
      (no output activation, as in both references).
    """
    lod = self.check_lod(lod)
    styles = broadcast_styles(styles, self.num_layers)
    batch = tf.shape(styles)[0]
    noise = self.noise_maps(batch, lod, noise_mode, noise_seed)
    x = tf.tile(self.const, tf.stack([batch, 1, 1, 1]))
    previous = None
    for i in range(lod + 1):
      if i == lod:
        previous = x
      x = self.blocks[i](x, styles[:, 2 * i], styles[:, 2 * i + 1],
                         noise[2 * i], noise[2 * i + 1])
    image = self.to_rgbs[lod](x)
    blend = lod > 0 and not (isinstance(alpha, (int, float)) and alpha == 1)
    if blend:
      old = upsample_nearest(self.to_rgbs[lod - 1](previous))
      image = lerp(old, image, alpha)
    return image

  def config(self) -> Dict[str, object]:
    return {"channels": list(self.channels), "w_dim": self.w_dim,
            "image_channels": self.image_channels,
            "fused_min_resolution": self.fused_min_resolution,
            "blur": self.use_blur, "use_noise": self.use_noise,
            "style_mod": self.style_mod, "to_rgb_gain": self.to_rgb_gain}


# --------------------------------------------------------------- schedule


class ProgressiveSchedule:
  """The level of detail and fade-in factor as functions of the step.

  Progressive growing counted in images, as ALAE's ``lod_driver.py``: LOD l
  (from ``start_lod``) lasts ``images_per_lod`` images (the first one
  ``first_lod_images``), at ``batch_sizes[l]`` images per step; every LOD
  after the first begins with a fade-in of ``fade_images`` images during
  which α rises from 0 to 1, as ``sin(t·π − π/2)/2 + 1/2`` (ALAE, ``"sine"``)
  or ``t`` (StyleGAN, ivanvovk; ``"linear"``) with t = images into the LOD /
  fade_images. The last LOD lasts until the end of training.

  ALAE CelebA-128: ``images_per_lod = 6·182637``, ``fade_images =
  3·182637``. StyleGAN (DiscoFaceGAN): start at 8×8 (``start_lod=1``),
  ``first_lod_images = 600k``, ``images_per_lod = fade_images + 600k`` with
  ``fade_images = 600k``.

  Args:
    num_lods: LODs of the network (its ``num_blocks``).
    images_per_lod: images per LOD, fade-in included.
    fade_images: images of each fade-in (<= images_per_lod).
    batch_sizes: images per step at each LOD (length ``num_lods``; a
      shorter list repeats its last entry, as ALAE clamps its table).
    fade: ``"sine"`` or ``"linear"``.
    start_lod: the first LOD trained.
    first_lod_images: images of the first LOD (default ``images_per_lod``).
  """

  FADES = ("sine", "linear")

  def __init__(self, num_lods: int, images_per_lod: int, fade_images: int,
               batch_sizes: Sequence[int], fade: str = "sine",
               start_lod: int = 0, first_lod_images: Optional[int] = None):
    if fade not in self.FADES:
      raise ValueError(f"fade must be one of {self.FADES}, got {fade!r}")
    if not 0 <= start_lod < num_lods:
      raise ValueError(f"start_lod must be in [0, {num_lods - 1}], got "
                       f"{start_lod}")
    if images_per_lod < 1 or not 0 <= fade_images <= images_per_lod:
      raise ValueError(f"need images_per_lod >= 1 and 0 <= fade_images <= "
                       f"images_per_lod, got {images_per_lod} and "
                       f"{fade_images}")
    batch_sizes = [int(b) for b in batch_sizes]
    if not batch_sizes or min(batch_sizes) < 1:
      raise ValueError(f"batch_sizes must be positive ints, got "
                       f"{batch_sizes!r}")
    self.num_lods = int(num_lods)
    self.start_lod = int(start_lod)
    self.images_per_lod = int(images_per_lod)
    self.fade_images = int(fade_images)
    self.first_lod_images = int(first_lod_images or images_per_lod)
    self.fade = fade
    self.batch_sizes = tuple(batch_sizes[min(l, len(batch_sizes) - 1)]
                             for l in range(self.num_lods))
    starts = [0] * self.num_lods
    step = 0
    for l in range(self.start_lod, self.num_lods):
      starts[l] = step
      images = (self.first_lod_images if l == self.start_lod
                else self.images_per_lod)
      step += -(-images // self.batch_sizes[l])
    self.start_steps = tuple(starts)

  def lod_at(self, step: int) -> int:
    """The LOD of step ``step`` (Python)."""
    lod = self.start_lod
    for l in range(self.start_lod + 1, self.num_lods):
      if step >= self.start_steps[l]:
        lod = l
    return lod

  def _shape(self, t):
    if self.fade == "linear":
      return t
    return tf.sin(t * math.pi - 0.5 * math.pi) * 0.5 + 0.5

  def alpha_at(self, step: int) -> float:
    """The fade-in factor of step ``step`` (Python float)."""
    lod = self.lod_at(step)
    if lod == self.start_lod or self.fade_images == 0:
      return 1.0
    t = (step - self.start_steps[lod]) * self.batch_sizes[lod] / float(
        self.fade_images)
    if t >= 1.0:
      return 1.0
    if self.fade == "linear":
      return t
    return math.sin(t * math.pi - 0.5 * math.pi) * 0.5 + 0.5

  def lod_and_alpha(self, step: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """Graph version: ``(lod int32, alpha float32)`` scalars of ``step``."""
    step = tf.cast(step, tf.int64)
    later = tf.constant(self.start_steps[self.start_lod + 1:], tf.int64)
    lod = self.start_lod + tf.reduce_sum(tf.cast(step >= later, tf.int32))
    if self.fade_images == 0:
      return lod, tf.constant(1.0)
    start = tf.gather(tf.constant(self.start_steps, tf.int64), lod)
    batch = tf.gather(tf.constant(self.batch_sizes, tf.int64), lod)
    t = tf.cast((step - start) * batch, tf.float64) / float(self.fade_images)
    alpha = tf.where(t >= 1.0, tf.constant(1.0, tf.float64), self._shape(t))
    alpha = tf.where(lod == self.start_lod, tf.constant(1.0, tf.float64),
                     alpha)
    return lod, tf.cast(alpha, tf.float32)

  def total_steps(self, final_lod_images: int) -> int:
    """Steps until the last LOD has seen ``final_lod_images`` images."""
    last = self.num_lods - 1
    return self.start_steps[last] + -(-int(final_lod_images) //
                                      self.batch_sizes[last])
