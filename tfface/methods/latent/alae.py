"""StyleALAE (Pidhorskyi et al., CVPR 2020) on the shared training runtime.

The adversarial latent autoencoder of podgorskiy/ALAE as its code trains it
(facts in ``shared/reference/alae.md`` §1): F (mapping) and G (style
generator) from :mod:`tfface.networks.stylegan1`, E (encoder) and D (latent
discriminator) from :mod:`tfface.networks.alae`.

**One step = three updates, in the reference's order** (``train_alae.py``
L295-317, the paper's Algorithm 1):

1. *D step*, E and D updated: ``softplus(D(E(G(F(z))))) + softplus(−D(E(x)))
   + γ/2·‖∇_x D(E(x))‖²`` with the fakes detached and style mixing on.
2. *G step*, F and G updated: ``softplus(−D(E(G(F(z)))))`` with mixing on.
3. *Latent AE step*: ``mean((E(G(w)) − sg(w))²)``, w = F(z), no mixing. The
   reference's code updates E, G **and F** here (only the target is
   detached and its decoder optimizer holds F); the paper's Algorithm 1
   lists E and G. ``latent_ae_trains_mapping`` (default True, the code)
   chooses; D gets no gradient either way.

Then the EMA copy of all four networks (``model_s.lerp(model, β)`` with
β = 0.5^(batch/10 000), a half-life of 10k images) and the w̄ tracked at
0.995 for truncation (ψ = 0.7 on the first 8 layers when sampling).

**R1.** podgorskiy/ALAE applies R1 with γ = 10 on the real images in the D
step; the paper's own re-implementation (ivanvovk/controllable-face-
generation, ``alae-implementation``) returns from its discriminator loss
before adding the penalty, so it never applies it. On by default here
(``r1_gamma = 10``); ``r1_gamma = 0`` reproduces that re-implementation.

**Progressive growing** (``lod_driver.py``): a
:class:`~tfface.networks.stylegan1.ProgressiveSchedule` turns the global
step into the level of detail and the fade-in α (sinusoidal ramp over the
first ``fade_images`` of each new LOD; real images are blended the same way,
``α·x + (1 − α)·up(avgpool(x))``). Learning rates come from the reference's
per-LOD table, and the optimizers' state is reset when the LOD changes, as
the reference does (``lod_driver.py`` L110-111).

**Per-resolution batch sizes on one global batch.** The runtime has one
global batch per run and one compiled step, so the reference's per-LOD batch
table (CelebA, 1 GPU: 128, 128, 128, 64, 32, 16) is honoured *inside* the
step: the dataset delivers ``train.global_batch_size`` = the table's largest
entry, and LOD l trains on the first ``lod_batch_sizes[l]`` of them (per
replica: that over the replica count). Every LOD therefore sees exactly the
reference's batch size and learning rate, the schedule counts the images it
actually uses, and one run goes from 4×4 to the top without restarts; the
cost is reading (not computing on) unused images at the high LODs. The
alternatives were worse: one run per LOD resumed from the last (six runs,
six gin files, a resume that must swap the batch size) or a fixed batch
(the gradient noise and EMA horizon of every LOD change). A config that
wants a fixed batch sets every table entry to the global batch size.

The LOD is a tensor inside the compiled step: every phase runs the networks
under ``tf.switch_case`` over the LODs (each branch at its own resolution),
while all optimizer updates happen outside the switch (the only place a
distribution strategy allows them).

**The autoencoder.** :class:`StyleALAE` (autoencoder kind ``"alae"`` of
:mod:`tfface.methods.latent.codes`) bundles F, G, E, D at one LOD and
follows :class:`~tfface.methods.latent.codes.LatentAutoencoder`: the code is
w = E(x) (``code_size`` = the latent size), ``decode(w)`` = G(w at every
layer, fixed noise), ``generate(z)`` = G(F(z)). Images are always at the
full resolution: below the top LOD, inputs are average-pooled and outputs
nearest-upsampled. The method's :meth:`StyleALAEMethod.autoencoder` is the
EMA copy at the current LOD; exported as ``encode``, ``decode`` and
``generate``.
"""

import functools
import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import gin
import numpy as np
import tensorflow as tf

