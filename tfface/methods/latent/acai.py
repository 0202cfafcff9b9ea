"""ACAI with a VGG-19 perceptual term (the project's CelebA-64 autoencoder).

Losses (``ivanvovk/controllable-face-generation@ACAI:ACAI_CelebA.ipynb``, the
ACAI paper's eq. 1 plus the project's eq. 2; ``shared/reference/alae.md``
§2.2), with z = E(x), x̂ = G(z), a partner z' = the batch shifted by one,
α ~ U[0, 0.5] per face and x̂_α = G((1 − α)·z + α·z')::

    L_AE = MSE(x, x̂) + Σ_l w_l·P_l(x, x̂) + λ·C(x̂_α)²          (λ = 0.5)
    L_C  = (C(x̂_α) − α)² + C(γ·x + (1 − γ)·x̂)²                  (γ = 0.2)

P_l is the mean squared difference of VGG-19 activations at relu1_1, relu2_1,
relu3_1 (Keras ``block1_conv1``, ``block2_conv1``, ``block3_conv1``) with
weights 1, 1/5, 1/10. The critic predicts the mixing coefficient α of an
interpolated reconstruction; its regulariser teaches it that (blends of) real
images and reconstructions score 0, and the autoencoder learns to make
interpolants the critic scores as 0. Both networks update from one forward
pass (the reference's order); Adam lr 1e-4 with PyTorch's L2 weight decay
1e-5 (as a loss term ``wd/2·‖θ‖²``, which is what ``torch.optim.Adam
(weight_decay=)`` adds to the gradient; Keras' ``weight_decay`` is decoupled
and would differ).

What differs from the reference, on purpose (``reference_*`` switches
reproduce it):

* **The perceptual-weight typo.** The notebook adds ``perceptual2`` twice
  (``P1 + P2/5 + P2/10``) and never ``perceptual3``, so the effective loss is
  ``P1 + 0.3·P2``; here the intended ``P1 + P2/5 + P3/10``.
  ``reference_perceptual_typo=True`` gives ``P1 + 0.3·P2``.
* **Batch sums.** The notebook sums the fooling term and the critic's
  regulariser over the batch (their weight grows with the batch size); here
  both are means, as in the ACAI paper's code. ``reference_batch_sums=True``
  sums them (over the global batch, whatever the replicas).
* **Units.** Images are tfface's [-1, 1]; the pixel MSE is taken in the
  reference's [0, 1] units (``mean(((x − x̂)/2)²)``) so its balance against the
  other terms is the reference's. The reference feeds torchvision's VGG-19
  ImageNet-standardised inputs; Keras' VGG-19 takes caffe inputs (0-255,
  mean-subtracted), whose activations are about 255·0.226 ≈ 57.6 times larger
  at the first layer, so the features are multiplied by
  ``perceptual_feature_scale`` = 1/57.6 before the squared difference.
* **No weights file** (CPU runs, tests): the VGG features are random
  (``vgg_width`` < 1 narrows them), the documented fallback of
  :mod:`tfface.losses.perceptual`.

Losses logged: ``ae_total``, ``ae_mse``, ``ae_perceptual``, ``ae_fool``,
``critic_total``, ``critic_alpha``, ``critic_regularizer``,
``critic_alpha_mean_abs_error`` (how well the critic reads α).
"""

from typing import Callable, Dict, Optional, Sequence

import gin
import tensorflow as tf

from tfface import training
from tfface.methods.latent import codes as codes_lib
from tfface.networks import acai as networks
from tfface.networks import base
from tfface.networks.vgg import VGGFeatures
from tfface.training import optimizers

# The reference's VGG-19 levels (relu1_1, relu2_1, relu3_1) and weights.
ACAI_PERCEPTUAL_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1")
ACAI_PERCEPTUAL_WEIGHTS = (1.0, 1.0 / 5.0, 1.0 / 10.0)
# The notebook's typo: P1 + P2/5 + P2/10 = P1 + 0.3 P2 + 0 P3.
REFERENCE_TYPO_WEIGHTS = (1.0, 1.0 / 5.0 + 1.0 / 10.0, 0.0)
# Keras VGG-19 (caffe input, 0-255) vs torchvision (input / ImageNet std).
CAFFE_TO_STANDARDISED = 1.0 / (255.0 * 0.226)

