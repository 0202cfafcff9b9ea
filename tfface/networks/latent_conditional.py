"""Networks over latent codes: conditional GANs, the keypoint mapper, the baseline AE.

All from ``ivanvovk/controllable-face-generation`` (facts in
``shared/reference/alae.md`` §2.1, §2.3). Conditions enter every network as a
float vector ``c`` `[B, C]`: a one-hot class (then ``c @ V`` is exactly an
embedding lookup, the reference's ``nn.Embedding``) or a continuous value.

Conditional latent GANs (the ``gans`` branch, on 128-D ACAI codes):

* :class:`CBNGenerator` — 2 × [Linear, BatchNorm without affine, per-class
  γ/β (γ = 1 + c·Γ, β = c·B, starting at 1 and 0), ReLU], Dropout(0.5) on the
  output;
* :class:`ConcatGenerator` — the condition embedded and concatenated with z,
  dropout, an MLP (the reference's ``ConcatGenerator``, Xavier init, bias
  0.01; and the AC-GAN notebook's generator: Embedding(·, 64), Dropout(0.8),
  192 → 128 hidden with Dropout(0.5));
* :class:`ProjectionDiscriminator` — φ(x) = ReLU(SN(Linear)(x)); D(x, c) =
  Dropout(SN(Linear)(φ)) + ⟨SN(V)·c, φ⟩ (Miyato & Koyama 2018), spectral
  norm on all three (:class:`SpectralDense`);
* :class:`ACGANDiscriminator` — dropout, two hidden blocks, a real/fake head
  and a class head.

**The ReLU on signed codes.** The reference's generators end in ReLU, so they
cannot produce the negative entries ACAI codes have. Here their last layer is
linear; ``relu_output=True`` reproduces the reference. The same holds for
the keypoint mapper R.

Keypoint mapper ("talking heads", branch ``master``):

* :class:`KeypointMapper` — R(z, c): Linear(Z + 136 → Z), then 3 ×
  [Linear(Z, Z), BatchNorm, ReLU] (the last ReLU dropped, see above);
* :class:`KeypointCritic` — C(z, c): Linear + ReLU, 4 × [Linear, norm, ReLU],
  Linear(Z → 1). The reference normalises with BatchNorm; a WGAN-GP critic
  must not couple the examples of a batch (the gradient penalty is per
  example: Gulrajani et al. 2017 §4), so LayerNorm is the default and
  ``norm="batch"`` reproduces the reference.

Baseline AE with a landmark head (``ae_baseline.ipynb``):
:class:`BaselineEncoder`, :class:`BaselineDecoder`, :class:`LandmarkHead`.

Initialisation follows PyTorch's ``nn.Linear`` default (weights and biases
U(±1/√fan_in)) unless the reference sets another (Xavier for the concat
generator); embeddings start N(0, 1) as ``nn.Embedding``.
"""

import math
from typing import Dict, Optional, Sequence, Tuple

import tensorflow as tf

from tfface.layers.tracking import track
from tfface.networks import base

keras = tf.keras

# PyTorch BatchNorm1d defaults (Keras momentum = 1 − PyTorch momentum).
BN_MOMENTUM, BN_EPSILON = 0.9, 1e-5


def torch_dense(units: int, fan_in: int, use_bias: bool = True,
                name: Optional[str] = None) -> keras.layers.Dense:
  """``Dense`` initialised as PyTorch's ``nn.Linear`` (U(±1/√fan_in))."""
  bound = 1.0 / math.sqrt(max(1, fan_in))
  return keras.layers.Dense(
      units, use_bias=use_bias,
      kernel_initializer=keras.initializers.VarianceScaling(
          1.0 / 3.0, "fan_in", "uniform"),
      bias_initializer=keras.initializers.RandomUniform(-bound, bound),
      name=name)