from tfface import training
from tfface.export import validation as v
from tfface.losses import gan as gan_losses
from tfface.methods.latent import codes as codes_lib
from tfface.methods.latent import export as latent_export
from tfface.networks import alae as alae_networks
from tfface.networks import base
from tfface.networks import stylegan1 as s1
from tfface.training import gan as gan_training
from tfface.training import gradients
from tfface.training import progressive

# Salts for step_seed: one per random draw inside a step.
_SALT_D, _SALT_G, _SALT_AE = 11, 12, 13
# The update order of one step and the loss each phase minimizes.
PHASES = ("discriminator", "generator", "autoencoder")
OPTIMIZED_LOSS = {"discriminator": "d_total", "generator": "g_gan",
                  "autoencoder": "ae_latent"}
CELEBA_TRAIN_IMAGES = 182637  # CelebA partitions 0 and 1 (reference §1.1)


# ------------------------------------------------------------ autoencoder


def architecture(resolution: int, channels: Optional[Sequence[int]],
                 start_channels: int, max_channels: int) -> Tuple[int, ...]:
  """The channel table of an ALAE of ``resolution`` px (4×4 block first):
  ``channels`` checked, or ALAE's rule from start/max channels.

  Raises:
    ValueError: a resolution that is not a power of two >= 4, or a table of
      the wrong length.
  """
  resolution = int(resolution)
  log2 = int(round(math.log2(resolution))) if resolution >= 4 else 0
  if resolution < 4 or 2**log2 != resolution:
    raise ValueError(f"ALAE resolution must be a power of two >= 4, got "
                     f"{resolution}")
  num_blocks = log2 - 1
  if channels is None:
    return s1.alae_channels(num_blocks, start_channels, max_channels)
  channels = tuple(int(c) for c in channels)
  if len(channels) != num_blocks or min(channels) < 1:
    raise ValueError(f"ALAE channels must list {num_blocks} positive sizes for "
                     f"{resolution} px (4 px first), got {list(channels)}")
  return channels