_SALT_ALPHA = 1


class LevelPerceptualLoss:
  """``Σ_l w_l · mean((s·φ_l(a) − s·φ_l(b))²)`` over VGG-19 levels.

  The weighted per-level VGG loss of ACAI (relu1_1/2_1/3_1, weights 1, 1/5,
  1/10) and of the decoder's identity fine-tuning (weights 1, 1/4, 1/8).

  Args:
    layers: Keras VGG-19 layer names.
    level_weights: one weight per layer (a 0 weight still computes the level).
    weights_path: a Keras VGG-19 no-top ``.h5`` file, or None (random).
    width: channel multiplier of a random-weight network.
    feature_scale: s, applied to the activations (see the module docstring).
  """

  def __init__(self, layers: Sequence[str] = ACAI_PERCEPTUAL_LAYERS,
               level_weights: Sequence[float] = ACAI_PERCEPTUAL_WEIGHTS,
               weights_path: Optional[str] = None, width: float = 1.0,
               feature_scale: float = CAFFE_TO_STANDARDISED):
    if len(layers) != len(level_weights):
      raise ValueError(f"perceptual loss: {len(layers)} layers but "
                       f"{len(level_weights)} level weights")
    self.level_weights = tuple(float(w) for w in level_weights)
    self.features = VGGFeatures(tuple(layers), weights_path or None, width,
                                name="vgg19_features")
    self.features.trainable = False
    self.feature_scale = float(feature_scale)

  def build(self, image_size: int) -> None:
    self.features(tf.zeros([1, image_size, image_size, 3]))

  def levels(self, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Per-level losses `[L]` (batch means), unweighted.

    Args:
      a, b: `[B, H, W, 3]` float32 in [-1, 1].
    """
    s = self.feature_scale
    n = tf.shape(a)[0]
    # One pass over both batches (half the graph of two passes).
    both = self.features(tf.concat([a, b], axis=0))
    return tf.stack([tf.reduce_mean(tf.square(s * (f[:n] - f[n:])))
                     for f in both])

  def __call__(self, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """The weighted sum (scalar)."""
    return tf.reduce_sum(tf.constant(self.level_weights) * self.levels(a, b))


@codes_lib.register_kind("acai")
class ACAIAutoencoder(base.Network):
  """The ACAI encoder/decoder pair as a :class:`~tfface.methods.latent.codes.
  LatentAutoencoder` (flat codes).

  Args:
    image_size: R (square inputs).
    scales, depth, latent_channels, convs_per_scale, stem_padding, slope: see
      :class:`tfface.networks.acai.ACAIEncoder`.

  ``encode``: `[B, R, R, 3]` in [-1, 1] -> `[B, Z]` with Z = h·h·latent_channels;
  ``decode``: `[B, Z]` -> `[B, R', R', 3]` with R' = h·2**scales (R' = R for
  the reference's sizes: 64 -> 66 -> ... -> 2 -> 64).
  """

  def __init__(self, image_size: int = 64, scales: int = 5, depth: int = 16,
               latent_channels: int = 32, convs_per_scale: int = 1,
               stem_padding: int = 1, slope: float = networks.SLOPE,
               **kwargs):
    super().__init__(**kwargs)
    self._config = dict(image_size=int(image_size), scales=int(scales),
                        depth=int(depth), latent_channels=int(latent_channels),
                        convs_per_scale=int(convs_per_scale),
                        stem_padding=int(stem_padding), slope=float(slope))
    self.image_size = int(image_size)
    side = networks.code_spatial_size(image_size, scales, stem_padding)
    self.code_shape = (side, side, int(latent_channels))
    self.code_size = side * side * int(latent_channels)
    self.output_size = networks.decoder_output_size(side, scales)
    self.encoder = networks.ACAIEncoder(scales, depth, latent_channels,
                                        convs_per_scale, stem_padding, slope,
                                        name="encoder")
    self.decoder = networks.ACAIDecoder(scales, depth, latent_channels,
                                        convs_per_scale, slope, name="decoder")

  @classmethod
  def from_config(cls, config):
    model = cls(**config)
    model.build_all()
    return model

  def autoencoder_config(self) -> Dict[str, object]:
    return dict(self._config)

  def build_all(self) -> None:
    self.decode(self.encode(tf.zeros([1, self.image_size, self.image_size,
                                      3])))

  def encode_map(self, images, training=None):
    """`[B, R, R, 3]` -> code maps `[B, h, h, C]`."""
    return self.encoder(images, training=training)

  def decode_map(self, code, training=None):
    """Code maps `[B, h, h, C]` -> images."""
    return self.decoder(code, training=training)

  def encode(self, images, training=None):
    return networks.flatten_code(self.encoder(images, training=training))

  def decode(self, z, training=None):
    return self.decoder(networks.unflatten_code(z, self.code_shape),
                        training=training)

  def call(self, images, training=None):
    return self.decode(self.encode(images, training), training)


def l2_penalty(variables: Sequence[tf.Variable], weight_decay: float
               ) -> tf.Tensor:
  """``weight_decay/2 · Σ‖v‖²`` (PyTorch Adam's coupled L2 as a loss term)."""
  if not weight_decay:
    return tf.constant(0.0)
  return 0.5 * weight_decay * tf.add_n([tf.reduce_sum(tf.square(v))
                                        for v in variables])


def acai_critic_losses(critic_on_mix: tf.Tensor, alpha: tf.Tensor,
                       critic_on_blend: tf.Tensor,
                       batch_sums: bool = False,
                       global_batch_size: Optional[int] = None):
  """The critic's target and regulariser.

  Args:
    critic_on_mix: C(x̂_α) `[B, 1]`.
    alpha: α `[B, 1]`.
    critic_on_blend: C(γ·x + (1 − γ)·x̂) `[B, 1]`.
    batch_sums: the reference's sum over the batch for the regulariser
      (``global_batch_size`` × the mean, so replicas agree).
    global_batch_size: needed with ``batch_sums``.

  Returns:
    ``(alpha_loss, regularizer)``: ``mean((C(x̂_α) − α)²)`` and
    ``mean(C(blend)²)`` (or its batch sum).
  """
  alpha_loss = tf.reduce_mean(tf.square(critic_on_mix - alpha))
  regularizer = tf.reduce_mean(tf.square(critic_on_blend))
  if batch_sums:
    regularizer *= float(global_batch_size)
  return alpha_loss, regularizer


def interpolation_alpha(batch_size: int, seed: tf.Tensor) -> tf.Tensor:
  """α ~ U[0, 0.5] `[B, 1]` (ACAI's ``0.5 − |u − 0.5|``, u ~ U[0, 1])."""
  u = tf.random.stateless_uniform([batch_size, 1], seed)
  return 0.5 - tf.abs(u - 0.5)


def mix_codes(code: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
  """``(1 − α)·z + α·z'`` with z' the batch shifted by one (any code rank)."""
  partner = tf.roll(code, shift=1, axis=0)
  a = tf.reshape(alpha, [-1] + [1] * (len(code.shape) - 1))
  return code + a * (partner - code)


@gin.configurable
class ACAIMethod(training.TrainingMethod):
  """ACAI + VGG-19 perceptual loss on the shared runtime.

  Args:
    image_size: R (64).
    scales, depth, latent_channels, convs_per_scale, stem_padding: the
      autoencoder (5, 16, 32, 1, 1: a 128-D code at 64 px).
    critic_depth: the critic's ``advdepth`` (16).
    learning_rate, beta_1, beta_2, epsilon: Adam of both groups (1e-4 and
      PyTorch's defaults 0.9, 0.999, 1e-8).
    weight_decay: PyTorch-style L2 on both groups (1e-5).
    fool_weight: λ (0.5).
    regularizer_gamma: γ of the critic's blend (0.2).
    perceptual_weight: multiplies the perceptual sum (1; 0 disables it).
    reference_perceptual_typo: use the notebook's ``P1 + 0.3·P2``.
    reference_batch_sums: sum the fooling term and the regulariser over the
      batch, as the notebook.
    vgg_weights: Keras VGG-19 no-top ``.h5``; None: random features.
    vgg_width: channel multiplier of random features.
    perceptual_feature_scale: see the module docstring.
    num_image_samples: faces in the TensorBoard grids.
    optimizer: optional ``(name=) -> optimizer`` factory for both groups.
  """

  def __init__(self, image_size: int = 64, scales: int = 5, depth: int = 16,
               latent_channels: int = 32, convs_per_scale: int = 1,
               stem_padding: int = 1, critic_depth: int = 16,
               learning_rate: float = 1e-4, beta_1: float = 0.9,
               beta_2: float = 0.999, epsilon: float = 1e-8,
               weight_decay: float = 1e-5, fool_weight: float = 0.5,
               regularizer_gamma: float = 0.2, perceptual_weight: float = 1.0,
               reference_perceptual_typo: bool = False,
               reference_batch_sums: bool = False,
               vgg_weights: Optional[str] = None, vgg_width: float = 1.0,
               perceptual_feature_scale: float = CAFFE_TO_STANDARDISED,
               num_image_samples: int = 8,
               optimizer: Optional[Callable] = None):
    self.ae_config = dict(image_size=image_size, scales=scales, depth=depth,
                          latent_channels=latent_channels,
                          convs_per_scale=convs_per_scale,
                          stem_padding=stem_padding)
    side = networks.code_spatial_size(image_size, scales, stem_padding)
    if networks.decoder_output_size(side, scales) != image_size:
      raise ValueError(
          f"ACAIMethod: image_size {image_size} with {scales} scales and stem "
          f"padding {stem_padding} decodes to "
          f"{networks.decoder_output_size(side, scales)} px; choose sizes "
          "whose code map doubles back to the image (e.g. 64 px, 5 scales)")
    if not 0.0 <= regularizer_gamma <= 1.0:
      raise ValueError(f"ACAIMethod.regularizer_gamma must be in [0, 1], got "
                       f"{regularizer_gamma}")
    self.critic_depth = critic_depth
    self.image_size = image_size
    self.learning_rate, self.beta_1, self.beta_2 = learning_rate, beta_1, beta_2
    self.epsilon, self.weight_decay = epsilon, weight_decay
    self.fool_weight, self.gamma = fool_weight, regularizer_gamma
    self.perceptual_weight = perceptual_weight
    self.level_weights = (REFERENCE_TYPO_WEIGHTS if reference_perceptual_typo
                          else ACAI_PERCEPTUAL_WEIGHTS)
    self.reference_batch_sums = reference_batch_sums
    self.vgg_weights, self.vgg_width = vgg_weights, vgg_width
    self.perceptual_feature_scale = perceptual_feature_scale
    self.num_image_samples = num_image_samples
    self.optimizer_factory = optimizer
    self.seed = 0

  def build(self) -> None:
    self.model = ACAIAutoencoder(**self.ae_config, name="autoencoder")
    self.model.build_all()
    c = self.ae_config
    self.critic = networks.ACAICritic(c["scales"], self.critic_depth,
                                      c["latent_channels"],
                                      c["convs_per_scale"], c["stem_padding"],
                                      name="critic")
    self.critic(tf.zeros([1, self.image_size, self.image_size, 3]))
    self.perceptual = None
    if self.perceptual_weight:
      self.perceptual = LevelPerceptualLoss(
          ACAI_PERCEPTUAL_LAYERS, self.level_weights, self.vgg_weights,
          self.vgg_width, self.perceptual_feature_scale)
      self.perceptual.build(self.image_size)
    adam = dict(learning_rate=self.learning_rate, beta_1=self.beta_1,
                beta_2=self.beta_2, epsilon=self.epsilon)
    self.ae_optimizer = optimizers.make_optimizer(
        self.optimizer_factory, name="ae_optimizer",
        variables=self.model.trainable_variables, **adam)
    self.critic_optimizer = optimizers.make_optimizer(
        self.optimizer_factory, name="critic_optimizer",
        variables=self.critic.trainable_variables, **adam)
    # The newest batch's first faces, for the TensorBoard grids (replica 0).
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    n = max(1, min(self.num_image_samples,
                   self.global_batch_size // replicas))
    self.sample_images = tf.Variable(
        tf.zeros([n, self.image_size, self.image_size, 3]), trainable=False,
        name="sample_images",
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

  def checkpoint_items(self) -> Dict[str, tf.Module]:
    return {"autoencoder": self.model, "critic": self.critic,
            "ae_optimizer": self.ae_optimizer,
            "critic_optimizer": self.critic_optimizer}

  def autoencoder(self) -> ACAIAutoencoder:
    """The trained autoencoder (a :class:`~tfface.methods.latent.codes.
    LatentAutoencoder`)."""
    return self.model

  def losses(self, images: tf.Tensor, alpha: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Every term of both losses for one batch (call under a tape).

    Args:
      images: x `[B, R, R, 3]` in [-1, 1].
      alpha: α `[B, 1]`.

    Returns:
      The logged terms plus ``ae_total``, ``critic_total`` and
      ``reconstruction`` (x̂).
    """
    m = self.model
    n = tf.shape(images)[0]
    code = m.encode_map(images, training=True)
    # One decoder pass for x̂ and x̂_α, one critic pass for x̂_α and the blend.
    decoded = m.decode_map(tf.concat([code, mix_codes(code, alpha)], axis=0),
                           training=True)
    x_hat, x_mix = decoded[:n], decoded[n:]
    blend = x_hat + self.gamma * (images - x_hat)
    scores = self.critic(tf.concat([x_mix, blend], axis=0), training=True)
    critic_mix, critic_blend = scores[:n], scores[n:]
    out = {"ae_mse": tf.reduce_mean(tf.square(0.5 * (images - x_hat)))}
    out["ae_perceptual"] = (self.perceptual_weight *
                            self.perceptual(images, x_hat)
                            if self.perceptual is not None
                            else tf.constant(0.0))
    fool = tf.reduce_mean(tf.square(critic_mix))
    if self.reference_batch_sums:
      fool *= float(self.global_batch_size)
    out["ae_fool"] = self.fool_weight * fool
    out["critic_alpha"], out["critic_regularizer"] = acai_critic_losses(
        critic_mix, alpha, critic_blend, self.reference_batch_sums,
        self.global_batch_size)
    out["ae_total"] = (out["ae_mse"] + out["ae_perceptual"] + out["ae_fool"] +
                       l2_penalty(m.trainable_variables, self.weight_decay))
    out["critic_total"] = (out["critic_alpha"] + out["critic_regularizer"] +
                           l2_penalty(self.critic.trainable_variables,
                                      self.weight_decay))
    out["critic_alpha_mean_abs_error"] = tf.reduce_mean(
        tf.abs(critic_mix - alpha))
    out["reconstruction"] = x_hat
    return out

  def train_step(self, batch) -> Dict[str, tf.Tensor]:
    images = batch["image"]
    batch_size = int(images.shape[0])
    alpha = interpolation_alpha(
        batch_size, training.step_seed(self.seed, self.global_step,
                                       _SALT_ALPHA))
    with tf.GradientTape(persistent=True) as tape:
      out = self.losses(images, alpha)
    training.minimize(tape, self.ae_optimizer, out["ae_total"],
                      self.model.trainable_variables)
    training.minimize(tape, self.critic_optimizer, out["critic_total"],
                      self.critic.trainable_variables)
    del tape
    self.sample_images.assign(images[:self.sample_images.shape[0]])
    out.pop("reconstruction")
    return out

  def image_summaries(self) -> Dict[str, tf.Tensor]:
    x = tf.convert_to_tensor(self.sample_images)
    m = self.model
    code = m.encode_map(x)
    steps = tf.linspace(0.0, 1.0, x.shape[0])[:, None, None, None]
    path = code[:1] + steps * (code[1:2] - code[:1])
    return {"faces": x,
            "reconstructions": tf.clip_by_value(m.decode_map(code), -1, 1),
            "interpolation": tf.clip_by_value(m.decode_map(path), -1, 1)}

  def export_signatures(self):
    from tfface.methods.latent import export  # pylint: disable=g-import-not-at-top
    module = export.AutoencoderModule(self.model, method="acai")
    return module, module.signatures()