def xavier_dense(units: int, bias: float = 0.01,
                 name: Optional[str] = None) -> keras.layers.Dense:
  """``Dense`` with Xavier-uniform weights and a constant bias (the concat
  generator's ``init_weights``)."""
  return keras.layers.Dense(
      units, kernel_initializer="glorot_uniform",
      bias_initializer=keras.initializers.Constant(bias), name=name)


def _bn(name: str) -> keras.layers.BatchNormalization:
  return keras.layers.BatchNormalization(momentum=BN_MOMENTUM,
                                         epsilon=BN_EPSILON, name=name)


class SpectralDense(keras.layers.Layer):
  """A dense layer with spectral normalisation, as PyTorch's ``spectral_norm``.

  ``y = x · (W / σ(W)) + b`` with σ estimated by power iteration on stored
  unit vectors u `[units]`, v `[in]` (one iteration per training call; eval
  calls reuse the stored vectors). The gradient flows through σ(W) with u
  and v held constant, as in ``torch.nn.utils.spectral_norm``.

  Why not ``keras.layers.SpectralNormalization``: it works under
  MirroredStrategy on TF 2.21 (checked), but it *overwrites the wrapped
  kernel* with W/σ on every training call (TFA's semantics), so the optimizer
  updates the normalised kernel and no gradient reaches σ — a different
  parametrisation from the reference's PyTorch layers.

  Args:
    units: outputs.
    use_bias: add a bias (not normalised).
    power_iterations: iterations per training call (1).
    kernel_initializer, bias_initializer: Keras initializers.
    eps: normalisation epsilon (PyTorch's 1e-12).

  Call ``(x, training)``: `[B, in]` -> `[B, units]`.
  """

  def __init__(self, units: int, use_bias: bool = True,
               power_iterations: int = 1, kernel_initializer="glorot_uniform",
               bias_initializer="zeros", eps: float = 1e-12, **kwargs):
    super().__init__(**kwargs)
    if power_iterations < 1:
      raise ValueError(f"SpectralDense.power_iterations must be >= 1, got "
                       f"{power_iterations}")
    self.units = int(units)
    self.use_bias = bool(use_bias)
    self.power_iterations = int(power_iterations)
    self.kernel_initializer = keras.initializers.get(kernel_initializer)
    self.bias_initializer = keras.initializers.get(bias_initializer)
    self.eps = float(eps)

  def build(self, input_shape):
    fan_in = int(input_shape[-1])
    self.kernel = self.add_weight(shape=(fan_in, self.units),
                                  initializer=self.kernel_initializer,
                                  name="kernel")
    self.bias = (self.add_weight(shape=(self.units,),
                                 initializer=self.bias_initializer,
                                 name="bias") if self.use_bias else None)
    # Replicas compute the same vectors from the same weights; MEAN keeps the
    # assignment legal in replica context.
    self.u = self.add_weight(shape=(self.units,), trainable=False,
                             initializer=_unit_normal, name="u",
                             aggregation="mean")
    self.v = self.add_weight(shape=(fan_in,), trainable=False,
                             initializer=_unit_normal, name="v",
                             aggregation="mean")

  def _normalize(self, x):
    return x / tf.maximum(tf.norm(x), self.eps)

  def sigma(self, training=False) -> tf.Tensor:
    """σ(W) (scalar); updates the stored u, v when ``training``."""
    w = tf.convert_to_tensor(self.kernel)
    u, v = tf.convert_to_tensor(self.u), tf.convert_to_tensor(self.v)
    if training:
      w_const = tf.stop_gradient(w)
      for _ in range(self.power_iterations):
        v = self._normalize(tf.linalg.matvec(w_const, u))
        u = self._normalize(tf.linalg.matvec(w_const, v, transpose_a=True))
      self.u.assign(u)
      self.v.assign(v)
    u, v = tf.stop_gradient(u), tf.stop_gradient(v)
    return tf.tensordot(v, tf.linalg.matvec(w, u), 1)

  def normalized_kernel(self, training=False) -> tf.Tensor:
    return self.kernel / self.sigma(training)

  def call(self, x, training=False):
    y = tf.matmul(x, self.normalized_kernel(bool(training)))
    if self.bias is not None:
      y = y + self.bias
    return y


