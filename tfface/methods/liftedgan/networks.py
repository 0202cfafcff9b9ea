"""LiftedGAN's networks (Shi, Aggarwal, Jain, CVPR 2021), Keras 3 subclassed.

Paper symbol -> class (sizes of seasonSH/LiftedGAN ``models/networks.py``):

* D_V, D_L: :class:`StyleDecomposition` — two plain 4-layer MLPs
  w -> view `[B, 6]` and w -> light `[B, 4]`, tanh outputs.
* M: :class:`StyleComposition` — three 4-layer GroupNorm MLPs embed (w, L, V)
  (each ending in a :class:`ScaleShift`), summed and mapped by a fourth MLP to
  a new style code.
* D_S: :class:`DepthDecoder` — MLP + up-convolution decoder from the neutral
  code w₀, plus the InjectConv of the frozen G's last feature map.
* D_T: :class:`TransformationDecoder` — the transformation-map decoder.
* G_2D: :class:`FrozenGenerator` — the frozen StyleGAN2 with its stored noise
  buffers, returning its last StyledConv output for the InjectConv.
* :class:`VGG16Features` — torchvision's VGG16 layout (relu2_2, relu3_3,
  relu4_3, ImageNet mean/std preprocessing) for the perceptual loss, weights
  from an ``.npz`` of the torchvision state dict or random.

Plus :func:`neutral_light_view` (the inputs of M that make w₀) and
:func:`delight` (albedo = frontal-lit G(w₀) divided by its shading).

The reference's ``StyleDecomposeNet.model_style`` MLP is left out: its output
is discarded in ``estimate()``, so it only ever received weight decay and has
no effect on anything the model computes.
"""

import math
from typing import Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfface.layers.tracking import track
from tfface.methods.liftedgan import pose_basis as pose_basis_lib
from tfface.networks import stylegan2

keras = tf.keras

# The reference's GroupNorm eps (PyTorch default).
_GN_EPS = 1e-5


