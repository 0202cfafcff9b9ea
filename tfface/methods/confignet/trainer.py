"""ConfigNet training: stage 1, stage 2 and the latent GAN on the shared runtime.

Each is a :class:`~tfface.training.method.TrainingMethod`; ``tools/train.py``
runs them from gin (``gin/confignet/*.gin``). Schedule, per step (reference
``ConfigNetFirstStage.train`` / ``ConfigNet.train``, shared/reference/
confignet.md §3):

Stage 1 (:class:`ConfigNetStage1`), batch = synthetic half + real half:
  * D_R: real images vs G(z, rot), z ~ N(0, I), rot ~ U(pitch ±10°, yaw ±30°).
  * D_S: synthetic images vs G(E_S(θ), pose_θ).
  * D_DA: N(0, I) samples ("real") vs E_S(θ) ("fake").
  * G (+ E_S + latent regressor): λ_img·VGG(syn, G(E_S(θ))) + λ_eye·eye +
    GAN(D_S) + GAN(D_R on random z) + λ_DA·softplus(−D_DA(E_S(θ))) +
    λ_reg·MSE(regressor, [z, 5·rot]).
Stage 2 (:class:`ConfigNetStage2`), initialized from a stage-1 checkpoint:
  * D_R: real images vs reconstructions G(E_R(x)).
  * D_S: as stage 1.
  * D_DA: E_R(x) ("real") vs E_S(θ) ("fake").
  * G (+ E_S + E_R + regressor): λ_img·VGG on synthetic and on real
    reconstructions (λ_img ×10 = 5e-4), eye, GAN(D_S), GAN(D_R on
    reconstructions), λ_DA·(flipped-label D_DA loss), λ_reg·normalized
    regression.

Losses: non-saturating on every discriminator logit, eager R1 (γ = 10) on
the real inputs of each discriminator. Adam(4e-4, β = (0, 0.9)), or any
optimizer gin names (``optimizer``). One optimizer per network group: G-side
(G, E_S, regressor[, E_R]), D_R, D_S and D_DA each their own (the reference
shares one Adam among the three discriminators, which Keras 3 optimizers do
not allow; with β1 = 0 and per-variable slots the update is the same). EMA
0.999 of G. The discriminator updates, the G update and the EMA are the
phases of :mod:`tfface.training.gan`.
"""

import math
from typing import Callable, Dict, Mapping, Optional, Sequence

from absl import logging
import gin
import tensorflow as tf

from tfface.losses import gan as gan_losses
from tfface.losses import masked
from tfface.losses import perceptual
from tfface.methods.confignet import factors as factors_lib
from tfface.methods.confignet import losses as cn_losses
from tfface.methods.confignet import model as model_lib
from tfface.training import checkpoints
from tfface.training import gan as gan_training
from tfface.training import optimizers
from tfface.training import seeding

keras = tf.keras

# Random-pose range of the HoloGAN branch: (pitch, yaw, roll) maxima, radians.
POSE_RANGE = (math.radians(10.0), math.radians(30.0), 0.0)