def _unit_normal(shape, dtype=None):
  x = tf.random.normal(shape, dtype=dtype or tf.float32)
  return x / tf.maximum(tf.norm(x), 1e-12)


# -- conditional latent GANs ---------------------------------------------------

class ConditionalBatchNorm(keras.layers.Layer):
  """BatchNorm without affine, then ``(1 + c·Γ)·x̂ + c·B`` (Γ, B start at 0).

  For a one-hot c this is the reference's per-class γ/β embeddings
  initialised to 1 and 0.

  Call ``(x [B, h], c [B, C], training)`` -> `[B, h]`.
  """

  def __init__(self, units: int, **kwargs):
    super().__init__(**kwargs)
    self.norm = keras.layers.BatchNormalization(
        momentum=BN_MOMENTUM, epsilon=BN_EPSILON, center=False, scale=False,
        name="norm")
    self.gamma = keras.layers.Dense(units, use_bias=False,
                                    kernel_initializer="zeros", name="gamma")
    self.beta = keras.layers.Dense(units, use_bias=False,
                                   kernel_initializer="zeros", name="beta")

  def call(self, x, c, training=None):
    return (1.0 + self.gamma(c)) * self.norm(x, training=training) + self.beta(c)


class CBNGenerator(base.Network):
  """G(z, c) with conditional batch normalisation (the reference's ``Generator``).

  Args:
    code_size: Z.
    condition_size: C.
    hidden: width of the hidden blocks (default Z; the reference's 128).
    num_blocks: [Linear, CBN, ReLU] blocks (2); the last outputs Z.
    output_dropout: dropout on the output (0.5, the reference's place).
    relu_output: end in ReLU (the reference's bug; False: linear output).

  Call ``(z, c, training)``: `[B, Z]`, `[B, C]` -> `[B, Z]`.
  """

  def __init__(self, code_size: int, condition_size: int,
               hidden: Optional[int] = None, num_blocks: int = 2,
               output_dropout: float = 0.5, relu_output: bool = False,
               **kwargs):
    super().__init__(**kwargs)
    if num_blocks < 1:
      raise ValueError(f"CBNGenerator.num_blocks must be >= 1, got {num_blocks}")
    hidden = int(hidden or code_size)
    self.code_size, self.condition_size = int(code_size), int(condition_size)
    widths = [hidden] * (num_blocks - 1) + [int(code_size)]
    fan_ins = [int(code_size)] + widths[:-1]
    self.linears = track(self, "linear", [
        torch_dense(w, f, name=f"linear_{i}")
        for i, (w, f) in enumerate(zip(widths, fan_ins))])
    self.norms = track(self, "cbn", [ConditionalBatchNorm(w, name=f"cbn_{i}")
                                     for i, w in enumerate(widths)])
    self.dropout = keras.layers.Dropout(output_dropout)
    self.relu_output = bool(relu_output)

  def call(self, z, c, training=None):
    x = z
    last = len(self.linears) - 1
    for i, (linear, norm) in enumerate(zip(self.linears, self.norms)):
      x = norm(linear(x), c, training=training)
      if i < last or self.relu_output:
        x = tf.nn.relu(x)
    return self.dropout(x, training=training)