@codes_lib.register_kind("alae")
class StyleALAE(base.Network):
  """F, G, E, D of StyleALAE at one level of detail; a LatentAutoencoder.

  Args:
    resolution: top image size R (a power of two >= 4).
    latent_size: the size of z, w and the code (256 for CelebA-128).
    channels: feature maps per block, 4×4 first (default
      :func:`~tfface.networks.stylegan1.alae_channels` of ``start_channels``
      and ``max_channels``).
    start_channels, max_channels: ALAE's table (64, 256 for CelebA).
    last_channels: output channels of E's 4×4 block (default ALAE's
      ``min(max_channels, start_channels · 2**num_blocks)``).
    mapping_layers: F's dense layers (8).
    mapping_lr_multiplier: F's lr multiplier (0.1, the reference's code).
    d_layers, d_lr_multiplier, d_activation: D (3, 0.1, None = linear as
      the reference; ``"lrelu"`` adds nonlinearities).
    fused_min_resolution: fused up/down convs from this size (128).
    to_rgb_gain: ToRGB gain (ALAE: 0.03).
    style_mod: ``"one_plus"`` (ALAE) or ``"direct"``.
    truncation_psi, truncation_cutoff: sampling truncation (0.7, 8).
    lod: the level of detail (None: the top).
    alpha: the fade-in factor at ``lod``.
  """

  def __init__(self, resolution: int = 128, latent_size: int = 256,
               channels: Optional[Sequence[int]] = None,
               start_channels: int = 64, max_channels: int = 256,
               last_channels: Optional[int] = None,
               mapping_layers: int = 8, mapping_lr_multiplier: float = 0.1,
               d_layers: int = 3, d_lr_multiplier: float = 0.1,
               d_activation: Optional[str] = None,
               fused_min_resolution: int = 128, to_rgb_gain: float = 0.03,
               style_mod: str = "one_plus", truncation_psi: float = 0.7,
               truncation_cutoff: Optional[int] = 8,
               lod: Optional[int] = None, alpha: float = 1.0, **kwargs):
    super().__init__(**kwargs)
    channels = architecture(resolution, channels, start_channels,
                            max_channels)
    num_blocks = len(channels)
    self.resolution = int(resolution)
    self.latent_size = int(latent_size)
    self.channels = channels
    self.last_channels = int(last_channels or min(
        int(max_channels), int(start_channels) * 2**num_blocks))
    self._config = dict(
        resolution=self.resolution, latent_size=self.latent_size,
        channels=list(channels), start_channels=int(start_channels),
        max_channels=int(max_channels), last_channels=self.last_channels,
        mapping_layers=int(mapping_layers),
        mapping_lr_multiplier=float(mapping_lr_multiplier),
        d_layers=int(d_layers), d_lr_multiplier=float(d_lr_multiplier),
        d_activation=d_activation,
        fused_min_resolution=int(fused_min_resolution),
        to_rgb_gain=float(to_rgb_gain), style_mod=style_mod,
        truncation_psi=float(truncation_psi),
        truncation_cutoff=(None if truncation_cutoff is None
                           else int(truncation_cutoff)))
    self.mapping = s1.MappingNetwork(
        self.latent_size, self.latent_size, mapping_layers,
        lr_multiplier=mapping_lr_multiplier, name="mapping")
    self.generator = s1.StyleGenerator(
        channels, self.latent_size,
        fused_min_resolution=fused_min_resolution, to_rgb_gain=to_rgb_gain,
        style_mod=style_mod, name="generator")
    self.encoder = alae_networks.StyleEncoder(
        channels, self.latent_size, last_channels=self.last_channels,
        fused_min_resolution=fused_min_resolution, name="encoder")
    self.discriminator = alae_networks.LatentDiscriminator(
        self.latent_size, d_layers, lr_multiplier=d_lr_multiplier,
        activation=d_activation, name="discriminator")
    self.truncation_psi = float(truncation_psi)
    self.truncation_cutoff = truncation_cutoff
    self.num_lods = num_blocks
    self.set_stage(lod, alpha)

  # -- the LatentAutoencoder protocol ----------------------------------------

  @property
  def code_size(self) -> int:
    return self.latent_size

  @property
  def image_size(self) -> int:
    return self.resolution

  def set_stage(self, lod: Optional[int], alpha: float = 1.0) -> None:
    """Sets the level of detail (None: the top) and fade-in factor used by
    encode / decode / generate."""
    lod = self.num_lods - 1 if lod is None else int(lod)
    if not 0 <= lod < self.num_lods:
      raise ValueError(f"lod must be in [0, {self.num_lods - 1}], got {lod}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
      raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    self.lod, self.alpha = lod, (1.0 if lod == 0 else alpha)

  def build(self, input_shape):
    del input_shape
    self.build_all()

  def build_all(self) -> None:
    """Creates every weight of the four networks."""
    self.mapping.build_all()
    self.generator.build_all()
    self.encoder.build_all()
    self.discriminator.build_all()

  def _factor(self) -> int:
    return self.resolution // s1.resolution_of(self.lod)

  def encode(self, images: tf.Tensor) -> tf.Tensor:
    """E: images `[B, R, R, 3]` float32 in [-1, 1] -> w `[B, latent]`."""
    x = s1.downsample_average(tf.convert_to_tensor(images, tf.float32),
                              self._factor())
    return self.encoder(x, lod=self.lod, alpha=self.alpha)

  def decode(self, w: tf.Tensor, noise_mode: str = "const") -> tf.Tensor:
    """G: codes `[B, latent]` (or W+ `[B, num_layers, latent]`) -> images
    `[B, R, R, 3]` float32 (about [-1, 1]; no clipping). ``noise_mode``
    ``"const"`` uses fixed noise maps, so decoding is deterministic."""
    images = self.generator(w, lod=self.lod, alpha=self.alpha,
                            noise_mode=noise_mode)
    return s1.upsample_nearest(images, self._factor())

  def truncate(self, w: tf.Tensor, psi=None) -> tf.Tensor:
    """W+ `[B, num_layers, latent]` truncated toward w̄ on the first
    ``truncation_cutoff`` layers (ψ default ``truncation_psi``)."""
    psi = self.truncation_psi if psi is None else psi
    ws = s1.broadcast_styles(w, self.generator.num_layers)
    return s1.truncate(ws, self.mapping.w_avg, psi, self.truncation_cutoff)

  def generate(self, z: tf.Tensor, truncation_psi=None,
               noise_mode: str = "const") -> tf.Tensor:
    """G(F(z)): z `[B, latent]` ~ N(0, I) -> images `[B, R, R, 3]`."""
    return self.decode(self.truncate(self.mapping(z), truncation_psi),
                       noise_mode)

  def reconstruct(self, images: tf.Tensor) -> tf.Tensor:
    """decode(encode(images)), `[B, R, R, 3]`."""
    return self.decode(self.encode(images))

  def call(self, images):
    return self.reconstruct(images)

  # -- rebuilding (codes.register_kind) --------------------------------------

  def autoencoder_config(self) -> Dict[str, object]:
    """JSON constructor arguments, the stage included."""
    return dict(self._config, lod=self.lod, alpha=self.alpha)

  @classmethod
  def from_config(cls, config: Mapping[str, object]) -> "StyleALAE":
    model = cls(**dict(config))
    model.build_all()
    return model


def load_style_alae(path: str) -> StyleALAE:
  """A frozen :class:`StyleALAE` from an autoencoder weights ``.npz``
  (:mod:`tfface.methods.latent.alae_convert` or a run's ``autoencoder.npz``)
  or an ALAE training run directory (:func:`codes.load_autoencoder`).

  Raises:
    ValueError: the file or run holds another kind of autoencoder.
  """
  model = codes_lib.load_autoencoder(path)
  if not isinstance(model, StyleALAE):
    raise ValueError(f"{path!r} holds a {type(model).__name__} autoencoder, "
                     "not StyleALAE")
  return model


# ----------------------------------------------------------------- export


class ALAEServingModule(latent_export.AutoencoderModule):
  """The ALAE export: the latent models' ``encode`` / ``decode`` plus
  ``generate``: ``z`` `[B, latent]` (prior sample ~ N(0, I)) and
  ``truncation_psi`` scalar (1 = none, 0 = w̄) -> ``{"image"}``."""

  def __init__(self, autoencoder: StyleALAE):
    super().__init__(autoencoder, method="alae")

    @v.validated_function("generate", self.signature_inputs()["generate"])
    def generate(z, truncation_psi):
      images = self.autoencoder.generate(z, truncation_psi)
      return {"image": tf.clip_by_value(images, -1.0, 1.0)}

    self.generate = generate

  def signature_inputs(self):
    inputs = super().signature_inputs()
    inputs["generate"] = (
        v.Input("z", (v.BATCH, self.code_size),
                meaning="(prior sample ~ N(0, I), mapped by F)", finite=True),
        v.Input("truncation_psi", (), meaning="(1 = none, 0 = w̄)",
                finite=True))
    return inputs

  def _outputs(self):
    outputs = super()._outputs()
    outputs["generate"] = {"image": outputs["decode"]["image"]}
    return outputs

  def _extra(self):
    extra = super()._extra()
    ae = self.autoencoder
    extra.update(lod=ae.lod, alpha=ae.alpha, code="w = E(x), ALAE's latent",
                 noise="fixed noise maps (deterministic)")
    return extra


# ----------------------------------------------------------------- method


class _LodLearningRate(tf.keras.optimizers.schedules.LearningRateSchedule):
  """The reference's per-LOD learning rate, read from the global step."""

  def __init__(self, schedule: s1.ProgressiveSchedule,
               rates: Sequence[float], global_step: tf.Variable):
    self.schedule = schedule
    self.rates = tuple(float(r) for r in rates)
    self.global_step = global_step

  def __call__(self, step):
    del step  # the optimizer's own count restarts at every LOD change
    lod, _ = self.schedule.lod_and_alpha(self.global_step)
    return tf.gather(tf.constant(self.rates, tf.float32), lod)

  def get_config(self):
    return {"rates": list(self.rates)}


def _check_phase(phase: str) -> str:
  if phase not in PHASES:
    raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
  return phase


def _per_lod(values: Sequence, num_lods: int, what: str) -> Tuple:
  values = tuple(values)
  if not values:
    raise ValueError(f"StyleALAEMethod.{what} must not be empty")
  return tuple(values[min(l, len(values) - 1)] for l in range(num_lods))


@gin.configurable
class StyleALAEMethod(progressive.ProgressiveMethod,
                      gan_training.GANMethod):
  """StyleALAE training (podgorskiy/ALAE CelebA-128 defaults).

  Args:
    resolution, latent_size, start_channels, max_channels, channels,
      mapping_layers, mapping_lr_multiplier, d_layers, d_lr_multiplier,
      d_activation, fused_min_resolution, to_rgb_gain, style_mod,
      truncation_psi, truncation_cutoff: the networks, see
      :class:`StyleALAE`.
    images_per_lod: images per LOD, fade-in included (6 epochs of CelebA).
    fade_images: images of each fade-in (3 epochs).
    lod_batch_sizes: images per step at each LOD, 4×4 first (the
      reference's 1-GPU table; a shorter list repeats its last entry). The
      global batch must hold the largest (module docstring).
    lod_learning_rates: Adam learning rate at each LOD (0.0015 everywhere
      the CelebA config reaches).
    fade: ``"sine"`` (ALAE) or ``"linear"``.
    beta_1, beta_2, epsilon: Adam (0, 0.99, 1e-8: LREQAdam's; the
      equalized-lr scaling lives in the layers, see
      :mod:`tfface.networks.stylegan1`).
    r1_gamma: R1 weight γ on the images (10; 0 reproduces the paper's own
      re-implementation, which never applies it).
    style_mixing_prob: 0.9.
    latent_ae_trains_mapping: the latent AE step also updates F (the
      reference's code) or only E and G (the paper's Algorithm 1).
    reset_optimizers_at_lod: reset Adam's state when the LOD changes.
    ema_half_life_images: the EMA's half-life in images (10 000).
    w_avg_decay: w̄'s decay per step (0.995; the reference moves it in each
      of its three ``generate`` calls per step).
    num_image_samples: images in the TensorBoard grids.
  """

  def __init__(self, resolution: int = 128, latent_size: int = 256,
               start_channels: int = 64, max_channels: int = 256,
               channels: Optional[Sequence[int]] = None,
               mapping_layers: int = 8, mapping_lr_multiplier: float = 0.1,
               d_layers: int = 3, d_lr_multiplier: float = 0.1,
               d_activation: Optional[str] = None,
               fused_min_resolution: int = 128, to_rgb_gain: float = 0.03,
               style_mod: str = "one_plus", truncation_psi: float = 0.7,
               truncation_cutoff: Optional[int] = 8,
               images_per_lod: int = 6 * CELEBA_TRAIN_IMAGES,
               fade_images: int = 3 * CELEBA_TRAIN_IMAGES,
               lod_batch_sizes: Sequence[int] = (128, 128, 128, 64, 32, 16),
               lod_learning_rates: Sequence[float] = (0.0015,),
               fade: str = "sine", beta_1: float = 0.0, beta_2: float = 0.99,
               epsilon: float = 1e-8, r1_gamma: float = 10.0,
               style_mixing_prob: float = 0.9,
               latent_ae_trains_mapping: bool = True,
               reset_optimizers_at_lod: bool = True,
               ema_half_life_images: float = 10000.0,
               w_avg_decay: float = 0.995, num_image_samples: int = 8):
    self.network_config = dict(
        resolution=resolution, latent_size=latent_size,
        channels=None if channels is None else tuple(channels),
        start_channels=start_channels, max_channels=max_channels,
        mapping_layers=mapping_layers,
        mapping_lr_multiplier=mapping_lr_multiplier, d_layers=d_layers,
        d_lr_multiplier=d_lr_multiplier, d_activation=d_activation,
        fused_min_resolution=fused_min_resolution, to_rgb_gain=to_rgb_gain,
        style_mod=style_mod, truncation_psi=truncation_psi,
        truncation_cutoff=truncation_cutoff)
    # Validates the architecture settings before anything is built.
    self.num_lods = len(architecture(resolution, channels, start_channels,
                                     max_channels))
    self.resolution = int(resolution)
    self.latent_size = int(latent_size)
    self.num_layers = 2 * self.num_lods
    self.lod_batch_sizes = tuple(int(b) for b in _per_lod(
        lod_batch_sizes, self.num_lods, "lod_batch_sizes"))
    self.lod_learning_rates = tuple(float(r) for r in _per_lod(
        lod_learning_rates, self.num_lods, "lod_learning_rates"))
    self.schedule = s1.ProgressiveSchedule(
        self.num_lods, int(images_per_lod), int(fade_images),
        self.lod_batch_sizes, fade=fade)
    if r1_gamma < 0:
      raise ValueError(f"StyleALAEMethod.r1_gamma must be >= 0, got "
                       f"{r1_gamma}")
    if not 0.0 <= style_mixing_prob <= 1.0:
      raise ValueError(f"StyleALAEMethod.style_mixing_prob must be in [0, 1], "
                       f"got {style_mixing_prob}")
    self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
    self.r1_gamma = float(r1_gamma)
    self.style_mixing_prob = float(style_mixing_prob)
    self.latent_ae_trains_mapping = bool(latent_ae_trains_mapping)
    self.reset_optimizers_at_lod = bool(reset_optimizers_at_lod)
    self.ema_half_life_images = float(ema_half_life_images)
    self.w_avg_decay = float(w_avg_decay)
    self.num_image_samples = int(num_image_samples)
    self.seed = 0

  # -- construction ---------------------------------------------------------

  def build(self) -> None:
    self.model = StyleALAE(**self.network_config, name="alae")
    self.model.build_all()
    self.model_ema = StyleALAE(**self.network_config, name="alae_ema")
    self.model_ema.build_all()
    self.mapping = self.model.mapping
    self.generator = self.model.generator
    self.encoder = self.model.encoder
    self.discriminator = self.model.discriminator
    if not hasattr(self, "global_step"):  # built outside the runtime
      self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False,
                                     name="global_step")
    self.ema_decay = tf.Variable(self.ema_decay_of(0), trainable=False,
                                 name="ema_decay")
    # WeightEMA reads its decay at every update, so a variable works: it is
    # set from the LOD's batch size before each update (after_step).
    self.ema = self.make_ema(self.model, self.model_ema, self.ema_decay)

    def adam(name, variables):
      rate = _LodLearningRate(self.schedule, self.lod_learning_rates,
                              self.global_step)
      optimizer = tf.keras.optimizers.Adam(rate, beta_1=self.beta_1,
                                           beta_2=self.beta_2,
                                           epsilon=self.epsilon, name=name)
      optimizer.build(variables)
      return optimizer

    # Two optimizers, as the reference: E + D and F + G.
    self.encoder_optimizer = adam(
        "encoder_optimizer", self.encoder.trainable_variables +
        self.discriminator.trainable_variables)
    self.decoder_optimizer = adam(
        "decoder_optimizer", self.generator.trainable_variables +
        self.mapping.trainable_variables)
    self.sample_images = tf.Variable(
        tf.zeros([self.num_image_samples, self.resolution, self.resolution,
                  3]), trainable=False, name="sample_images",
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    rng = np.random.default_rng(int(self.seed) + 4321)
    self.sample_z = tf.constant(rng.standard_normal(
        [self.num_image_samples, self.latent_size]), tf.float32)

  def checkpoint_items(self) -> Dict[str, tf.Module]:
    return {"alae": self.model, "alae_ema": self.model_ema,
            "encoder_optimizer": self.encoder_optimizer,
            "decoder_optimizer": self.decoder_optimizer}

  # -- helpers ------------------------------------------------------------------

  def _seed(self, salt: int) -> tf.Tensor:
    return training.step_seed(self.seed, self.global_step, salt)

  def _mixed(self, w1, w2, lod, seed):
    cutoff = s1.mixing_cutoff(seed, self.style_mixing_prob, 2 * (lod + 1),
                              self.num_layers)
    return s1.mix_styles(w1, w2, cutoff, self.num_layers)

  def _latents(self, batch_size: int, seed: tf.Tensor, count: int):
    seeds = tf.random.experimental.stateless_split(seed, count)
    return [tf.random.stateless_normal([batch_size, self.latent_size], s)
            for s in tf.unstack(seeds)]

  def _sub_seeds(self, seed):
    """Two more seeds of a phase (style mixing, noise), apart from its z's."""
    return tf.unstack(tf.random.experimental.stateless_split(
        tf.random.experimental.stateless_fold_in(seed, 99), 2))

  def _critic(self, images, lod, alpha):
    return self.discriminator(self.encoder(images, lod=lod, alpha=alpha))

  # -- the three phases -----------------------------------------------------------

  def phase_losses(self, phase: str, real: tf.Tensor, lod: int,
                   alpha) -> Dict[str, tf.Tensor]:
    """The losses of one phase at a Python ``lod`` (its forward pass).

    Args:
      phase: one of :data:`PHASES`.
      real: this replica's batch `[B, R, R, 3]` (the D step uses the first
        ``lod_batch_sizes[lod] / replicas`` of them; the others only its
        size).
      lod: Python int.
      alpha: fade-in factor (float or scalar tensor).

    Returns:
      ``discriminator``: ``d_total`` (optimized), ``d_gan``, ``d_r1``,
      ``d_real_score``, ``d_fake_score``; ``generator``: ``g_gan``
      (optimized) and ``w_mean`` `[W]` (for w̄); ``autoencoder``:
      ``ae_latent`` (optimized). Randomness is stateless, from the global
      step.
    """
    available = int(real.shape[0])
    n = self.replica_batch(lod, available)
    seed = self._seed({"discriminator": _SALT_D, "generator": _SALT_G,
                       "autoencoder": _SALT_AE}[_check_phase(phase)])
    z1, z2 = self._latents(n, seed, 2)
    mix_seed, noise_seed = self._sub_seeds(seed)

    def generate(w):
      return self.generator(w, lod=lod, alpha=alpha, noise_mode="random",
                            noise_seed=noise_seed)

    if phase == "discriminator":
      w1, w2 = self.mapping(z1), self.mapping(z2)
      fake = tf.stop_gradient(generate(self._mixed(w1, w2, lod, mix_seed)))
      x = self.images_at_lod(real[:n], lod, alpha)
      critic = functools.partial(self._critic, lod=lod, alpha=alpha)
      return gan_training.discriminator_losses(critic, x, fake,
                                               self.r1_gamma)
    if phase == "generator":
      w1, w2 = self.mapping(z1), self.mapping(z2)
      fake = generate(self._mixed(w1, w2, lod, mix_seed))
      logits = self._critic(fake, lod, alpha)
      return {"g_gan": gan_losses.generator_loss("non_saturating", logits),
              "w_mean": tf.reduce_mean(w1, axis=0)}
    w = self.mapping(z1)  # no mixing in the latent AE step
    w_rec = self.encoder(generate(w), lod=lod, alpha=alpha)
    return {"ae_latent": tf.reduce_mean(tf.square(w_rec -
                                                  tf.stop_gradient(w)))}

  def phase_updates(self, phase: str
                    ) -> List[Tuple[tf.keras.optimizers.Optimizer, list]]:
    """``(optimizer, variables)`` pairs a phase updates (module docstring)."""
    e, d = self.encoder, self.discriminator
    f, g = self.mapping, self.generator
    if _check_phase(phase) == "discriminator":
      return [(self.encoder_optimizer,
               e.trainable_variables + d.trainable_variables)]
    if phase == "generator":
      return [(self.decoder_optimizer,
               g.trainable_variables + f.trainable_variables)]
    decoder = g.trainable_variables
    if self.latent_ae_trains_mapping:
      decoder = decoder + f.trainable_variables
    return [(self.encoder_optimizer, e.trainable_variables),
            (self.decoder_optimizer, decoder)]

  def run_phase(self, phase: str, real: tf.Tensor, lod,
                alpha) -> Dict[str, tf.Tensor]:
    """One phase: its losses and gradients at ``lod`` (a Python int, or a
    tensor: ``tf.switch_case`` over the LODs), then its optimizer steps.

    The gradients are taken inside each branch and the updates applied
    outside the switch: differentiating through the switch instead makes
    TensorFlow rewrite every branch for its gradient (minutes of tracing),
    and optimizer steps inside a replica-side switch cannot synchronize
    replicas. Variables a branch does not use get zero gradients, which
    leave them unchanged under Adam with β1 = 0.

    Returns:
      The phase's losses (without ``w_mean``).
    """
    updates = self.phase_updates(phase)
    variables = [var for _, group in updates for var in group]
    key = OPTIMIZED_LOSS[phase]

    def branch(l):
      with tf.GradientTape() as tape:
        losses = self.phase_losses(phase, real, l, alpha)
      scale = tf.constant(gradients.replica_loss_scale(), tf.float32)
      grads = tape.gradient(losses[key], variables, output_gradients=scale)
      return losses, [tf.zeros_like(var) if grad is None else grad
                      for grad, var in zip(grads, variables)]

    losses, grads = self.dispatch_lod(lod, branch)
    start = 0
    for optimizer, group in updates:
      optimizer.apply_gradients(zip(grads[start:start + len(group)], group))
      start += len(group)
    losses = dict(losses)
    if "w_mean" in losses:
      self.mapping.update_w_avg(losses.pop("w_mean")[None],
                                self.w_avg_decay)
    return losses

  def train_step(self, batch) -> Dict[str, tf.Tensor]:
    real = batch["image"]
    if real.shape[1] != self.resolution or real.shape[2] != self.resolution:
      raise ValueError(f"StyleALAEMethod.resolution is {self.resolution} but "
                       f"the dataset yields {real.shape[1]}x{real.shape[2]} "
                       "images")
    for l in range(self.num_lods):  # fail at trace time, before any update
      self.replica_batch(l, int(real.shape[0]))
    lod, alpha = self.schedule.lod_and_alpha(self.global_step)
    losses = {}
    for phase in PHASES:  # the reference's order
      losses.update(self.run_phase(phase, real, lod, alpha))
    n = min(self.num_image_samples, int(real.shape[0]))
    self.sample_images.assign(tf.concat(
        [real[:n], self.sample_images[n:]], axis=0))
    losses["lod"] = tf.cast(lod, tf.float32)
    losses["alpha"] = alpha
    return losses

  def after_step(self) -> None:
    lod, _ = self.schedule.lod_and_alpha(self.global_step)
    batch = tf.cast(tf.gather(tf.constant(self.lod_batch_sizes), lod),
                    tf.float32)
    self.ema_decay.assign(tf.pow(0.5, batch / self.ema_half_life_images))
    super().after_step()
    if self.reset_optimizers_at_lod and self.num_lods > 1:
      # The next step starts a new LOD: fresh Adam state (iterations too,
      # so the bias correction restarts), as lod_driver.py L110-111.
      starts = tf.constant(self.schedule.start_steps[1:], tf.int64)
      fresh = tf.reduce_any(tf.equal(self.global_step + 1, starts))
      for optimizer in (self.encoder_optimizer, self.decoder_optimizer):
        for variable in optimizer.variables:
          variable.assign(tf.where(fresh, tf.zeros_like(variable), variable))

  # -- inspection and export ------------------------------------------------------

  def autoencoder(self) -> StyleALAE:
    """The EMA networks at the current LOD, as a LatentAutoencoder."""
    self.model_ema.set_stage(*self.lod_and_alpha_at())
    return self.model_ema

  def encode(self, images: tf.Tensor) -> tf.Tensor:
    """:meth:`StyleALAE.encode` of :meth:`autoencoder`."""
    return self.autoencoder().encode(images)

  def decode(self, w: tf.Tensor) -> tf.Tensor:
    """:meth:`StyleALAE.decode` of :meth:`autoencoder`."""
    return self.autoencoder().decode(w)

  def generate(self, z: tf.Tensor, truncation_psi=None) -> tf.Tensor:
    """:meth:`StyleALAE.generate` of :meth:`autoencoder`."""
    return self.autoencoder().generate(z, truncation_psi)

  @property
  def code_size(self) -> int:
    return self.latent_size

  def image_summaries(self) -> Dict[str, tf.Tensor]:
    ae = self.autoencoder()
    reals = tf.convert_to_tensor(self.sample_images)
    clip = functools.partial(tf.clip_by_value, clip_value_min=-1.0,
                             clip_value_max=1.0)
    return {"samples": clip(ae.generate(self.sample_z, 1.0)),
            "samples_psi0.7": clip(ae.generate(self.sample_z)),
            "reals_and_reconstructions": clip(tf.concat(
                [reals, ae.reconstruct(reals)], axis=0))}

  def export_signatures(self):
    module = ALAEServingModule(self.autoencoder())
    return module, module.signatures()


def reconstruction_grid(autoencoder, images: np.ndarray,
                        z: Optional[np.ndarray] = None,
                        truncation_psi: float = 0.7) -> np.ndarray:
  """A uint8 picture: a row of inputs, a row of reconstructions and, with
  ``z``, a row of samples.

  Args:
    autoencoder: a :class:`StyleALAE` (or any LatentAutoencoder; samples need
      ``generate``).
    images: `[N, R, R, 3]` float in [-1, 1].
    z: `[N, latent]` prior samples, or None.
    truncation_psi: ψ of the samples.

  Returns:
    `[rows·R, N·R, 3]` uint8.
  """
  images = np.asarray(images, np.float32)
  rows = [images, autoencoder.decode(autoencoder.encode(images)).numpy()]
  if z is not None:
    rows.append(autoencoder.generate(np.asarray(z, np.float32),
                                     truncation_psi).numpy())
  grid = np.concatenate([np.concatenate(list(r), axis=1) for r in rows],
                        axis=0)
  return np.round((np.clip(grid, -1, 1) + 1) * 127.5).astype(np.uint8)
