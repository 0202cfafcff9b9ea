"""StyleGAN2 (Karras et al. 2020) as in rosinality/stylegan2-pytorch, in Keras 3.

* :class:`MappingNetwork` z -> w (pixel norm + 8 equalized dense layers, lr
  multiplier 0.01; the input size is configurable so e.g. DiscoFaceGAN's
  286-d λ vector can feed it).
* :class:`SynthesisNetwork` W+ `[B, num_ws, style_dim]` -> image, with noise
  from stored buffers, fresh random noise or none, optionally returning the
  intermediate feature maps (LiftedGAN's depth net reads the last one).
* :class:`Generator` mapping + synthesis + truncation toward the tracked w̄
  and style mixing.
* :class:`Discriminator` the residual discriminator with minibatch stddev.

Channel tables (:func:`channel_table`): ``"upstream"`` (rosinality / NVIDIA,
``channel_multiplier`` 2 by default) and the reduced tables of LiftedGAN's
checkpoints (``"liftedgan_generator"``, ``"liftedgan_discriminator"``).
"""

import math
from typing import Dict, List, Mapping, Optional, Sequence

import tensorflow as tf

from tfface import layers as L

keras = tf.keras

RESOLUTIONS = (16, 32, 64, 128, 256, 512, 1024)
PRESETS = ("upstream", "liftedgan_generator", "liftedgan_discriminator")

_LIFTEDGAN_G = {4: 512, 8: 512, 16: 256, 32: 128, 64: 64, 128: 32, 256: 16}
_LIFTEDGAN_D = {4: 512, 8: 512, 16: 512, 32: 256, 64: 128, 128: 64, 256: 32}


def _check_resolution(resolution: int) -> int:
  resolution = int(resolution)
  if resolution not in RESOLUTIONS:
    raise ValueError(f"resolution must be one of {RESOLUTIONS}, got "
                     f"{resolution}")
  return resolution