class ConcatGenerator(base.Network):
  """G(z, c) on ``concat(z, embed(c))`` (the reference's ``ConcatGenerator``
  and AC-GAN generator).

  Args:
    code_size: Z.
    condition_size: C.
    embed_dim: size of the condition embedding (the reference: 128; AC-GAN 64).
    embed_relu: ReLU after the embedding (``ConcatGenerator``: yes; AC-GAN's
      ``nn.Embedding``: no).
    embed_bias: the embedding has a bias (a Linear; an Embedding has none).
    input_dropout: dropout on the concatenation (0.5; AC-GAN 0.8).
    hidden: hidden widths (``(128,)``; AC-GAN ``(192, 128)``).
    hidden_dropout: dropout after each hidden ReLU (0; AC-GAN 0.5).
    relu_output: end in ReLU (the reference ``ConcatGenerator``'s bug).
    init: ``"xavier"`` (Xavier weights, bias 0.01: ``ConcatGenerator``) or
      ``"torch"`` (PyTorch defaults, N(0, 1) embedding: AC-GAN).

  Call ``(z, c, training)``: `[B, Z]`, `[B, C]` -> `[B, Z]`.
  """

  def __init__(self, code_size: int, condition_size: int,
               embed_dim: int = 128, embed_relu: bool = True,
               embed_bias: bool = True, input_dropout: float = 0.5,
               hidden: Sequence[int] = (128,), hidden_dropout: float = 0.0,
               relu_output: bool = False, init: str = "xavier", **kwargs):
    super().__init__(**kwargs)
    if init not in ("xavier", "torch"):
      raise ValueError(f"ConcatGenerator.init must be 'xavier' or 'torch', got "
                       f"{init!r}")
    self.code_size, self.condition_size = int(code_size), int(condition_size)
    if init == "xavier":
      self.embed = keras.layers.Dense(
          embed_dim, use_bias=embed_bias, kernel_initializer="glorot_uniform",
          bias_initializer=keras.initializers.Constant(0.01), name="embed")
    elif embed_bias:
      self.embed = torch_dense(embed_dim, condition_size, name="embed")
    else:  # nn.Embedding: N(0, 1) rows.
      self.embed = keras.layers.Dense(
          embed_dim, use_bias=False,
          kernel_initializer=keras.initializers.RandomNormal(0.0, 1.0),
          name="embed")
    self.embed_relu = bool(embed_relu)
    self.input_dropout = keras.layers.Dropout(input_dropout)
    fan_ins = [int(code_size) + int(embed_dim)] + list(hidden)
    make = (lambda w, f, n: xavier_dense(w, name=n)) if init == "xavier" else (
        lambda w, f, n: torch_dense(w, f, name=n))
    self.hiddens = track(self, "hidden", [
        make(int(w), f, f"hidden_{i}") for i, (w, f) in
        enumerate(zip(hidden, fan_ins))])
    self.dropouts = track(self, "dropout", [
        keras.layers.Dropout(hidden_dropout) for _ in hidden])
    self.out = make(int(code_size), fan_ins[-1], "out")
    self.relu_output = bool(relu_output)

  def call(self, z, c, training=None):
    e = self.embed(c)
    if self.embed_relu:
      e = tf.nn.relu(e)
    x = self.input_dropout(tf.concat([z, e], axis=-1), training=training)
    for dense, dropout in zip(self.hiddens, self.dropouts):
      x = dropout(tf.nn.relu(dense(x)), training=training)
    x = self.out(x)
    return tf.nn.relu(x) if self.relu_output else x