def _flip_random(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
  """Mirrors a random half of the images horizontally (real images only)."""
  flip = tf.random.stateless_uniform([tf.shape(images)[0], 1, 1, 1],
                                     seed) < 0.5
  return tf.where(flip, images[:, :, ::-1, :], images)


@gin.configurable
class ConfigNetStage1(gan_training.GANMethod):
  """ConfigNet stage 1 (synthetic θ + unlabeled real images, HoloGAN branch).

  Args:
    resolution: image size (power of two >= 32).
    factor_preset: ``"synthetic"`` (tfface's dataset) or ``"paper"``.
    factors: explicit table name -> (θ dim, z dim); overrides the preset.
    z_dims: per-factor z sizes for the synthetic preset.
    generator: keyword arguments of :class:`model.Generator` (channels).
    discriminator: keyword arguments of :class:`model.ImageDiscriminator`
      (num_blocks, base_filters, max_filters); also used for the regressor.
    learning_rate, beta_1, beta_2: Adam (4e-4, 0, 0.9).
    image_loss_weight: λ_img on the VGG perceptual loss (5e-5 in stage 1).
    eye_loss_weight: λ_eye (5).
    domain_adversarial_weight: λ_DA (5).
    latent_regression_weight: λ_reg (10).
    r1_gamma: R1 weight γ (10).
    mouth_loss_weight: weight of a masked L1 loss (mean over a box around
      the mouth landmarks 48–67) of synthetic images, in the spirit of the eye
      loss (not in the reference: 0 there; the short CPU demo uses it so the
      jaw and smile, a few pixels at 64 px, are learned within minutes).
    eye_box_loss_weight: the same on a box around the eye landmarks 36–47
      (blinks and gaze; not in the reference).
    landmark_loss_warmup: ``(start, end)`` steps over which both box weights
      rise linearly from 0 to their values (``(0, 0)``: full from the
      start). A strong local term before G has learned where the face is
      paints mouth colour everywhere; after a few hundred steps it does not.
    gan_loss_weight: weight of the generator-side GAN terms (1 in the
      reference; the short CPU demo lowers it so the supervised terms lead).
    r1_per_output: R1 on each discriminator output separately (the
      reference) or on their sum (one pass; cheaper on CPU).
    ema_decay: EMA of G (0.999).
    vgg_weights_path: Keras VGG-19 weights file; None uses random features.
    vgg_width: channel multiplier of the random-feature VGG (1 = full).
    pixel_l1_weight: weight of a pixel L1 term added to every image loss
      (part of the fallback when no VGG weights exist; 0 in the reference).
    pose_range: (pitch, yaw, roll) maxima of random poses, radians.
    preview_count: faces shown in TensorBoard image summaries.
    gan_loss: GAN loss family of every discriminator (``"non_saturating"``).
    optimizer: optional factory ``(name=...) -> Keras optimizer`` (e.g.
      ``@tf.keras.optimizers.Adam`` in gin) for every network group; None:
      Adam(learning_rate, beta_1, beta_2).
  """

  stage = 1

  def __init__(self,
               resolution: int = 256,
               factor_preset: str = "synthetic",
               factors: Optional[Mapping[str, Sequence[int]]] = None,
               z_dims: Optional[Mapping[str, int]] = None,
               generator: Optional[Mapping[str, object]] = None,
               discriminator: Optional[Mapping[str, object]] = None,
               learning_rate: float = 4e-4,
               beta_1: float = 0.0,
               beta_2: float = 0.9,
               image_loss_weight: float = 5e-5,
               eye_loss_weight: float = 5.0,
               domain_adversarial_weight: float = 5.0,
               latent_regression_weight: float = 10.0,
               r1_gamma: float = 10.0,
               gan_loss_weight: float = 1.0,
               mouth_loss_weight: float = 0.0,
               eye_box_loss_weight: float = 0.0,
               landmark_loss_warmup: Sequence[int] = (0, 0),
               r1_per_output: bool = True,
               ema_decay: float = 0.999,
               vgg_weights_path: Optional[str] = None,
               vgg_width: float = 1.0,
               pixel_l1_weight: float = 0.0,
               pose_range: Sequence[float] = POSE_RANGE,
               preview_count: int = 4,
               gan_loss: str = "non_saturating",
               optimizer: Optional[Callable] = None):
    self.resolution = int(resolution)
    self.table = factors_lib.make_factor_table(factor_preset, factors, z_dims)
    self.generator_kwargs = dict(generator or {})
    self.discriminator_kwargs = dict(discriminator or {})
    self.learning_rate = learning_rate
    self.betas = (beta_1, beta_2)
    self.image_loss_weight = image_loss_weight
    self.eye_loss_weight = eye_loss_weight
    self.domain_adversarial_weight = domain_adversarial_weight
    self.latent_regression_weight = latent_regression_weight
    self.r1_gamma = r1_gamma
    self.r1_per_output = r1_per_output
    self.gan_loss_weight = gan_loss_weight
    self.box_loss_weights = {"g_mouth": (float(mouth_loss_weight),
                                         masked.MOUTH_LANDMARKS),
                             "g_eye_box": (float(eye_box_loss_weight),
                                           masked.EYE_LANDMARKS)}
    self.landmark_loss_warmup = tuple(int(v) for v in landmark_loss_warmup)
    if len(self.landmark_loss_warmup) != 2 or not (
        0 <= self.landmark_loss_warmup[0] <= self.landmark_loss_warmup[1]):
      raise ValueError("landmark_loss_warmup must be (start, end) steps with "
                       f"0 <= start <= end, got {tuple(landmark_loss_warmup)}")
    self.ema_decay = ema_decay
    self.vgg_weights_path = vgg_weights_path or None
    self.vgg_width = vgg_width
    self.pixel_l1_weight = pixel_l1_weight
    self.pose_range = tuple(float(p) for p in pose_range)
    self.preview_count = int(preview_count)
    self.gan_loss = gan_losses.check_loss_kind(gan_loss)
    self.optimizer_factory = optimizer

  # ---------------------------------------------------------------- building
  def make_generator(self, name: str) -> model_lib.Generator:
    return model_lib.Generator(self.table.latent_dim, self.resolution,
                               name=name, **self.generator_kwargs)

  def _networks(self) -> Dict[str, keras.Model]:
    latent = self.table.latent_dim
    dk = self.discriminator_kwargs
    return {
        "generator": self.make_generator("generator"),
        "generator_ema": self.make_generator("generator_ema"),
        "synthetic_encoder": model_lib.SyntheticEncoder(
            self.table, name="synthetic_encoder"),
        "d_real": model_lib.ImageDiscriminator(self.resolution, name="d_real",
                                               **dk),
        "d_synthetic": model_lib.ImageDiscriminator(
            self.resolution, name="d_synthetic", **dk),
        "d_domain": model_lib.DomainDiscriminator(latent, name="d_domain"),
        "regressor": model_lib.LatentRegressor(latent, self.resolution,
                                               name="regressor", **dk),
    }

  def build(self) -> None:
    self.nets = self._networks()
    model_lib.build_networks(self.nets, self.table, self.resolution)
    for name, net in self.nets.items():
      setattr(self, name, net)
    self.perceptual = perceptual.PerceptualLoss(self.vgg_weights_path,
                                                width=self.vgg_width)
    self.perceptual.build(self.resolution)
    self.ema = self.make_ema(self.generator, self.generator_ema,
                             self.ema_decay)
    self.g_optimizer = self._optimizer("g_optimizer",
                                       self.generator_side_variables())
    # D_R, D_S, D_DA: (network, optimizer attribute, loss prefix).
    self.d_steps = {}
    for key, net, opt_name, prefix in (
        ("real", self.d_real, "d_real_optimizer", "d_real"),
        ("synthetic", self.d_synthetic, "d_synthetic_optimizer", "d_syn"),
        ("domain", self.d_domain, "d_domain_optimizer", "d_domain")):
      optimizer = self._optimizer(opt_name, net.trainable_variables)
      setattr(self, opt_name, optimizer)
      self.d_steps[key] = gan_training.DiscriminatorStep(
          net, optimizer, loss=self.gan_loss, r1_gamma=self.r1_gamma,
          r1_every=0, r1_per_output=self.r1_per_output, prefix=prefix)
    self._build_preview()

  def _optimizer(self, name, variables):
    b1, b2 = self.betas
    return optimizers.make_optimizer(
        self.optimizer_factory, name=name, learning_rate=self.learning_rate,
        beta_1=b1, beta_2=b2, variables=variables)

  def generator_side_variables(self):
    """Variables of the G update: G, E_S and the latent regressor."""
    return (self.generator.trainable_variables +
            self.synthetic_encoder.trainable_variables +
            self.regressor.trainable_variables)

  def _build_preview(self):
    # Faces for TensorBoard: the first replica's first faces of the latest
    # batch (ONLY_FIRST_REPLICA variables may be assigned in replica context).
    n, r = self.preview_count, self.resolution
    agg = dict(trainable=False,
               synchronization=tf.VariableSynchronization.ON_WRITE,
               aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.preview = {
        "synthetic": tf.Variable(tf.zeros([n, r, r, 3]), name="prev_syn", **agg),
        "real": tf.Variable(tf.zeros([n, r, r, 3]), name="prev_real", **agg),
        "pose": tf.Variable(tf.zeros([n, 3]), name="prev_pose", **agg),
        "theta": {f.name: tf.Variable(tf.zeros([n, f.theta_dim]),
                                      name="prev_" + f"{i}", **agg)
                  for i, f in enumerate(self.table.factors)},
    }

  def checkpoint_items(self) -> Dict[str, tf.Module]:
    items = dict(self.nets)
    items.update(g_optimizer=self.g_optimizer,
                 d_real_optimizer=self.d_real_optimizer,
                 d_synthetic_optimizer=self.d_synthetic_optimizer,
                 d_domain_optimizer=self.d_domain_optimizer)
    return items

  # ---------------------------------------------------------------- steps
  def _split(self, batch):
    synthetic = batch["synthetic"]
    theta = {n: synthetic["factors"][n] for n in self.table.names}
    pose = synthetic["factors"][factors_lib.POSE_FACTOR]
    return (synthetic["image"], theta, pose, synthetic["iris_mask"],
            batch["real"]["image"])

  def _record_preview(self, syn_image, theta, pose, real):
    n = self.preview_count
    if int(syn_image.shape[0]) < n or int(real.shape[0]) < n:
      return
    self.preview["synthetic"].assign(syn_image[:n])
    self.preview["real"].assign(real[:n])
    self.preview["pose"].assign(pose[:n])
    for name, var in self.preview["theta"].items():
      var.assign(theta[name][:n])

  def _random_pose(self, n, seed):
    bounds = tf.constant(self.pose_range, tf.float32)
    return tf.random.stateless_uniform([n, 3], seed, -1.0, 1.0) * bounds

  def _update_discriminators(self, real, fake_of_real, synthetic,
                             fake_synthetic, latent_of_real, latent_synthetic):
    """One step of D_R, D_S and D_DA (G fixed); returns their losses.

    D_R compares real images with ``fake_of_real`` (stage 1: G of random
    latents; stage 2: reconstructions of the real batch), D_S synthetic images
    with G(E_S(θ)), and D_DA ``latent_of_real`` with E_S(θ).
    """
    out = {}
    out.update(self.d_steps["real"](real, fake_of_real))
    out.update(self.d_steps["synthetic"](synthetic, fake_synthetic))
    out.update(self.d_steps["domain"](latent_of_real, latent_synthetic))
    return out

  def _generator_update(self, batch, forward) -> Dict[str, tf.Tensor]:
    """The G-side update (G main) of both stages.

    ``forward()`` runs G and returns ``(terms, images, latents, rotations)``;
    :meth:`extra_generator_losses` adds a derived method's terms under the
    same tape.
    """
    def generator_losses():
      terms, images, latents, rotations = forward()
      terms.update(self.extra_generator_losses(
          batch, {"images": images, "latents": latents,
                  "rotations": rotations}))
      return terms

    return gan_training.generator_step(
        self.g_optimizer, self.generator_side_variables(), generator_losses)

  def _gan(self, logits):
    """The weighted generator-side GAN term on a discriminator's logits."""
    return self.gan_loss_weight * gan_losses.generator_loss(self.gan_loss,
                                                            logits)

  def _synthetic_losses(self, batch, syn_image, fake_syn, iris
                       ) -> Dict[str, tf.Tensor]:
    """G-side terms on the synthetic half, the same in both stages: image
    (perceptual), eye, GAN against D_S and the landmark-box terms."""
    g = {
        "g_image": self._perceptual(syn_image, fake_syn),
        "g_eye": self.eye_loss_weight * masked.masked_squared_error(
            syn_image, fake_syn, iris),
        "g_gan_syn": self._gan(self.d_synthetic(fake_syn)),
    }
    g.update(self._box_losses(batch, syn_image, fake_syn))
    return g

  def _box_losses(self, batch, target, generated) -> Dict[str, tf.Tensor]:
    """The warmed-up landmark-box terms with a weight (``g_mouth``,
    ``g_eye_box``; see ``mouth_loss_weight``): name -> scalar."""
    start, end = self.landmark_loss_warmup
    ramp = tf.clip_by_value(
        (tf.cast(self.global_step, tf.float32) - start) / max(end - start, 1),
        0.0, 1.0) if end > 0 else 1.0
    landmarks = batch["synthetic"]["landmarks"]
    return {name: ramp * weight * masked.masked_l1(
                target, generated,
                masked.landmark_box_mask(landmarks, self.resolution, indices))
            for name, (weight, indices) in self.box_loss_weights.items()
            if weight}

  def _perceptual(self, a, b):
    loss = self.image_loss_weight * self.perceptual(a, b)
    if self.pixel_l1_weight:
      loss += self.pixel_l1_weight * tf.reduce_mean(tf.abs(a - b))
    return loss

  def train_step(self, batch) -> Dict[str, tf.Tensor]:
    syn_image, theta, pose, iris, real = self._split(batch)
    self._record_preview(syn_image, theta, pose, real)
    n_real = tf.shape(real)[0]
    step = self.global_step
    z_rand = tf.random.stateless_normal(
        [n_real, self.table.latent_dim], seeding.step_seed(self.seed, step, 1))
    rot_rand = self._random_pose(n_real, seeding.step_seed(self.seed, step, 2))
    real = _flip_random(real, seeding.step_seed(self.seed, step, 3))
    n_syn = tf.shape(syn_image)[0]

    # Discriminator updates (G fixed).
    z_syn = self.synthetic_encoder(theta)
    fake = self.generator(tf.concat([z_syn, z_rand], 0),
                          tf.concat([pose, rot_rand], 0))
    fake_syn, fake_rand = fake[:n_syn], fake[n_syn:]
    out = self._update_discriminators(real, fake_rand, syn_image, fake_syn,
                                      z_rand, z_syn)

    # Generator-side update.
    def generator_losses():
      z_syn = self.synthetic_encoder(theta)
      z_all = tf.concat([z_syn, z_rand], 0)
      rot_all = tf.concat([pose, rot_rand], 0)
      fake = self.generator(z_all, rot_all)
      fake_syn, fake_rand = fake[:n_syn], fake[n_syn:]
      g = self._synthetic_losses(batch, syn_image, fake_syn, iris)
      g.update({
          "g_gan_real": self._gan(self.d_real(fake_rand)),
          "g_domain": self.domain_adversarial_weight *
                      gan_losses.non_saturating_logistic_generator_loss(
                          self.d_domain(z_syn)),
          "g_regression": self.latent_regression_weight *
                          cn_losses.latent_regression_loss(
                              self.regressor(fake), z_all, rot_all),
      })
      return g, fake, z_all, rot_all

    out.update(self._generator_update(batch, generator_losses))
    return out

  # ---------------------------------------------------------------- summaries
  def image_summaries(self):
    theta = {k: v.read_value() for k, v in self.preview["theta"].items()}
    pose = self.preview["pose"].read_value()
    z = self.synthetic_encoder(theta)
    images = {
        "synthetic/target": self.preview["synthetic"].read_value(),
        "synthetic/reconstruction": self.generator_ema(z, pose),
    }
    # Yaw sweep of the first preview face.
    yaws = tf.linspace(-self.pose_range[1], self.pose_range[1], 5)
    sweep_pose = tf.stack([tf.zeros_like(yaws), yaws, tf.zeros_like(yaws)], 1)
    images["sweep/yaw"] = self.generator_ema(tf.tile(z[:1], [5, 1]),
                                             sweep_pose)
    # Each factor swapped in from the other preview faces.
    for name in self.table.names[:6]:
      start, stop = self.table.latent_slice(name)
      swapped = tf.concat([tf.tile(z[:1, :start], [z.shape[0], 1]),
                           z[:, start:stop],
                           tf.tile(z[:1, stop:], [z.shape[0], 1])], 1)
      images[f"sweep/{name}"] = self.generator_ema(
          swapped, tf.tile(pose[:1], [z.shape[0], 1]))
    images.update(self._extra_summaries())
    return images

  def _extra_summaries(self):
    return {}

  # ---------------------------------------------------------------- export
  def export_signatures(self):
    """The serving module; its ``zoom`` is the camera zoom recorded with the
    synthetic faces the run's gin config trained on (None if unrecorded)."""
    from tfface.methods.confignet import data as data_lib  # pylint: disable=g-import-not-at-top
    from tfface.methods.confignet import export as export_lib  # pylint: disable=g-import-not-at-top
    return export_lib.serving_module(self, zoom=data_lib.configured_zoom())


@gin.configurable
class ConfigNetStage2(ConfigNetStage1):
  """ConfigNet stage 2: adds E_R, reconstructs real images.

  Args:
    init_checkpoint: stage-1 run directory or checkpoint; its G, G_ema, E_S,
      discriminators and regressor initialize this stage (optimizers start
      fresh, E_R from ``encoder_weights_path`` or random, as in the
      reference). None starts from scratch (tests).
    image_loss_weight: λ_img, ×10 the stage-1 value (5e-4).
    encoder_backbone: ``"resnet50"`` (reference) or ``"small"`` (CPU demo).
    encoder_weights_path: Keras ResNet-50 (no top) weights file, or None.
    encoder_widths: channels of the ``small`` backbone.
    other args: as :class:`ConfigNetStage1`.
  """

  stage = 2

  def __init__(self, init_checkpoint: Optional[str] = None,
               image_loss_weight: float = 5e-4,
               encoder_backbone: str = "resnet50",
               encoder_weights_path: Optional[str] = None,
               encoder_widths: Sequence[int] = (32, 64, 128, 256),
               **kwargs):
    super().__init__(image_loss_weight=image_loss_weight, **kwargs)
    self.init_checkpoint = init_checkpoint
    self.encoder_backbone = encoder_backbone
    self.encoder_weights_path = encoder_weights_path or None
    self.encoder_widths = tuple(encoder_widths)

  def _networks(self):
    nets = super()._networks()
    nets["real_encoder"] = model_lib.RealEncoder(
        self.table.latent_dim, self.resolution, self.encoder_backbone,
        self.encoder_weights_path, self.encoder_widths, name="real_encoder")
    return nets

  def build(self) -> None:
    super().build()
    if self.init_checkpoint:
      path = checkpoints.resolve_checkpoint(self.init_checkpoint)
      shared = {k: v for k, v in self.nets.items() if k != "real_encoder"}
      tf.train.Checkpoint(**shared).restore(path).expect_partial(
      ).assert_existing_objects_matched()
      logging.info("stage 2 initialized from %s", path)

  def generator_side_variables(self):
    return (super().generator_side_variables() +
            self.real_encoder.trainable_variables)

  def train_step(self, batch) -> Dict[str, tf.Tensor]:
    syn_image, theta, pose, iris, real = self._split(batch)
    self._record_preview(syn_image, theta, pose, real)
    step = self.global_step
    real = _flip_random(real, seeding.step_seed(self.seed, step, 3))
    n_syn = tf.shape(syn_image)[0]

    z_syn = self.synthetic_encoder(theta)
    z_real, rot_real = self.real_encoder(real, training=False)
    fake = self.generator(tf.concat([z_syn, z_real], 0),
                          tf.concat([pose, rot_real], 0))
    fake_syn, recon = fake[:n_syn], fake[n_syn:]
    out = self._update_discriminators(real, recon, syn_image, fake_syn,
                                      z_real, z_syn)

    def generator_losses():
      z_syn = self.synthetic_encoder(theta)
      z_real, rot_real = self.real_encoder(real, training=True)
      z_all = tf.concat([z_syn, z_real], 0)
      rot_all = tf.concat([pose, rot_real], 0)
      fake = self.generator(z_all, rot_all)
      fake_syn, recon = fake[:n_syn], fake[n_syn:]
      g = self._synthetic_losses(batch, syn_image, fake_syn, iris)
      g.update({
          "g_image_real": self._perceptual(real, recon),
          "g_gan_real": self._gan(self.d_real(recon)),
          "g_domain": self.domain_adversarial_weight *
                      cn_losses.domain_adversarial_generator_loss(
                          self.d_domain(z_real), self.d_domain(z_syn)),
          "g_regression": self.latent_regression_weight *
                          cn_losses.latent_regression_loss(
                              self.regressor(fake), z_all, rot_all,
                              normalize=True),
      })
      return g, fake, z_all, rot_all

    out.update(self._generator_update(batch, generator_losses))
    return out

  def _extra_summaries(self):
    real = self.preview["real"].read_value()
    z, rotation = self.real_encoder(real, training=False)
    return {"real/target": real,
            "real/reconstruction": self.generator_ema(z, rotation)}


@gin.configurable
class ConfigNetLatentGAN(gan_training.GANMethod):
  """The latent GAN: G_lat maps w ~ N(0, I) to E_R's embedding distribution.

  As ``microsoft/ConfigNet:confignet/latent_gan.py``: G_lat and D_lat are
  3-layer MLPs of hidden width ``int(1.5·Z)`` with LeakyReLU 0.3
  (:mod:`tfface.networks.latent_mlp`); non-saturating losses, eager R1
  (γ = 10) on real embeddings, Adam(5e-5, β = (0, 0.9)) — one optimizer each
  for G_lat and D_lat (the reference shares one; Keras 3 optimizers own their
  variables) — and EMA 0.999 of G_lat. Batches are ``{"z": [B, Z]}``
  embeddings (:func:`tfface.methods.confignet.data.embedding_dataset`).

  Args:
    latent_dim: Z.
    hidden: MLP width (default ``int(1.5·Z)``, the reference's).
    learning_rate, beta_1, beta_2, r1_gamma, ema_decay: as above.
    optimizer: optional factory ``(name=...) -> Keras optimizer``.
  """

  def __init__(self, latent_dim: int = gin.REQUIRED,
               hidden: Optional[int] = None,
               learning_rate: float = 5e-5, beta_1: float = 0.0,
               beta_2: float = 0.9, r1_gamma: float = 10.0,
               ema_decay: float = 0.999,
               optimizer: Optional[Callable] = None):
    self.latent_dim = int(latent_dim)
    self.hidden = hidden
    self.learning_rate = learning_rate
    self.betas = (beta_1, beta_2)
    self.r1_gamma = r1_gamma
    self.ema_decay = ema_decay
    self.optimizer_factory = optimizer

  def build(self) -> None:
    z = tf.zeros([1, self.latent_dim])
    self.generator = model_lib.LatentGenerator(self.latent_dim, self.hidden,
                                               name="latent_generator")
    self.generator_ema = model_lib.LatentGenerator(
        self.latent_dim, self.hidden, name="latent_generator_ema")
    self.discriminator = model_lib.LatentDiscriminator(
        self.latent_dim, self.hidden, name="latent_discriminator")
    for net in (self.generator, self.generator_ema, self.discriminator):
      net(z)
    self.ema = self.make_ema(self.generator, self.generator_ema,
                             self.ema_decay)
    b1, b2 = self.betas
    adam = dict(learning_rate=self.learning_rate, beta_1=b1, beta_2=b2)
    self.g_optimizer = optimizers.make_optimizer(
        self.optimizer_factory, name="g_optimizer",
        variables=self.generator.trainable_variables, **adam)
    self.d_optimizer = optimizers.make_optimizer(
        self.optimizer_factory, name="d_optimizer",
        variables=self.discriminator.trainable_variables, **adam)
    self.d_step = gan_training.DiscriminatorStep(
        self.discriminator, self.d_optimizer, r1_gamma=self.r1_gamma,
        r1_every=0, prefix="d")

  def checkpoint_items(self):
    return {"latent_generator": self.generator,
            "latent_generator_ema": self.generator_ema,
            "latent_discriminator": self.discriminator,
            "g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}

  def train_step(self, batch):
    real = batch["z"]
    n = tf.shape(real)[0]
    w = tf.random.stateless_normal([n, self.latent_dim],
                                   seeding.step_seed(self.seed,
                                                     self.global_step, 1))
    losses = self.d_step(real, self.generator(w))

    def generator_losses():
      fake = self.generator(w)
      terms = {"g_gan": gan_losses.non_saturating_logistic_generator_loss(
          self.discriminator(fake))}
      terms.update(self.extra_generator_losses(batch, {"latents": fake}))
      return terms

    losses.update(gan_training.generator_step(
        self.g_optimizer, self.generator.trainable_variables,
        generator_losses))
    return losses