def channel_table(resolution: int, preset: str = "upstream",
                  channel_multiplier: int = 2, divisor: int = 1
                  ) -> Dict[int, int]:
  """Feature maps per resolution, ``{4: C_4, 8: C_8, ..., resolution: C_R}``.

  Args:
    resolution: output resolution, a power of two in 16..1024.
    preset: ``"upstream"`` (512 up to 32 px, then ``256·cm, 128·cm, 64·cm,
      32·cm, 16·cm`` at 64..1024), ``"liftedgan_generator"`` or
      ``"liftedgan_discriminator"`` (LiftedGAN's reduced tables, up to 256 px).
    channel_multiplier: ``cm`` of the upstream table (2 in StyleGAN2 config-f).
    divisor: divides every entry (rounded up, at least 1); for tiny test
      models.

  Returns:
    dict resolution -> channels.
  """
  resolution = _check_resolution(resolution)
  if preset == "upstream":
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier,
            128: 128 * channel_multiplier, 256: 64 * channel_multiplier,
            512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
  elif preset == "liftedgan_generator":
    base = _LIFTEDGAN_G
  elif preset == "liftedgan_discriminator":
    base = _LIFTEDGAN_D
  else:
    raise ValueError(f"unknown channel preset {preset!r}; expected one of "
                     f"{PRESETS}")
  if resolution not in base:
    raise ValueError(f"channel preset {preset!r} stops at {max(base)} px, "
                     f"got resolution {resolution}")
  divisor = max(1, int(divisor))
  return {r: max(1, -(-c // divisor)) for r, c in base.items()
          if r <= resolution}


def _resolve_channels(resolution: int,
                      channels: Optional[Mapping[int, int]]) -> Dict[int, int]:
  if channels is None:
    return channel_table(resolution)
  table = {int(k): int(v) for k, v in dict(channels).items()}
  needed = [2**i for i in range(2, int(math.log2(resolution)) + 1)]
  missing = [r for r in needed if r not in table]
  if missing:
    raise ValueError(f"channel table lacks resolutions {missing}; expected "
                     f"entries for {needed}")
  return table


def num_ws_for(resolution: int) -> int:
  """Number of W+ entries: ``2·log2(resolution) − 2`` (14 at 256 px)."""
  return 2 * int(math.log2(resolution)) - 2


class MappingNetwork(keras.Model):
  """z -> w: optional pixel norm, then equalized dense + leaky ReLU layers.

  Args:
    style_dim: width of w and of the hidden layers (512).
    num_layers: dense layers (8).
    lr_multiplier: learning-rate multiplier of every layer (0.01).
    normalize_input: apply pixel norm to the input (StyleGAN does).

  Call ``(z)``: `[B, z_dim]` float32 (any z_dim, fixed at build) ->
  `[B, style_dim]`.
  """

  def __init__(self, style_dim: int = 512, num_layers: int = 8,
               lr_multiplier: float = 0.01, normalize_input: bool = True,
               **kwargs):
    super().__init__(**kwargs)
    self.style_dim = int(style_dim)
    self.normalize_input = normalize_input
    self.num_layers = int(num_layers)
    # Attributes dense_0 .. dense_{n-1}; ``self.dense`` keeps their order.
    self.dense = L.track(self, "dense", [
        L.EqualizedDense(style_dim, lr_multiplier=lr_multiplier,
                         activation="lrelu", name=f"dense_{i}")
        for i in range(self.num_layers)])

  def call(self, z):
    x = L.pixel_norm(z) if self.normalize_input else z
    for layer in self.dense:
      x = layer(x)
    return x


class SynthesisNetwork(keras.Model):
  """W+ -> image (rosinality's Generator without the mapping).

  Args:
    resolution: output size, 16..1024.
    channels: dict resolution -> channels (:func:`channel_table`); default
      the upstream table with multiplier 2.
    style_dim: width of w.
    blur_kernel: FIR taps.
    fused_modconv: grouped-conv modulation for the non-upsampling convs.

  Layers: ``const_input`` (ConstantInput), ``conv1``, ``to_rgb1``, ``convs[2k]``
  (upsampling) and ``convs[2k+1]`` per block, ``to_rgbs[k]``, and the fixed
  noise buffers ``noise_buffers[i]`` `[1, r, r, 1]` (non-trainable).
  """

  def __init__(self, resolution: int = 256,
               channels: Optional[Mapping[int, int]] = None,
               style_dim: int = 512,
               blur_kernel: Sequence[float] = L.fir.DEFAULT_KERNEL,
               fused_modconv: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.resolution = _check_resolution(resolution)
    self.channels = _resolve_channels(self.resolution, channels)
    self.style_dim = int(style_dim)
    self.log_size = int(math.log2(self.resolution))
    self.num_ws = num_ws_for(self.resolution)
    self.num_noise = self.num_ws - 1
    ch = self.channels
    self.const_input = L.ConstantInput(ch[4], name="input")
    self.conv1 = L.StyledConv(ch[4], 3, blur_kernel=blur_kernel,
                              fused=fused_modconv, name="conv1")
    self.to_rgb1 = L.ToRGB(upsample=False, blur_kernel=blur_kernel,
                           name="to_rgb1")
    # Attributes convs_i, to_rgbs_k, noise_i (checkpoint keys); the lists
    # keep their order. ``convs[2k]`` upsamples, ``convs[2k+1]`` does not;
    # ``noise_buffers`` are the fixed noise inputs `[1, r, r, 1]` used with
    # ``noise_mode="const"``.
    self.num_blocks = self.log_size - 2
    convs, to_rgbs = [], []
    for k, i in enumerate(range(3, self.log_size + 1)):
      c = ch[2**i]
      convs.append(L.StyledConv(
          c, 3, upsample=True, blur_kernel=blur_kernel, name=f"convs_{2 * k}"))
      convs.append(L.StyledConv(
          c, 3, blur_kernel=blur_kernel, fused=fused_modconv,
          name=f"convs_{2 * k + 1}"))
      to_rgbs.append(L.ToRGB(blur_kernel=blur_kernel, name=f"to_rgbs_{k}"))
    self.convs = L.track(self, "convs", convs)
    self.to_rgbs = L.track(self, "to_rgbs", to_rgbs)
    self.noise_buffers = L.track(self, "noise", [
        self.add_weight(
            name=f"noise_{i}", shape=(1, 2**((i + 5) // 2),
                                      2**((i + 5) // 2), 1), trainable=False,
            initializer=keras.initializers.RandomNormal(stddev=1.0))
        for i in range(self.num_noise)])

  def named_variables(self) -> Dict[str, tf.Variable]:
    """Every weight under a stable name (``conv1.conv.weight``, ``noise_0``, ...)."""
    out = {"const_input.const": self.const_input.const}
    convs = [("conv1", self.conv1)] + [(f"convs_{i}", c)
                                       for i, c in enumerate(self.convs)]
    for name, layer in convs:
      out.update(_modulated_conv_variables(name, layer.conv))
      out[f"{name}.noise.strength"] = layer.noise.strength
      out[f"{name}.activate.bias"] = layer.activate.bias
    rgbs = [("to_rgb1", self.to_rgb1)] + [(f"to_rgbs_{i}", t)
                                          for i, t in enumerate(self.to_rgbs)]
    for name, layer in rgbs:
      out.update(_modulated_conv_variables(name, layer.conv))
      out[f"{name}.bias"] = layer.bias
    for i, buffer in enumerate(self.noise_buffers):
      out[f"noise_{i}"] = buffer
    return out

  def noise_shapes(self) -> List[int]:
    """Spatial size of each noise input: 4, 8, 8, 16, 16, ..."""
    return [2**((i + 5) // 2) for i in range(self.num_noise)]

  def make_noise(self, batch_size, mode: str = "random",
                 seed: Optional[tf.Tensor] = None) -> List[tf.Tensor]:
    """Noise inputs for every layer.

    Args:
      batch_size: B (int or scalar tensor).
      mode: ``"random"`` (fresh N(0,1); stateless when ``seed`` is given),
        ``"const"`` (the stored buffers) or ``"none"`` (zeros).
      seed: `[2]` int32 stateless seed for ``"random"``.

    Returns:
      list of `[B or 1, r, r, 1]` float32.
    """
    if mode == "const":
      return [tf.convert_to_tensor(b) for b in self.noise_buffers]
    noise = []
    for i, r in enumerate(self.noise_shapes()):
      shape = tf.stack([batch_size, r, r, 1])
      if mode == "none":
        noise.append(tf.zeros(shape))
      elif mode == "random":
        if seed is None:
          noise.append(tf.random.normal(shape))
        else:
          s = tf.random.experimental.stateless_fold_in(seed, i)
          noise.append(tf.random.stateless_normal(shape, s))
      else:
        raise ValueError(f"noise mode must be 'random', 'const' or 'none', "
                         f"got {mode!r}")
    return noise

  def call(self, ws, noise: Optional[Sequence[tf.Tensor]] = None,
           noise_mode: str = "random", noise_seed: Optional[tf.Tensor] = None,
           return_features: bool = False):
    """Synthesizes images.

    Args:
      ws: `[B, num_ws, style_dim]` float32 (W+).
      noise: optional list of ``num_noise`` tensors `[B|1, r, r, 1]`;
        overrides ``noise_mode``.
      noise_mode: see :meth:`make_noise`.
      noise_seed: `[2]` int32 stateless seed for random noise.
      return_features: also return the StyledConv outputs.

    Returns:
      images `[B, R, R, 3]` (roughly in [-1, 1]); with ``return_features``,
      ``(images, features)`` where ``features`` is the list of the
      ``num_ws - 1`` StyledConv outputs `[B, r, r, C_r]`, in order (the last
      one is the full-resolution map LiftedGAN's depth net uses).
    """
    ws = tf.convert_to_tensor(ws)
    if ws.shape.rank != 3 or (ws.shape[1] is not None and
                              ws.shape[1] != self.num_ws):
      raise ValueError(f"ws must be [B, {self.num_ws}, {self.style_dim}] "
                       f"(W+), got shape {ws.shape}")
    batch = tf.shape(ws)[0]
    if noise is None:
      noise = self.make_noise(batch, noise_mode, noise_seed)
    elif len(noise) != self.num_noise:
      raise ValueError(f"expected {self.num_noise} noise tensors, got "
                       f"{len(noise)}")
    features = []
    x = self.const_input(batch)
    x = self.conv1(x, ws[:, 0], noise[0])
    features.append(x)
    skip = self.to_rgb1(x, ws[:, 1])
    i = 1
    convs = self.convs
    for k, to_rgb in enumerate(self.to_rgbs):
      x = convs[2 * k](x, ws[:, i], noise[1 + 2 * k])
      features.append(x)
      x = convs[2 * k + 1](x, ws[:, i + 1], noise[2 + 2 * k])
      features.append(x)
      skip = to_rgb(x, ws[:, i + 2], skip)
      i += 2
    if return_features:
      return skip, features
    return skip


def _modulated_conv_variables(name: str, conv) -> Dict[str, tf.Variable]:
  """A ModulatedConv2D's weights under rosinality's names (``<name>.conv.*``)."""
  return {f"{name}.conv.weight": conv.weight,
          f"{name}.conv.modulation.kernel": conv.modulation.kernel,
          f"{name}.conv.modulation.bias": conv.modulation.bias}


def mix_styles(w1: tf.Tensor, w2: tf.Tensor, index, num_ws: int) -> tf.Tensor:
  """Style mixing: W+ entries ``< index`` from ``w1``, the rest from ``w2``.

  Args:
    w1, w2: `[B, style_dim]` or `[B, num_ws, style_dim]`.
    index: int or scalar int tensor in [0, num_ws].
    num_ws: number of W+ entries.

  Returns:
    `[B, num_ws, style_dim]`.
  """
  w1, w2 = broadcast_ws(w1, num_ws), broadcast_ws(w2, num_ws)
  take_first = tf.range(num_ws) < tf.cast(index, tf.int32)
  return tf.where(take_first[None, :, None], w1, w2)


def broadcast_ws(w: tf.Tensor, num_ws: int) -> tf.Tensor:
  """`[B, D]` -> `[B, num_ws, D]` (W+ of one w); `[B, num_ws, D]` passes."""
  w = tf.convert_to_tensor(w)
  if w.shape.rank == 2:
    return tf.tile(w[:, None, :], [1, num_ws, 1])
  if w.shape.rank == 3:
    return w
  raise ValueError(f"w must be [B, D] or [B, {num_ws}, D], got {w.shape}")


class Generator(keras.Model):
  """StyleGAN2 generator: mapping, w̄ tracking, truncation, mixing, synthesis.

  Args:
    resolution: output size, 16..1024.
    channels: synthesis channel table (default upstream, multiplier 2).
    z_dim: latent input size (512; e.g. 286 for DiscoFaceGAN's λ vector).
    style_dim: w size (512).
    mapping_layers: 8.
    mapping_lr_multiplier: 0.01.
    blur_kernel: FIR taps.
    fused_modconv: see :class:`~tfface.layers.ModulatedConv2D`.

  ``w_avg`` `[style_dim]` (non-trainable) is w̄, updated by
  :meth:`update_w_avg` during training (or set from a converted checkpoint's
  ``latent_avg``).
  """

  def __init__(self, resolution: int = 256,
               channels: Optional[Mapping[int, int]] = None,
               z_dim: int = 512, style_dim: int = 512,
               mapping_layers: int = 8, mapping_lr_multiplier: float = 0.01,
               blur_kernel: Sequence[float] = L.fir.DEFAULT_KERNEL,
               fused_modconv: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.resolution = _check_resolution(resolution)
    self.z_dim = int(z_dim)
    self.style_dim = int(style_dim)
    self.mapping = MappingNetwork(style_dim, mapping_layers,
                                  mapping_lr_multiplier, name="mapping")
    self.synthesis = SynthesisNetwork(resolution, channels, style_dim,
                                      blur_kernel, fused_modconv,
                                      name="synthesis")
    self.num_ws = self.synthesis.num_ws
    self.w_avg = self.add_weight(name="w_avg", shape=(self.style_dim,),
                                 initializer="zeros", trainable=False,
                                 aggregation="mean")

  def build_all(self, batch_size: int = 1) -> None:
    """Creates every weight by running one forward pass on zeros."""
    self(tf.zeros([batch_size, self.z_dim]), noise_mode="const")

  def named_variables(self) -> Dict[str, tf.Variable]:
    """Every weight under a stable name: ``w_avg``, ``mapping.dense_0.kernel``,
    ``synthesis.conv1.conv.weight``, ... (the model must be built)."""
    out = {"w_avg": self.w_avg}
    for i, layer in enumerate(self.mapping.dense):
      out[f"mapping.dense_{i}.kernel"] = layer.kernel
      out[f"mapping.dense_{i}.bias"] = layer.bias
    for name, v in self.synthesis.named_variables().items():
      out[f"synthesis.{name}"] = v
    return out

  def config(self) -> Dict[str, object]:
    """Constructor arguments that rebuild this architecture."""
    return {"resolution": self.resolution, "z_dim": self.z_dim,
            "style_dim": self.style_dim,
            "mapping_layers": len(self.mapping.dense),
            "mapping_lr_multiplier": self.mapping.dense[0].lr_multiplier,
            "channels": {str(k): v
                         for k, v in self.synthesis.channels.items()}}

  def truncate(self, ws: tf.Tensor, psi, cutoff: Optional[int] = None
               ) -> tf.Tensor:
    """``w̄ + psi·(w − w̄)`` on the first ``cutoff`` W+ entries (all if None).

    Args:
      ws: `[B, num_ws, style_dim]`.
      psi: float or scalar tensor; 1 = no truncation, 0 = w̄.
      cutoff: number of leading entries to truncate.
    """
    ws = broadcast_ws(ws, self.num_ws)
    psi = tf.cast(psi, ws.dtype)
    truncated = self.w_avg + psi * (ws - self.w_avg)
    if cutoff is None:
      return truncated
    return mix_styles(truncated, ws, cutoff, self.num_ws)

  def update_w_avg(self, w: tf.Tensor, decay: float = 0.995) -> None:
    """Moves w̄ toward the batch mean: ``w̄ ← mean(w) + decay·(w̄ − mean(w))``.

    Args:
      w: `[B, style_dim]` mapping outputs.
      decay: 0.995 as NVIDIA's StyleGAN2 (``w_avg_beta``).
    """
    mean = tf.reduce_mean(w, axis=0)
    self.w_avg.assign(mean + decay * (self.w_avg - mean))

  def call(self, z, truncation_psi=1.0, truncation_cutoff: Optional[int] = None,
           noise=None, noise_mode: str = "random", noise_seed=None,
           return_features: bool = False):
    """z `[B, z_dim]` -> images `[B, R, R, 3]` (see :meth:`SynthesisNetwork.call`)."""
    ws = broadcast_ws(self.mapping(z), self.num_ws)
    if not (isinstance(truncation_psi, (int, float)) and truncation_psi == 1):
      ws = self.truncate(ws, truncation_psi, truncation_cutoff)
    return self.synthesis(ws, noise=noise, noise_mode=noise_mode,
                          noise_seed=noise_seed,
                          return_features=return_features)


class ConvLayer(keras.layers.Layer):
  """rosinality ``ConvLayer``: [blur + stride-2] equalized conv [+ bias + lrelu].

  Args:
    filters, kernel_size: conv shape.
    downsample: blur, then stride-2 conv without padding.
    activate: fused bias + leaky ReLU after the conv.
    use_bias: bias (in the activation when ``activate``).
    blur_kernel: FIR taps.

  `[B, H, W, C]` -> `[B, H or H/2, W or W/2, filters]`.
  """

  def __init__(self, filters: int, kernel_size: int, downsample: bool = False,
               activate: bool = True, use_bias: bool = True,
               blur_kernel: Sequence[float] = L.fir.DEFAULT_KERNEL, **kwargs):
    super().__init__(**kwargs)
    self.blur = None
    if downsample:
      p = len(blur_kernel) - 2 + (kernel_size - 1)
      self.blur = L.Blur(blur_kernel, pad=((p + 1) // 2, p // 2), name="blur")
    self.conv = L.EqualizedConv2D(
        filters, kernel_size, strides=2 if downsample else 1,
        padding=0 if downsample else kernel_size // 2,
        use_bias=use_bias and not activate, name="conv")
    self.activate = None
    if activate:
      if use_bias:
        self.activate = L.FusedBiasLeakyReLU(name="activate")
      else:
        self.activate = keras.layers.Lambda(L.fused_leaky_relu,
                                            name="activate")

  def call(self, x):
    if self.blur is not None:
      x = self.blur(x)
    x = self.conv(x)
    return self.activate(x) if self.activate is not None else x


class ResBlock(keras.layers.Layer):
  """Residual downsampling block: 3x3 conv, 3x3 conv↓, skip 1x1↓; sum / sqrt(2)."""

  def __init__(self, in_channels: int, out_channels: int,
               blur_kernel: Sequence[float] = L.fir.DEFAULT_KERNEL, **kwargs):
    super().__init__(**kwargs)
    self.conv1 = ConvLayer(in_channels, 3, blur_kernel=blur_kernel,
                           name="conv1")
    self.conv2 = ConvLayer(out_channels, 3, downsample=True,
                           blur_kernel=blur_kernel, name="conv2")
    self.skip = ConvLayer(out_channels, 1, downsample=True, activate=False,
                          use_bias=False, blur_kernel=blur_kernel,
                          name="skip")

  def call(self, x):
    y = self.conv2(self.conv1(x))
    return (y + self.skip(x)) * (1.0 / math.sqrt(2.0))


class Discriminator(keras.Model):
  """StyleGAN2's residual discriminator.

  Args:
    resolution: input size, 16..1024.
    channels: channel table (default upstream, multiplier 2; LiftedGAN's
      checkpoints use ``channel_table(256, "liftedgan_discriminator")``).
    blur_kernel: FIR taps.
    mbstd_group_size: minibatch stddev group (4).
    mbstd_features: minibatch stddev channels (1).

  Call ``(images)``: `[B, R, R, 3]` in [-1, 1] -> logits `[B, 1]`.
  """

  def __init__(self, resolution: int = 256,
               channels: Optional[Mapping[int, int]] = None,
               blur_kernel: Sequence[float] = L.fir.DEFAULT_KERNEL,
               mbstd_group_size: int = 4, mbstd_features: int = 1, **kwargs):
    super().__init__(**kwargs)
    self.resolution = _check_resolution(resolution)
    self.channels = ch = _resolve_channels(self.resolution, channels)
    log_size = int(math.log2(self.resolution))
    self.from_rgb = ConvLayer(ch[self.resolution], 1, name="from_rgb")
    # Attributes convs_1 .. convs_n (checkpoint keys), highest resolution
    # first; ``self.blocks`` keeps their order.
    self.num_blocks = log_size - 2
    self.blocks = L.track(self, "convs", [
        ResBlock(ch[2**i], ch[2**(i - 1)], blur_kernel, name=f"convs_{n}")
        for n, i in enumerate(range(log_size, 2, -1), start=1)], start=1)
    self.mbstd = L.MinibatchStddev(mbstd_group_size, mbstd_features,
                                   name="mbstd")
    self.final_conv = ConvLayer(ch[4], 3, name="final_conv")
    self.final_dense = L.EqualizedDense(ch[4], activation="lrelu",
                                        name="final_dense")
    self.final_out = L.EqualizedDense(1, name="final_out")

  def build_all(self, batch_size: int = 4) -> None:
    """Creates every weight by running one forward pass on zeros."""
    self(tf.zeros([batch_size, self.resolution, self.resolution, 3]))

  def named_variables(self) -> Dict[str, tf.Variable]:
    """Every weight under a stable name (``from_rgb.conv.kernel``, ...)."""
    out = {"from_rgb.conv.kernel": self.from_rgb.conv.kernel,
           "from_rgb.activate.bias": self.from_rgb.activate.bias}
    for i, block in enumerate(self.blocks, start=1):
      out[f"convs_{i}.conv1.conv.kernel"] = block.conv1.conv.kernel
      out[f"convs_{i}.conv1.activate.bias"] = block.conv1.activate.bias
      out[f"convs_{i}.conv2.conv.kernel"] = block.conv2.conv.kernel
      out[f"convs_{i}.conv2.activate.bias"] = block.conv2.activate.bias
      out[f"convs_{i}.skip.conv.kernel"] = block.skip.conv.kernel
    out["final_conv.conv.kernel"] = self.final_conv.conv.kernel
    out["final_conv.activate.bias"] = self.final_conv.activate.bias
    for name in ("final_dense", "final_out"):
      layer = getattr(self, name)
      out[f"{name}.kernel"] = layer.kernel
      out[f"{name}.bias"] = layer.bias
    return out

  def config(self) -> Dict[str, object]:
    """Constructor arguments that rebuild this architecture."""
    return {"resolution": self.resolution,
            "channels": {str(k): v for k, v in self.channels.items()}}

  def call(self, images):
    x = self.from_rgb(images)
    for block in self.blocks:
      x = block(x)
    x = self.mbstd(x)
    x = self.final_conv(x)
    x = tf.reshape(x, [tf.shape(x)[0], -1])  # NHWC flatten: (h, w, c)
    return self.final_out(self.final_dense(x))