class ProjectionDiscriminator(base.Network):
  """D(x, c) = ψ(φ(x)) + ⟨V·c, φ(x)⟩ with spectral norm (the reference's
  ``ProjectionDiscriminator``).

  φ(x) = ReLU(SN(Linear(Z, h))(x)); ψ = Dropout(SN(Linear(h, 1))) (the
  reference's dropout on the output scalar); V = SN(Embedding(C, h)).

  Args:
    code_size: Z.
    condition_size: C.
    hidden: h (128).
    output_dropout: dropout on ψ (0.5).
    spectral_norm: SN on the three layers (True).

  Call ``(x, c, training)``: `[B, Z]`, `[B, C]` -> `[B, 1]` logits.
  """

  def __init__(self, code_size: int, condition_size: int, hidden: int = 128,
               output_dropout: float = 0.5, spectral_norm: bool = True,
               **kwargs):
    super().__init__(**kwargs)
    self.code_size, self.condition_size = int(code_size), int(condition_size)
    bound_x = 1.0 / math.sqrt(code_size)
    bound_h = 1.0 / math.sqrt(hidden)
    torch_kernel = keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in",
                                                      "uniform")

    def layer(units, bound, use_bias=True, kernel=torch_kernel, name=None):
      kwargs = dict(use_bias=use_bias, kernel_initializer=kernel,
                    bias_initializer=keras.initializers.RandomUniform(
                        -bound, bound), name=name)
      if spectral_norm:
        return SpectralDense(units, **kwargs)
      return keras.layers.Dense(units, **kwargs)

    self.phi = layer(hidden, bound_x, name="phi")
    self.psi = layer(1, bound_h, name="psi")
    self.embed = layer(hidden, 0.0, use_bias=False,
                       kernel=keras.initializers.RandomNormal(0.0, 1.0),
                       name="embed")
    self.dropout = keras.layers.Dropout(output_dropout)

  def _call_layer(self, layer, x, training):
    if isinstance(layer, SpectralDense):
      return layer(x, training=training)
    return layer(x)

  def parts(self, x, c, training=None) -> Dict[str, tf.Tensor]:
    """``phi`` `[B, h]`, ``psi`` `[B, 1]` (after dropout), ``projection``
    `[B, 1]` = ⟨V·c, φ⟩, ``logits`` = psi + projection."""
    phi = tf.nn.relu(self._call_layer(self.phi, x, training))
    psi = self.dropout(self._call_layer(self.psi, phi, training),
                       training=training)
    projection = tf.reduce_sum(self._call_layer(self.embed, c, training) * phi,
                               axis=-1, keepdims=True)
    return {"phi": phi, "psi": psi, "projection": projection,
            "logits": psi + projection}

  def call(self, x, c, training=None):
    return self.parts(x, c, training)["logits"]


class ACGANDiscriminator(base.Network):
  """The AC-GAN notebook's discriminator: real/fake logit and class logits.

  Dropout(0.5) → ``block1`` Linear(Z, h) + ReLU + Dropout(0.5) → ``block2``
  Linear(h, h) + ReLU + Dropout(0.5), then two heads Linear(h, 64) + ReLU +
  Dropout(0.5) + Linear(64, 1) (``critic``) and Linear(64, C)
  (``classifier``).

  Args:
    code_size: Z.
    num_outputs: C (class logits, or a continuous condition's regression).
    hidden: h (128).
    head_hidden: 64.
    dropout: 0.5 everywhere.

  Call ``(x, training)``: `[B, Z]` -> ``(logits [B, 1], class_logits [B, C])``.
  """

  def __init__(self, code_size: int, num_outputs: int, hidden: int = 128,
               head_hidden: int = 64, dropout: float = 0.5, **kwargs):
    super().__init__(**kwargs)
    self.code_size, self.num_outputs = int(code_size), int(num_outputs)
    self.block1 = torch_dense(hidden, code_size, name="block1")
    self.block2 = torch_dense(hidden, hidden, name="block2")
    self.critic_hidden = torch_dense(head_hidden, hidden, name="critic_hidden")
    self.critic_out = torch_dense(1, head_hidden, name="critic_out")
    self.classifier_hidden = torch_dense(head_hidden, hidden,
                                         name="classifier_hidden")
    self.classifier_out = torch_dense(num_outputs, head_hidden,
                                      name="classifier_out")
    self.dropouts = track(self, "dropout", [keras.layers.Dropout(dropout)
                                            for _ in range(5)])

  def groups(self) -> Dict[str, list]:
    """Variables by the reference's optimizer groups."""
    return {"block1": list(self.block1.trainable_variables),
            "block2": list(self.block2.trainable_variables),
            "critic": (list(self.critic_hidden.trainable_variables) +
                       list(self.critic_out.trainable_variables)),
            "classifier": (list(self.classifier_hidden.trainable_variables) +
                           list(self.classifier_out.trainable_variables))}

  def call(self, x, training=None):
    d = self.dropouts
    x = d[0](x, training=training)
    x = d[1](tf.nn.relu(self.block1(x)), training=training)
    x = d[2](tf.nn.relu(self.block2(x)), training=training)
    h = d[3](tf.nn.relu(self.critic_hidden(x)), training=training)
    k = d[4](tf.nn.relu(self.classifier_hidden(x)), training=training)
    return self.critic_out(h), self.classifier_out(k)