def _group_norm(channels: int, name: str) -> keras.layers.Layer:
  """GroupNorm with ``channels / 4`` groups (GN(128, 512), GN(c/4, c))."""
  return keras.layers.GroupNormalization(groups=max(1, channels // 4),
                                         epsilon=_GN_EPS, name=name)


class ScaleShift(keras.layers.Layer):
  """``x · scale + shift`` per channel; scale starts at 1, shift at 0."""

  def build(self, input_shape):
    channels = int(input_shape[-1])
    self.scale = self.add_weight(name="scale", shape=(1, channels),
                                 initializer="ones")
    self.shift = self.add_weight(name="shift", shape=(1, channels),
                                 initializer="zeros")

  def call(self, x):
    return x * self.scale + self.shift


class MLP(keras.Model):
  """LiftedGAN's MLP: ``num_layers − 1`` hidden layers, then a linear output.

  Each hidden layer is Dense(hidden) [+ GroupNorm(hidden / 4)] + LeakyReLU(0.2).

  Args:
    out_dim: output size.
    hidden: hidden width (512).
    num_layers: dense layers in total (4).
    normalize: GroupNorm after every hidden dense layer.
    activation: None, ``"tanh"`` or ``"scale_shift"`` (a :class:`ScaleShift`)
      on the output.
    zero_output: initialise the output layer's kernel and bias to 0 (the
      MLP starts as the constant 0; see :class:`StyleComposition`).

  Call ``(x)``: `[B, in]` float32 -> `[B, out_dim]`.
  """

  def __init__(self, out_dim: int, hidden: int = 512, num_layers: int = 4,
               normalize: bool = False, activation: Optional[str] = None,
               zero_output: bool = False, **kwargs):
    super().__init__(**kwargs)
    if activation not in (None, "tanh", "scale_shift"):
      raise ValueError(f"MLP activation must be None, 'tanh' or "
                       f"'scale_shift', got {activation!r}")
    if int(num_layers) < 1:
      raise ValueError(f"MLP num_layers must be >= 1, got {num_layers!r}")
    self.activation = activation
    last = int(num_layers) - 1
    self.dense = track(self, "dense", [
        keras.layers.Dense(
            int(hidden) if i < last else int(out_dim), name=f"dense_{i}",
            kernel_initializer=("zeros" if zero_output and i == last
                                else "glorot_uniform"))
        for i in range(num_layers)])
    self.norms = track(self, "norm", [
        _group_norm(int(hidden), f"norm_{i}") if normalize else None
        for i in range(num_layers - 1)]) if normalize else []
    self.scale_shift = (ScaleShift(name="scale_shift")
                        if activation == "scale_shift" else None)

  def call(self, x):
    for i, layer in enumerate(self.dense[:-1]):
      x = layer(x)
      if self.norms:
        x = self.norms[i](x)
      x = tf.nn.leaky_relu(x, 0.2)
    x = self.dense[-1](x)
    if self.activation == "tanh":
      return tf.tanh(x)
    if self.scale_shift is not None:
      return self.scale_shift(x)
    return x


class StyleDecomposition(keras.Model):
  """D_V and D_L: w -> (light `[B, 4]`, view `[B, 6]`), both tanh in (−1, 1).

  light = (l0, l1, dx, dy) (ambient and diffuse strength, light direction);
  view = (rx, ry, rz, tx, ty, tz), normalised (see
  :class:`~tfface.rendering.depth_renderer.DepthMapRenderer.parse_view`).

  ``style_dim`` set (a departure, for short CPU runs): D_V starts as the
  linear readout of a :class:`~tfface.methods.liftedgan.pose_basis.
  PoseBasis` (``pose_basis``, assigned after building): view = tanh(
  MLP(w) + [readout(w), 0, 0, 0]) with the MLP's last layer zero.
  """

  def __init__(self, hidden: int = 512, num_layers: int = 4,
               style_dim: Optional[int] = None, **kwargs):
    super().__init__(**kwargs)
    self.light_net = MLP(4, hidden, num_layers, activation="tanh",
                         name="light")  # D_L
    self.pose_basis = (None if style_dim is None else
                       pose_basis_lib.PoseBasis(style_dim, name="pose_basis"))
    self.view_net = MLP(6, hidden, num_layers,
                        activation="tanh" if self.pose_basis is None else None,
                        zero_output=self.pose_basis is not None,
                        name="view")  # D_V

  def call(self, w) -> Tuple[tf.Tensor, tf.Tensor]:
    view = self.view_net(w)
    if self.pose_basis is not None:
      logits = self.pose_basis.logits(w)
      view = tf.tanh(view + tf.pad(logits, [[0, 0], [0, 3]]))
    return self.light_net(w), view


class StyleComposition(keras.Model):
  """M: ((w `[B, D]`, light `[B, 4]`, view `[B, 6]`)) -> w' `[B, D]`.

  w' = MLP(embed_w(w) + embed_L(L) + embed_V(V)), the embeddings GroupNorm
  MLPs ending in a :class:`ScaleShift`.

  ``residual=True`` (a departure, for short CPU runs): w' = w + MLP(...) with
  the last layer zero-initialised, so M starts as the identity map. The
  reference learns M from scratch over 50k steps, during which G(w₀) — the
  canonical face every other term is built on — is at first an unrelated
  face; with a budget of a few thousand steps that start never ends (a
  600-step run re-rendered streak noise). As the identity, M keeps w's
  identity from step 0 and only has to learn the change of pose and light.

  ``pose_basis=True`` (with ``residual``): M starts as the linear pose move
  of a :class:`~tfface.methods.liftedgan.pose_basis.PoseBasis`, w' = w +
  (V_rot − view_read(w)) · basis + MLP(...), so the neutral code w₀ starts
  frontalised instead of posed (the identity start leaves nothing for the
  depth to explain). ``lock_pose``: the MLP's output is projected onto the
  readout's null space (:meth:`~tfface.methods.liftedgan.pose_basis.
  PoseBasis.without_pose`), so the learned part cannot re-pose w₀.
  """

  def __init__(self, style_dim: int = 512, hidden: int = 512,
               num_layers: int = 4, residual: bool = False,
               pose_basis: bool = False, lock_pose: bool = False,
               **kwargs):
    super().__init__(**kwargs)
    self.style_dim = int(style_dim)
    self.lock_pose = bool(lock_pose)
    self.residual = bool(residual)
    if lock_pose and not pose_basis:
      raise ValueError("StyleComposition lock_pose needs pose_basis=True")
    if pose_basis and not self.residual:
      raise ValueError("StyleComposition pose_basis needs residual=True (the "
                       "pose move is the start of a residual M)")
    self.pose_basis = (pose_basis_lib.PoseBasis(style_dim, name="pose_basis")
                       if pose_basis else None)
    self.embed_style = MLP(hidden, hidden, num_layers, normalize=True,
                           activation="scale_shift", name="embed_style")
    self.embed_light = MLP(hidden, hidden, num_layers, normalize=True,
                           activation="scale_shift", name="embed_light")
    self.embed_view = MLP(hidden, hidden, num_layers, normalize=True,
                          activation="scale_shift", name="embed_view")
    self.compose = MLP(style_dim, hidden, num_layers, normalize=True,
                       zero_output=self.residual, name="compose")

  def call(self, inputs):
    # One (w, light, view) tuple: Keras traces call() with its first input
    # alone when a SavedModel holding the model is written.
    w, light, view = _unpack(inputs, 3, "StyleComposition", "(w, light, view)")
    out = self.compose(self.embed_style(w) + self.embed_light(light) +
                       self.embed_view(view))
    if not self.residual:
      return out
    if self.pose_basis is None:
      return w + out
    if self.lock_pose:
      out = self.pose_basis.without_pose(out)
    return self.pose_basis.move(w, view[:, :3]) + out


def _unpack(inputs, count: int, name: str, what: str):
  if not isinstance(inputs, (tuple, list)) or len(inputs) != count:
    raise ValueError(f"{name} takes one tuple {what}, got {type(inputs)}")
  return inputs


def neutral_light_view(light: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
  """The (L, V) that M turns into the neutral code w₀.

  The predicted ambient and diffuse strengths are kept, the light direction
  is zeroed (frontal) and the view is all zeros.

  Args:
    light: `[B, 4]` predicted light.

  Returns:
    `[B, 4]` neutral light, `[B, 6]` neutral view.
  """
  neutral = tf.concat([light[:, :2], tf.zeros_like(light[:, 2:])], -1)
  return neutral, tf.zeros([tf.shape(light)[0], 6], light.dtype)


def _decoder_channels(resolution: int, nf: int, max_channels: int
                      ) -> Tuple[int, Sequence[int]]:
  """(channels at 4x4, channels of each stride-2 block) for a decoder.

  The decoder grows 4 -> resolution / 2 with stride-2 blocks, then upsamples
  once; block k of n has ``nf · 2^(n-1-k)`` channels (capped), the 4x4 stage
  ``nf · 2^n`` — at 256 px with nf 16: 512, then 256, 128, 64, 32, 16 as the
  reference.
  """
  resolution = int(resolution)
  if resolution < 8 or resolution & (resolution - 1):
    raise ValueError(f"decoder resolution must be a power of two >= 8, got "
                     f"{resolution}")
  blocks = int(math.log2(resolution)) - 3
  first = min(max_channels, nf * 2**blocks)
  return first, [min(max_channels, nf * 2**(blocks - 1 - k))
                 for k in range(blocks)]


class DepthDecoder(keras.Model):
  """D_S: (w₀ `[B, D]`, G's last feature map `[B, R, R, C]`) -> raw depth.

  MLP 4 × (Dense(z_dim) + LeakyReLU 0.2) -> 1x1 -> ConvT k4 valid (4x4) +
  ReLU -> Conv3x3 + ReLU -> stride-2 ConvT blocks (ConvT k4 s2, GN, ReLU,
  Conv3x3, GN, ReLU) to R/2 -> nearest ×2 -> plus InjectConv (1x1, no bias)
  of the feature map -> Conv3x3, GN, ReLU, Conv5x5, GN, ReLU, Conv5x5 (bias).
  All convolutions but the last have no bias.

  Args:
    resolution: R, a power of two >= 8.
    z_dim: MLP width (512).
    nf: channels at full resolution (16).
    max_channels: cap of the channel table (512).
    mlp_layers: 4.
    flat_init: zero-initialise the output convolution and the InjectConv
      (a departure, for short CPU runs): D_S starts as a flat depth map
      instead of the random-init decoder's pixel noise, whose normals
      shade the first renders into streaks, and G's feature map enters
      depth only as far as training asks for it.

  Call ``((w0, feature))`` -> `[B, R, R, 1]` float32 raw depth (post-process
  with :func:`~tfface.rendering.depth_renderer.depth_from_network`).
  """

  def __init__(self, resolution: int = 256, z_dim: int = 512, nf: int = 16,
               max_channels: int = 512, mlp_layers: int = 4,
               flat_init: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.resolution = int(resolution)
    first, blocks = _decoder_channels(resolution, nf, max_channels)
    self.mlp = track(self, "mlp", [
        keras.layers.Dense(int(z_dim), name=f"mlp_{i}")
        for i in range(mlp_layers)])
    conv = lambda c, k, name, s=1, bias=False, init="glorot_uniform": (
        keras.layers.Conv2D(c, k, s, padding="same", use_bias=bias,
                            kernel_initializer=init, name=name))
    flat = "zeros" if flat_init else "glorot_uniform"
    self.up0 = keras.layers.Conv2DTranspose(first, 4, 1, padding="valid",
                                            use_bias=False, name="up0")
    self.conv0 = conv(first, 3, "conv0")
    ups, norms_a, convs, norms_b = [], [], [], []
    for k, c in enumerate(blocks):
      ups.append(keras.layers.Conv2DTranspose(c, 4, 2, padding="same",
                                              use_bias=False, name=f"up_{k}"))
      norms_a.append(_group_norm(c, f"norm_a_{k}"))
      convs.append(conv(c, 3, f"conv_{k}"))
      norms_b.append(_group_norm(c, f"norm_b_{k}"))
    self.ups = track(self, "up", ups)
    self.norms_a = track(self, "norm_a", norms_a)
    self.convs = track(self, "conv", convs)
    self.norms_b = track(self, "norm_b", norms_b)
    last = blocks[-1] if blocks else first
    self.inject = conv(last, 1, "inject", init=flat)  # InjectConv
    self.head_conv1 = conv(last, 3, "head_conv1")
    self.head_norm1 = _group_norm(last, "head_norm1")
    self.head_conv2 = conv(last, 5, "head_conv2")
    self.head_norm2 = _group_norm(last, "head_norm2")
    self.head_out = conv(1, 5, "head_out", bias=True, init=flat)

  def call(self, inputs):
    # One (w0, feature) tuple, as StyleComposition.
    w0, feature = _unpack(inputs, 2, "DepthDecoder", "(w0, feature)")
    x = w0
    for layer in self.mlp:
      x = tf.nn.leaky_relu(layer(x), 0.2)
    x = x[:, None, None, :]
    x = tf.nn.relu(self.up0(x))
    x = tf.nn.relu(self.conv0(x))
    for up, na, cv, nb in zip(self.ups, self.norms_a, self.convs,
                              self.norms_b):
      x = tf.nn.relu(na(up(x)))
      x = tf.nn.relu(nb(cv(x)))
    x = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)  # nearest ×2
    if feature.shape[1] != self.resolution:
      raise ValueError(f"DepthDecoder feature map must be "
                       f"[B, {self.resolution}, {self.resolution}, C], got "
                       f"{feature.shape}")
    x = x + self.inject(feature)
    x = tf.nn.relu(self.head_norm1(self.head_conv1(x)))
    x = tf.nn.relu(self.head_norm2(self.head_conv2(x)))
    return self.head_out(x)


class TransformationDecoder(keras.Model):
  """D_T: w₀ `[B, D]` -> raw transformation map `[B, R, R, 1]`.

  MLP Dense(z_dim) + 3 × Dense(z_dim), LeakyReLU 0.2 (z_dim 16) -> ConvT k4
  valid + ReLU -> stride-2 blocks (ConvT k4 s2, GN, ReLU) to R/2 -> nearest
  ×2 -> Conv3x3, GN, ReLU -> Conv5x5. No biases. Post-process with
  :func:`~tfface.rendering.depth_renderer.transformation_map_from_network`.
  """

  def __init__(self, resolution: int = 256, z_dim: int = 16, nf: int = 16,
               max_channels: int = 512, mlp_layers: int = 4, **kwargs):
    super().__init__(**kwargs)
    self.resolution = int(resolution)
    first, blocks = _decoder_channels(resolution, nf, max_channels)
    self.mlp = track(self, "mlp", [
        keras.layers.Dense(int(z_dim), name=f"mlp_{i}")
        for i in range(mlp_layers)])
    self.up0 = keras.layers.Conv2DTranspose(first, 4, 1, padding="valid",
                                            use_bias=False, name="up0")
    self.ups = track(self, "up", [
        keras.layers.Conv2DTranspose(c, 4, 2, padding="same", use_bias=False,
                                     name=f"up_{k}")
        for k, c in enumerate(blocks)])
    self.norms = track(self, "norm", [_group_norm(c, f"norm_{k}")
                                      for k, c in enumerate(blocks)])
    last = blocks[-1] if blocks else first
    self.head_conv = keras.layers.Conv2D(last, 3, padding="same",
                                         use_bias=False, name="head_conv")
    self.head_norm = _group_norm(last, "head_norm")
    self.head_out = keras.layers.Conv2D(1, 5, padding="same", use_bias=False,
                                        name="head_out")

  def call(self, w0):
    x = w0
    for layer in self.mlp:
      x = tf.nn.leaky_relu(layer(x), 0.2)
    x = tf.nn.relu(self.up0(x[:, None, None, :]))
    for up, norm in zip(self.ups, self.norms):
      x = tf.nn.relu(norm(up(x)))
    x = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
    x = tf.nn.relu(self.head_norm(self.head_conv(x)))
    return self.head_out(x)


class FrozenGenerator(tf.Module):
  """G_2D: a frozen StyleGAN2 used at one w for all layers, stored noise.

  Holds the generator, and the statistics of its w distribution LiftedGAN
  uses (``w_mu`` `[D]`, the truncation centre and latent-prior mean, and
  ``w_sigma_inv`` = 0.5 / mean_d(std_d(w))², the prior's 1/(2σ²)), computed
  by :meth:`compute_w_statistics` from random z (the reference recomputes
  them from 50,000 z at every start; here they are variables, so a
  checkpoint or an export keeps them).

  Args:
    generator: a built :class:`~tfface.networks.stylegan2.Generator`.
  """

  def __init__(self, generator: stylegan2.Generator):
    super().__init__(name="frozen_generator")
    self.generator = generator
    generator.trainable = False
    self.z_dim = generator.z_dim
    self.style_dim = generator.style_dim
    self.resolution = generator.resolution
    # A module of its own, so a checkpoint holds the statistics, not G.
    self.statistics = tf.Module(name="w_statistics")
    self.statistics.w_mu = tf.Variable(tf.zeros([self.style_dim]),
                                       trainable=False, name="w_mu")
    self.statistics.w_sigma_inv = tf.Variable(1.0, trainable=False,
                                              name="w_sigma_inv")

  @property
  def w_mu(self) -> tf.Variable:
    return self.statistics.w_mu

  @property
  def w_sigma_inv(self) -> tf.Variable:
    return self.statistics.w_sigma_inv

  def compute_w_statistics(self, num_samples: int = 50000, seed: int = 0,
                           chunk: int = 5000) -> None:
    """Sets ``w_mu`` and ``w_sigma_inv`` from ``num_samples`` random z."""
    rng = np.random.default_rng(seed)
    ws = []
    for start in range(0, num_samples, chunk):
      n = min(chunk, num_samples - start)
      z = rng.standard_normal((n, self.z_dim)).astype(np.float32)
      ws.append(self.generator.mapping(tf.constant(z)).numpy())
    ws = np.concatenate(ws).astype(np.float64)
    self.w_mu.assign(ws.mean(0).astype(np.float32))
    sigma = ws.std(0).mean()
    self.w_sigma_inv.assign(np.float32(0.5 / max(sigma, 1e-8)**2))

  def mapping(self, z: tf.Tensor, truncation=0.7) -> tf.Tensor:
    """z `[B, z_dim]` -> w `[B, D]`, truncated toward ``w_mu``:
    w_mu + ψ (w − w_mu) (LiftedGAN's 0.7 w + 0.3 w_mu at ψ = 0.7)."""
    w = self.generator.mapping(z)
    return self.w_mu + tf.cast(truncation, w.dtype) * (w - self.w_mu)

  def __call__(self, w: tf.Tensor, return_feature: bool = False):
    """Synthesizes from one w per image with the stored noise buffers.

    Args:
      w: `[B, D]` style codes.
      return_feature: also return the last StyledConv output.

    Returns:
      images `[B, R, R, 3]` (not clamped); with ``return_feature``,
      ``(images, feature)`` with feature `[B, R, R, C_R]`.
    """
    ws = stylegan2.broadcast_ws(w, self.generator.num_ws)
    if return_feature:
      images, features = self.generator.synthesis(
          ws, noise_mode="const", return_features=True)
      return images, features[-1]
    return self.generator.synthesis(ws, noise_mode="const")


def delight(canonical_image: tf.Tensor, normals: tf.Tensor,
            light: tf.Tensor) -> tf.Tensor:
  """Albedo from the frontal-lit G(w₀): divide out its Lambert shading.

  shading = a + b · max(0, n · (0, 0, 1)) with a = l0 / 2 + 0.5,
  b = l1 / 2 + 0.5; albedo = ((image / 2 + 0.5) / (shading + 1e-8)) · 2 − 1.
  Not clamped (as the reference).

  Args:
    canonical_image: `[B, H, W, 3]` G(w₀) in [−1, 1].
    normals: `[B, H, W, 3]` unit normals of the canonical depth.
    light: `[B, 4]` predicted light (its l0, l1 are used).

  Returns:
    `[B, H, W, 3]` albedo, about [−1, 1].
  """
  ambient = light[:, 0:1] / 2.0 + 0.5
  diffuse = light[:, 1:2] / 2.0 + 0.5
  cosine = tf.nn.relu(normals[..., 2:3])
  shading = ambient[:, None, None] + diffuse[:, None, None] * cosine
  return ((canonical_image / 2.0 + 0.5) / (shading + 1e-8)) * 2.0 - 1.0


# torchvision VGG16 ``features``: (index of the conv, channels); "M" pools.
_VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512)
# Which conv (0-based among convs) ends each returned slice: relu2_2,
# relu3_3, relu4_3 (LiftedGAN's vgg_indices [1, 2, 3]).
_VGG16_OUTPUTS = {3: "relu2_2", 6: "relu3_3", 9: "relu4_3"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG16Features(keras.Model):
  """torchvision VGG16 features relu2_2, relu3_3, relu4_3 (LiftedGAN's).

  Input preprocessing is torchvision's: ((x + 1) / 2 − mean) / std, RGB. Keras'
  ImageNet VGG16 has Caffe-converted BGR weights that differ, so weights come
  from an ``.npz`` of the torchvision state dict (``features.<i>.weight``
  `[O, I, 3, 3]`, ``features.<i>.bias``), e.g. written once with
  ``np.savez(path, **{k: v.numpy() for k, v in
  torchvision.models.vgg16(pretrained=True).state_dict().items()
  if k.startswith("features")})``; without one they are random (``width`` < 1
  narrows the network, random only).

  Call ``(images)``: `[B, H, W, 3]` in [−1, 1], H, W divisible by 8 ->
  list of 3 maps `[B, H/2, W/2, 128w]`, `[B, H/4, W/4, 256w]`,
  `[B, H/8, W/8, 512w]`.
  """

  def __init__(self, weights_path: Optional[str] = None, width: float = 1.0,
               **kwargs):
    super().__init__(**kwargs)
    if weights_path and width != 1.0:
      raise ValueError(f"a VGG16 weights file needs width 1, got {width}")
    convs, self._torch_index, self._pool_after = [], [], set()
    index = 0
    for item in _VGG16_CFG:
      if item == "M":
        self._pool_after.add(len(convs) - 1)
        index += 1
        continue
      convs.append(keras.layers.Conv2D(max(1, int(round(item * width))), 3,
                                       padding="same", name=f"conv_{len(convs)}"))
      self._torch_index.append(index)
      index += 2  # conv + ReLU
    self.convs = track(self, "conv", convs)
    self(tf.zeros([1, 8, 8, 3]))
    if weights_path:
      self.load_torchvision(weights_path)
    self.trainable = False

  def load_torchvision(self, path: str) -> None:
    """Copies ``features.<i>.{weight,bias}`` from a torchvision ``.npz``."""
    try:
      arrays = np.load(path)
    except (OSError, ValueError) as e:
      raise ValueError(f"VGG16 weights {path!r}: expected an .npz of the "
                       f"torchvision vgg16 state dict ({e})") from e
    for conv, i in zip(self.convs, self._torch_index):
      key = f"features.{i}.weight"
      if key not in arrays:
        raise ValueError(f"VGG16 weights {path!r} have no {key!r}; expected "
                         "torchvision vgg16 'features.<i>.weight' arrays")
      kernel = np.transpose(arrays[key], (2, 3, 1, 0))
      if kernel.shape != tuple(conv.kernel.shape):
        raise ValueError(f"VGG16 weights {path!r}: {key} has shape "
                         f"{kernel.shape}, expected {tuple(conv.kernel.shape)}")
      conv.set_weights([kernel, arrays[f"features.{i}.bias"]])

  def call(self, images):
    x = (images + 1.0) / 2.0
    x = (x - tf.constant(IMAGENET_MEAN)) / tf.constant(IMAGENET_STD)
    out = []
    for k, conv in enumerate(self.convs):
      x = tf.nn.relu(conv(x))
      if k in _VGG16_OUTPUTS:
        out.append(x)
      if k in self._pool_after:
        x = tf.nn.max_pool2d(x, 2, 2, "VALID")
    return out