# -- the keypoint mapper ("talking heads") -------------------------------------

class KeypointMapper(base.Network):
  """R(z, c): a code and 68 keypoints -> the code with those keypoints.

  Linear(Z + K → Z) on ``concat(z, c)``, then ``num_layers`` × [Linear(Z, Z),
  BatchNorm, ReLU]; the last block's ReLU is dropped unless ``relu_output``
  (the reference's R(z, c) ≥ 0 on signed codes).

  Args:
    code_size: Z.
    keypoint_size: K = 136 (68 × (x, y), flattened).
    num_layers: 3 (``configs/rotation.yaml``).
    relu_output: the reference's final ReLU.

  Call ``(z, c, training)``: `[B, Z]`, `[B, K]` -> `[B, Z]`.
  """

  def __init__(self, code_size: int, keypoint_size: int = 136,
               num_layers: int = 3, relu_output: bool = False, **kwargs):
    super().__init__(**kwargs)
    if num_layers < 1:
      raise ValueError(f"KeypointMapper.num_layers must be >= 1, got "
                       f"{num_layers}")
    z = int(code_size)
    self.code_size, self.keypoint_size = z, int(keypoint_size)
    self.inp = torch_dense(z, z + keypoint_size, name="input")
    self.linears = track(self, "linear", [torch_dense(z, z, name=f"linear_{i}")
                                          for i in range(num_layers)])
    self.norms = track(self, "norm", [_bn(f"norm_{i}")
                                      for i in range(num_layers)])
    self.relu_output = bool(relu_output)

  def call(self, z, c, training=None):
    x = self.inp(tf.concat([z, c], axis=-1))
    last = len(self.linears) - 1
    for i, (linear, norm) in enumerate(zip(self.linears, self.norms)):
      x = norm(linear(x), training=training)
      if i < last or self.relu_output:
        x = tf.nn.relu(x)
    return x


class KeypointCritic(base.Network):
  """C(z, c): a WGAN critic on (code, keypoints) pairs.

  Linear(Z + K → Z) + ReLU, ``num_layers`` × [Linear(Z, Z), norm, ReLU],
  Linear(Z → 1).

  Args:
    code_size: Z.
    keypoint_size: K (136).
    num_layers: 4 (``configs/rotation.yaml``).
    norm: ``"layer"`` (default, per-example: valid with a gradient penalty),
      ``"batch"`` (the reference) or ``"none"``.

  Call ``(z, c, training)``: `[B, Z]`, `[B, K]` -> `[B, 1]`.
  """

  NORMS = ("layer", "batch", "none")

  def __init__(self, code_size: int, keypoint_size: int = 136,
               num_layers: int = 4, norm: str = "layer", **kwargs):
    super().__init__(**kwargs)
    if norm not in self.NORMS:
      raise ValueError(f"KeypointCritic.norm must be one of {self.NORMS}, got "
                       f"{norm!r}")
    z = int(code_size)
    self.inp = torch_dense(z, z + keypoint_size, name="input")
    self.linears = track(self, "linear", [torch_dense(z, z, name=f"linear_{i}")
                                          for i in range(num_layers)])
    if norm == "batch":
      norms = [_bn(f"norm_{i}") for i in range(num_layers)]
    elif norm == "layer":
      norms = [keras.layers.LayerNormalization(epsilon=BN_EPSILON,
                                               name=f"norm_{i}")
               for i in range(num_layers)]
    else:
      norms = []
    self.norm_kind = norm
    self.norms = track(self, "norm", norms)
    self.out = torch_dense(1, z, name="out")

  def call(self, z, c, training=None):
    x = tf.nn.relu(self.inp(tf.concat([z, c], axis=-1)))
    for i, linear in enumerate(self.linears):
      x = linear(x)
      if self.norm_kind == "batch":
        x = self.norms[i](x, training=training)
      elif self.norm_kind == "layer":
        x = self.norms[i](x)
      x = tf.nn.relu(x)
    return self.out(x)


# -- the baseline AE -------------------------------------------------------------

class BaselineEncoder(base.Network):
  """The baseline's E: ``len(widths)`` × [3×3 conv stride 2, LeakyReLU(0.2)],
  then a 1×1 conv to ``latent_channels``.

  At 128 px with widths (32, 64, 128, 128) and 32 latent channels the code
  is 32 × 8 × 8 (the reference); at 64 px 32 × 4 × 4 = 512 numbers.

  Call ``(images)``: `[B, R, R, 3]` -> `[B, R/16, R/16, latent_channels]`.
  """

  def __init__(self, widths: Sequence[int] = (32, 64, 128, 128),
               latent_channels: int = 32, slope: float = 0.2, **kwargs):
    super().__init__(**kwargs)
    self.convs = track(self, "conv", [
        keras.layers.Conv2D(int(w), 3, strides=2, padding="same")
        for w in widths])
    self.out = keras.layers.Conv2D(int(latent_channels), 1, name="out")
    self.slope = float(slope)

  def call(self, images, training=None):
    x = images
    for conv in self.convs:
      x = tf.nn.leaky_relu(conv(x), self.slope)
    return self.out(x)


class BaselineDecoder(base.Network):
  """The baseline's G: learned noise, a 1×1 transposed conv, ``len(widths)``
  × [4×4 transposed conv stride 2, LeakyReLU(0.2)], a 4×4 stride-2 transposed
  conv to 3 channels and a sigmoid (mapped to [-1, 1]).

  The learned noise: during training a per-channel learned scale times
  N(0, 1) is added to the code (the reference's ``noise`` module); none at
  inference, so decoding is deterministic.

  Call ``(code, training)``: `[B, h, h, C]` -> `[B, 16h, 16h, 3]` in [-1, 1].
  """

  def __init__(self, latent_channels: int = 32,
               widths: Sequence[int] = (128, 64, 32), stem: int = 128,
               slope: float = 0.2, **kwargs):
    super().__init__(**kwargs)
    self.noise_scale = self.add_weight(shape=(int(latent_channels),),
                                       initializer="zeros",
                                       name="noise_scale")
    self.stem = keras.layers.Conv2DTranspose(int(stem), 1, name="stem")
    self.convs = track(self, "conv", [
        keras.layers.Conv2DTranspose(int(w), 4, strides=2, padding="same")
        for w in widths])
    self.out = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same",
                                            name="out")
    self.slope = float(slope)

  def call(self, code, training=None):
    x = code
    if training:
      x = x + self.noise_scale * tf.random.normal(tf.shape(x))
    x = tf.nn.leaky_relu(self.stem(x), self.slope)
    for conv in self.convs:
      x = tf.nn.leaky_relu(conv(x), self.slope)
    return 2.0 * tf.sigmoid(self.out(x)) - 1.0


class LandmarkHead(base.Network):
  """The baseline's landmark head: Flatten → Linear(·, 272) + ReLU →
  Linear(272, 136) + Sigmoid: 68 (x, y) pairs in [0, 1] of the image.

  Call ``(z)``: `[B, Z]` -> `[B, 136]`.
  """

  def __init__(self, code_size: int, hidden: int = 272,
               num_outputs: int = 136, **kwargs):
    super().__init__(**kwargs)
    self.hidden = torch_dense(int(hidden), int(code_size), name="hidden")
    self.out = torch_dense(int(num_outputs), int(hidden), name="out")

  def call(self, z, training=None):
    return tf.sigmoid(self.out(tf.nn.relu(self.hidden(z))))


def build_all(network: keras.Model, *inputs_shapes: Tuple[int, ...]) -> None:
  """Calls ``network`` once on zeros of the given per-example shapes."""
  network(*[tf.zeros((2,) + tuple(s)) for s in inputs_shapes])
