"""DiscoFaceGAN training on the shared runtime (reference notes §3.2-3.4).

One step (the reference's ``training_loop.py`` with D_repeats 1):

1. **D**: λ from the frozen VAE decoders (z ~ N(0, I) per factor), ε ~ N(0,
   I_32); fakes G([λ, ε]) detached; logistic D loss with **R1 γ = 10** on
   the reals (eager, every step, as StyleGAN v1's ``D_logistic_simplegp``).
2. **G**: non-saturating loss plus the imitative terms
   (:class:`tfface.losses.imitative.ImitativeLoss`) through
   :meth:`extra_generator_losses`, the GAN skeleton's generator hook:
   the render of the same λ (rendered once per step at the top resolution
   with no gradient — in the reference the VAE outputs are stop-gradient
   and the renders pure targets — and average-pooled to the LOD's size,
   blended during a fade-in exactly as the reals), L_pix at <= 32 px, the
   landmark / SH / identity / skin terms above. In **stage 2** also the
   contrastive terms on one expression pair and one lighting pair per
   replica (§3.4, part A's ``expression_warp_loss`` and
   ``illumination_change_loss``), at the top LOD only (the reference
   renders them at 256, not progressively; stage 2 resumes a grown model),
   with w_lm = 100.
3. EMA of G (half-life 10k images) after the step.

**Progressive growing** as StyleGAN v1 / the reference: a
:class:`~tfface.networks.stylegan1.ProgressiveSchedule` from 8×8
(``start_lod = 1``), 600k images per LOD and 600k of linear fade-in; per-LOD
batch sizes (the global batch holds the largest; LOD l trains on the first
``lod_batch_sizes[l]``, as :mod:`tfface.methods.latent.alae`), per-LOD
learning rates, Adam state reset at every LOD change. The LOD is a tensor in
the compiled step: each phase computes its losses and gradients in a
``tf.switch_case`` branch per LOD and applies them outside the switch (the
only place a distribution strategy allows updates; differentiating through
the switch would make TensorFlow rewrite every branch).

**Frozen nets** (never trained): the VAE decoders, the reconstruction net
(landmarks and SH of G's images), the identity net, the face parser (stage 2
hair term). The renderer draws the λ layout's face model with the real
domain's camera (tfface's data camera, zoom 0.75, for the procedural model;
the reference's f = 1015·1.22 camera for BFM).
"""

import functools
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import gin
import numpy as np
import tensorflow as tf

from tfface import training
from tfface.losses import gan as gan_losses
from tfface.losses import imitative
from tfface.methods.discofacegan import generator as generator_lib
from tfface.methods.discofacegan import lambda_space as ls
from tfface.methods.discofacegan import vae_method
from tfface.networks import stylegan1 as s1
from tfface.training import gan as gan_training
from tfface.training import gradients
from tfface.training import progressive

_SALT_D, _SALT_G, _SALT_C = 21, 22, 23
STAGES = (1, 2)
# The reference's GAN-space camera: f = 1015·1.22 at 256 px vs Deep3DFace
# Recon's 1015 at 224, i.e. tfface's deep3d camera with focal × 1.22·224/256.
BFM_CAMERA_ZOOM = 1.22 * 224.0 / 256.0


class _LodRate(tf.keras.optimizers.schedules.LearningRateSchedule):
  """The per-LOD learning rate, read from the global step."""

  def __init__(self, schedule, rates, global_step):
    self.schedule, self.rates, self.global_step = schedule, rates, global_step

  def __call__(self, step):
    del step  # the optimizer's own count restarts at every LOD change
    lod, _ = self.schedule.lod_and_alpha(self.global_step)
    return tf.gather(tf.constant(self.rates, tf.float32), lod)

  def get_config(self):
    return {"rates": list(self.rates)}


def _per_lod(values, num_lods: int, what: str):
  values = tuple(values)
  if not values:
    raise ValueError(f"DiscoFaceGANMethod.{what} must not be empty")
  return tuple(values[min(l, len(values) - 1)] for l in range(num_lods))


def load_frozen(net):
  """A frozen analysis net from a tfface weights file (or the net itself)."""
  if net is None or not isinstance(net, str):
    return net
  if not net:
    return None
  from tfface.analysis import weights  # pylint: disable=g-import-not-at-top
  return weights.load_network(net)


def make_face_model(layout: str, bfm_path: str = "", mesh_resolution: int = 2):
  """The λ layout's face model (procedural, or BFM from ``bfm_path``)."""
  if layout == "procedural":
    from tfface.analysis import reconstruction  # pylint: disable=g-import-not-at-top
    return reconstruction.procedural_model(mesh_resolution)
  if not bfm_path:
    raise ValueError("DiscoFaceGANMethod.layout = 'bfm' needs bfm_path, the "
                     "user's BFM_model_front.mat")
  from tfface.rendering import bfm  # pylint: disable=g-import-not-at-top
  return bfm.BfmFaceModel(bfm_path)


def make_renderer(model, resolution: int, zoom: float):
  from tfface.analysis import reconstruction  # pylint: disable=g-import-not-at-top
  from tfface.rendering import face_renderer  # pylint: disable=g-import-not-at-top
  return face_renderer.FaceRenderer(
      model, int(resolution), camera=reconstruction.dataset_camera(
          int(resolution), zoom), background=-1.0, enable_cull_face=True)


def reconstruction_fn(net, face_model=None):
  """images -> dict with ``sh`` `[B, 27]`, ``landmarks`` `[B, 68, 2]`
  (pixels of the input) and the other groups, from a frozen reconstruction
  net (procedural layout; bfm257 with its BfmFaceModel)."""
  if net is None:
    return None

  def run(images):
    out = dict(net(images, training=False))
    if "landmarks" not in out:
      out["landmarks"] = net.mesh_landmarks(out, tf.shape(images)[1:3],
                                            face_model)
    return out
  return run


def identity_fn(net):
  if net is None:
    return None
  return lambda images: net(images, training=False)


def make_vaes(vaes, layout: ls.LambdaLayout, z_sizes=None):
  """The λ VAEs: an object with ``decode``, a path of part A's converted /
  trained VAEs, or None for the fixed Gaussian stand-in
  (:class:`~tfface.methods.discofacegan.lambda_space.GaussianVAEs`)."""
  if vaes is None or vaes == "":
    sizes = dict(z_sizes or {"identity": min(128, layout.factor_sizes[
        "identity"]), "expression": min(32, layout.factor_sizes["expression"]),
                              "sh": 16, "pose": 3})
    return ls.GaussianVAEs(layout, sizes)
  if isinstance(vaes, str):
    # A run directory is read through vae_method, imported at the top of this
    # module so its gin configurables exist before the config is locked.
    return vae_method.vae_lib.load_factor_vaes(vaes)  # frozen
  return vaes


def input_standardization(vaes, layout: ls.LambdaLayout
                          ) -> Tuple[np.ndarray, np.ndarray]:
  """The generator's ``[λ, ε]`` shift and scale `[input_dim]` from the λ
  VAEs' per-dimension standardization (their training table's mean and std,
  :meth:`~tfface.methods.discofacegan.vae.FactorVAE.set_standardization`);
  0 and 1 for ε, for factors whose VAE keeps none (converted checkpoints:
  the reference) and for the Gaussian stand-in. See
  :meth:`~tfface.methods.discofacegan.generator.DiscoFaceGenerator.set_input_standardization`
  for why."""
  shift = np.zeros([layout.input_dim], np.float32)
  scale = np.ones([layout.input_dim], np.float32)
  for name in getattr(vaes, "factors", ()):
    factor = ls.factor_name(name)
    vae = vaes[name]
    groups = vaes.factor_groups(name)
    if groups != tuple(layout.groups[factor]):
      raise ValueError(f"the {name} VAE models groups {groups}, the "
                       f"{layout.layout} layout's {factor} is "
                       f"{layout.groups[factor]}")
    a, b = layout.slices[factor]
    shift[a:b] = vae.x_shift.numpy()
    scale[a:b] = vae.x_scale.numpy()
  return shift, scale


@gin.configurable
class DiscoFaceGANMethod(progressive.ProgressiveMethod,
                         gan_training.GANMethod):
  """DiscoFaceGAN (stage 1: imitative; stage 2: + contrastive).

  Args:
    resolution: output size R.
    layout: λ layout, ``"procedural"`` or ``"bfm"`` (needs ``bfm_path``).
    bfm_path: ``BFM_model_front.mat`` for the BFM layout.
    mesh_resolution: the procedural model's mesh resolution (that of the
      reconstruction net's coefficients, 2).
    camera_zoom: the render camera's focal multiplier (None: 0.75 for the
      procedural layout, tfface's data camera; 1.0675 for BFM, the
      reference's).
    render_region: the face-model region the imitative losses see (the
      reference's ``gan_mask``; ``face`` of the procedural model).
    noise_dim: size of ε (32).
    vaes: part A's VAEs: a path, an object with ``decode``, or None for a
      fixed Gaussian stand-in (tests, smoke runs).
    vae_z_sizes: z sizes of the stand-in.
    reconstruction, identity, parser: frozen nets, tfface weights files
      (``tools/convert_weights.py`` output, the pretrained bundle) or nets;
      "" / None: the term is off.
    w_dim, mapping_layers, mapping_lr_multiplier, synthesis, fmap_base,
      fmap_max, fused_min_resolution, stylegan2_divisor: the generator
      (:class:`~tfface.methods.discofacegan.generator.DiscoFaceGenerator`).
    d_fmap_base, d_fmap_max: D's channel table (default G's).
    mbstd_group: D's minibatch-stddev group (4).
    start_lod: first LOD (1 = 8×8, the reference).
    images_per_lod, fade_images, first_lod_images: the progressive schedule
      in images (reference: 600k + 600k).
    lod_batch_sizes, lod_learning_rates: per-LOD tables, 4×4 first (a
      shorter list repeats its last entry).
    beta_1, beta_2, epsilon: Adam (0, 0.99, 1e-8).
    r1_gamma: 10.
    stage: 1 (imitative) or 2 (+ contrastive, top LOD).
    imitative_weights: dict term -> weight (20 / 500 / 10 / 3 / 20, and 0
      for tfface's expression term; stage 2
      uses landmarks 100 unless given); all 0 = the adversarial-only
      ablation.
    pixel_max_resolution: L_pix alone up to this resolution (32).
    identity_margin: 0.3.
    exp_warp_weight, gamma_change_weight: stage-2 weights (10, 10).
    contrastive_pairs: expression and lighting pairs per replica (1).
    ema_half_life_images: 10 000.
    reset_optimizers_at_lod: reset Adam at LOD changes.
    num_image_samples: images in the TensorBoard grids.
  """

  def __init__(self, resolution: int = 256, layout: str = "procedural",
               bfm_path: str = "", mesh_resolution: int = 2,
               camera_zoom: Optional[float] = None,
               render_region: str = "face",
               noise_dim: int = ls.NOISE_DIM, vaes=None,
               vae_z_sizes: Optional[Mapping[str, int]] = None,
               reconstruction: Union[str, object, None] = "",
               identity: Union[str, object, None] = "",
               parser: Union[str, object, None] = "",
               w_dim: int = 512, mapping_layers: int = 8,
               mapping_lr_multiplier: float = 0.01,
               synthesis: str = "stylegan1", fmap_base: int = 8192,
               fmap_max: int = 512, fused_min_resolution: int = 128,
               stylegan2_divisor: int = 1,
               d_fmap_base: Optional[int] = None,
               d_fmap_max: Optional[int] = None, mbstd_group: int = 4,
               start_lod: int = 1, images_per_lod: int = 1_200_000,
               fade_images: int = 600_000,
               first_lod_images: Optional[int] = 600_000,
               lod_batch_sizes: Sequence[int] = (256, 256, 128, 64, 32, 16,
                                                 16),
               lod_learning_rates: Sequence[float] = (
                   0.001, 0.001, 0.001, 0.001, 0.001, 0.0015, 0.002),
               beta_1: float = 0.0, beta_2: float = 0.99,
               epsilon: float = 1e-8, r1_gamma: float = 10.0,
               stage: int = 1,
               imitative_weights: Optional[Mapping[str, float]] = None,
               pixel_max_resolution: int = 32, identity_margin: float = 0.3,
               exp_warp_weight: float = 10.0,
               gamma_change_weight: float = 10.0, contrastive_pairs: int = 1,
               ema_half_life_images: float = 10000.0,
               reset_optimizers_at_lod: bool = True,
               num_image_samples: int = 8):
    if int(stage) not in STAGES:
      raise ValueError(f"DiscoFaceGANMethod.stage must be 1 or 2, got {stage}")
    self.layout = ls.LambdaLayout(layout, noise_dim)
    self.resolution = int(resolution)
    self.generator_config = dict(
        input_dim=self.layout.input_dim, resolution=resolution, w_dim=w_dim,
        mapping_layers=mapping_layers,
        mapping_lr_multiplier=mapping_lr_multiplier, synthesis=synthesis,
        fmap_base=fmap_base, fmap_max=fmap_max,
        fused_min_resolution=fused_min_resolution,
        stylegan2_divisor=stylegan2_divisor)
    self.discriminator_config = dict(
        resolution=resolution, fmap_base=d_fmap_base or fmap_base,
        fmap_max=d_fmap_max or fmap_max, mbstd_group=mbstd_group,
        fused_min_resolution=fused_min_resolution)
    self.num_lods = generator_lib._log2(resolution) - 1  # pylint: disable=protected-access
    self.lod_batch_sizes = tuple(int(b) for b in _per_lod(
        lod_batch_sizes, self.num_lods, "lod_batch_sizes"))
    self.lod_learning_rates = tuple(float(r) for r in _per_lod(
        lod_learning_rates, self.num_lods, "lod_learning_rates"))
    self.schedule = s1.ProgressiveSchedule(
        self.num_lods, int(images_per_lod), int(fade_images),
        self.lod_batch_sizes, fade="linear", start_lod=int(start_lod),
        first_lod_images=first_lod_images)
    if r1_gamma < 0:
      raise ValueError(f"DiscoFaceGANMethod.r1_gamma must be >= 0, got "
                       f"{r1_gamma}")
    self.layout_name, self.bfm_path = layout, bfm_path
    self.mesh_resolution = int(mesh_resolution)
    self.render_region = str(render_region)
    self.camera_zoom = float(camera_zoom if camera_zoom is not None else (
        0.75 if layout == "procedural" else BFM_CAMERA_ZOOM))
    self._vaes, self.vae_z_sizes = vaes, vae_z_sizes
    self._nets = {"reconstruction": reconstruction, "identity": identity,
                  "parser": parser}
    self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
    self.r1_gamma = float(r1_gamma)
    self.stage = int(stage)
    weights = dict(imitative_weights or {})
    if self.stage == 2:
      weights.setdefault("landmarks", 100.0)
    self.imitative_weights = weights
    self.pixel_max_resolution = int(pixel_max_resolution)
    self.identity_margin = float(identity_margin)
    self.exp_warp_weight = float(exp_warp_weight)
    self.gamma_change_weight = float(gamma_change_weight)
    self.contrastive_pairs = int(contrastive_pairs)
    self.ema_half_life_images = float(ema_half_life_images)
    self.reset_optimizers_at_lod = bool(reset_optimizers_at_lod)
    self.num_image_samples = int(num_image_samples)
    self.seed = 0

  # -- construction ---------------------------------------------------------

  def build(self) -> None:
    self.face_model = make_face_model(self.layout_name, self.bfm_path,
                                      self.mesh_resolution)
    self.renderer = make_renderer(self.face_model, self.resolution,
                                  self.camera_zoom)
    self.vaes = make_vaes(self._vaes, self.layout, self.vae_z_sizes)
    self.sampler = ls.LambdaSampler(self.vaes, self.layout)
    self.reconstruction_net = load_frozen(self._nets["reconstruction"])
    self.identity_net = load_frozen(self._nets["identity"])
    self.parser_net = load_frozen(self._nets["parser"])
    for net in (self.reconstruction_net, self.identity_net, self.parser_net):
      if net is not None:
        net.trainable = False
    bfm_model = None if self.layout_name == "procedural" else self.face_model
    self.reconstruct = reconstruction_fn(self.reconstruction_net, bfm_model)
    self.imitative = imitative.ImitativeLoss(
        self.reconstruct, identity_fn(self.identity_net),
        self.imitative_weights, self.identity_margin,
        self.pixel_max_resolution)
    self.generator = generator_lib.DiscoFaceGenerator(
        **self.generator_config, name="generator")
    self.generator.build_all()
    self.generator_ema = generator_lib.DiscoFaceGenerator(
        **self.generator_config, name="generator_ema")
    self.generator_ema.build_all()
    shift, scale = input_standardization(self.vaes, self.layout)
    for g in (self.generator, self.generator_ema):
      g.set_input_standardization(shift, scale)
    self.discriminator = generator_lib.ProgressiveDiscriminator(
        **self.discriminator_config, name="discriminator")
    self.discriminator.build_all()
    if not hasattr(self, "global_step"):  # built outside the runtime
      self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False,
                                     name="global_step")
    self.ema_decay = tf.Variable(self.ema_decay_of(self.schedule.start_lod),
                                 trainable=False, name="ema_decay")
    self.make_ema(self.generator, self.generator_ema, self.ema_decay)

    def adam(name, variables):
      optimizer = tf.keras.optimizers.Adam(
          _LodRate(self.schedule, self.lod_learning_rates, self.global_step),
          beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
          name=name)
      optimizer.build(variables)
      return optimizer

    self.g_optimizer = adam("g_optimizer",
                            self.generator.trainable_variables)
    self.d_optimizer = adam("d_optimizer",
                            self.discriminator.trainable_variables)
    rng = np.random.default_rng(int(self.seed) + 977)
    n = self.num_image_samples
    self.sample_z = {f: tf.constant(rng.standard_normal([n, k]), tf.float32)
                     for f, k in self.sampler.z_sizes.items()}
    self.sample_noise = tf.constant(
        rng.standard_normal([n, self.layout.noise_dim]), tf.float32)

  def checkpoint_items(self) -> Dict[str, tf.Module]:
    return {"generator": self.generator, "generator_ema": self.generator_ema,
            "discriminator": self.discriminator,
            "g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}

  # -- helpers --------------------------------------------------------------

  def _seed(self, salt: int) -> tf.Tensor:
    return training.step_seed(self.seed, self.global_step, salt)

  def render(self, lam: tf.Tensor) -> Dict[str, tf.Tensor]:
    """The render of λ at R px (no gradient): image, mask, landmarks.

    As the reference draws only its ``gan_mask`` face region, the mask is
    the render's foreground within ``render_region`` (the procedural
    model's ``face``; the whole mesh when the model has no such region) and
    the image is −1 outside it: hair, neck and background are left to ε.
    """
    out = self.renderer.render(self.layout.render_parameters(
        tf.stop_gradient(lam), self.renderer))
    mask = out["mask"]
    region = out["regions"].get(self.render_region)
    if region is not None:
      mask = mask * tf.cast(region > 0.5, tf.float32)
    image = imitative.masked_face(out["image"], mask)
    return {"image": tf.stop_gradient(image), "mask": tf.stop_gradient(mask),
            "landmarks": tf.stop_gradient(out["landmarks"])}

  def generator_inputs(self, lam, noise) -> tf.Tensor:
    return self.layout.with_noise(lam, noise)

  # -- the generator hook -----------------------------------------------------

  def extra_generator_losses(self, batch, generated: Mapping[str, tf.Tensor]
                             ) -> Dict[str, tf.Tensor]:
    """The imitative terms (inside G's tape).

    ``generated``: ``images`` `[B, r, r, 3]`, ``lod`` (Python int),
    ``alpha``, ``render`` (:meth:`render` at R px of ``lambda``), ``lambda``
    `[B, lambda_dim]`.
    """
    del batch
    render = generated["render"]
    if render is None:  # no imitative term is weighted (the ablation)
      return {}
    lod, alpha = generated["lod"], generated["alpha"]
    size = s1.resolution_of(lod)
    image = self.images_at_lod(render["image"], lod, alpha)
    mask = self.images_at_lod(render["mask"], lod, alpha)
    landmarks = render["landmarks"] * (size / float(self.resolution))
    parts = self.layout.split(generated["lambda"])
    return self.imitative(generated["images"], image, mask, landmarks,
                          parts["sh"], resolution=size,
                          target_expression=parts["expression"])

  # -- stage 2 -----------------------------------------------------------------

  def contrastive_inputs(self, seed: tf.Tensor, pairs: int):
    """One expression pair and one lighting pair per ``pairs`` (§3.4).

    Returns:
      ``(inputs [4·pairs, input_dim], lambdas [4·pairs, lambda_dim])`` in the
      order exp_1, exp_2, light_3, light_4 (each block ``pairs`` rows): the
      first two differ only in z_exp, the last two only in z_sh.
    """
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    z_a, _, noise_a = self.sampler.sample(pairs, seeds[0])
    z_b, _, noise_b = self.sampler.sample(pairs, seeds[1])
    z_exp = self.sampler.sample_z(pairs, seeds[2])["expression"]
    z_sh = self.sampler.sample_z(pairs, seeds[3])["sh"]
    zs = [z_a, dict(z_a, expression=z_exp), z_b, dict(z_b, sh=z_sh)]
    noises = [noise_a, noise_a, noise_b, noise_b]
    lams = [self.sampler.decode(z) for z in zs]
    lam = tf.concat(lams, axis=0)
    return self.generator_inputs(lam, tf.concat(noises, axis=0)), lam

  def contrastive_losses(self, images: tf.Tensor, lam: tf.Tensor,
                         pairs: int) -> Dict[str, tf.Tensor]:
    """10·L_exp_warp + 10·L_gamma_change with part A's functions."""
    from tfface.losses import contrastive  # pylint: disable=g-import-not-at-top
    from tfface.methods.discofacegan import flow  # pylint: disable=g-import-not-at-top
    fake = tf.split(images, 4, axis=0)
    lams = tf.split(lam, 4, axis=0)
    params = [self.layout.render_parameters(l, self.renderer) for l in lams]
    region = (self.render_region if self.render_region in
              self.face_model.region_weights() else None)
    flow_map, mask_1, mask_2 = flow.render_expression_flow(
        self.renderer, params[0], params[1], region=region)
    out = {}
    if self.exp_warp_weight:
      out["contrastive_exp_warp"] = self.exp_warp_weight * (
          contrastive.expression_warp_loss(fake[0], fake[1], flow_map,
                                           mask_1, mask_2))
    if self.gamma_change_weight:
      if (self.reconstruct is None or self.identity_net is None or
          self.parser_net is None):
        raise ValueError("stage 2 needs DiscoFaceGANMethod.reconstruction, "
                         "identity and parser (the illumination-change "
                         "loss's hair, identity and landmark terms)")
      terms = contrastive.illumination_change_loss(
          fake[2], fake[3],
          contrastive.parser_hair_probability(self.parser_net),
          contrastive.identity_embedding(self.identity_net),
          lambda x: self.reconstruct(x)["landmarks"])
      out["contrastive_gamma_change"] = self.gamma_change_weight * terms[
          "total"]
    return out

  # -- one step ---------------------------------------------------------------

  def _phase(self, variables, loss_key, fn, lod):
    def branch(l):
      with tf.GradientTape() as tape:
        losses = fn(l)
      scale = tf.constant(gradients.replica_loss_scale(), tf.float32)
      grads = tape.gradient(losses[loss_key], variables,
                            output_gradients=scale)
      return losses, [tf.zeros_like(v) if g is None else g
                      for g, v in zip(grads, variables)]
    return self.dispatch_lod(lod, branch)

  def discriminator_losses(self, real, lod: int, alpha, n: int
                           ) -> Dict[str, tf.Tensor]:
    """D's losses at a Python LOD (``d_total`` optimized)."""
    seed = self._seed(_SALT_D)
    _, lam, noise = self.sampler.sample(n, seed)
    noise_seed = tf.random.experimental.stateless_fold_in(seed, 5)
    fake = tf.stop_gradient(self.generator(
        self.generator_inputs(lam, noise), lod=lod, alpha=alpha,
        noise_seed=noise_seed))
    x = self.images_at_lod(real[:n], lod, alpha)
    critic = functools.partial(self.discriminator, lod=lod, alpha=alpha)
    return gan_training.discriminator_losses(critic, x, fake, self.r1_gamma)

  def generator_losses(self, batch, lod: int, alpha, n: int,
                       render: Optional[Mapping[str, tf.Tensor]], lam, noise
                       ) -> Dict[str, tf.Tensor]:
    """G's weighted terms at a Python LOD (``g_total`` optimized)."""
    seed = self._seed(_SALT_G)
    noise_seed = tf.random.experimental.stateless_fold_in(seed, 5)
    images = self.generator(self.generator_inputs(lam, noise), lod=lod,
                            alpha=alpha, noise_seed=noise_seed)
    logits = self.discriminator(images, lod=lod, alpha=alpha)
    terms = {"g_gan": gan_losses.generator_loss("non_saturating", logits)}
    terms.update(self.extra_generator_losses(
        batch, {"images": images, "lod": lod, "alpha": alpha,
                "render": render, "lambda": lam}))
    if self.stage == 2 and lod == self.num_lods - 1:
      pairs = self.contrastive_pairs
      inputs, c_lam = self.contrastive_inputs(self._seed(_SALT_C), pairs)
      c_images = self.generator(inputs, lod=lod, alpha=alpha,
                                noise_seed=noise_seed)
      c_logits = self.discriminator(c_images, lod=lod, alpha=alpha)
      terms["g_gan_contrastive"] = gan_losses.generator_loss(
          "non_saturating", c_logits)
      terms.update(self.contrastive_losses(c_images, c_lam, pairs))
    terms["g_total"] = tf.add_n(list(terms.values()))
    # Every LOD branch of the switch must return the same keys.
    for key in self.generator_loss_keys():
      terms.setdefault(key, tf.constant(0.0))
    return terms

  def uses_render(self) -> bool:
    """Whether some LOD's imitative terms need the render of λ."""
    return any(self.imitative.active_terms(s1.resolution_of(l))
               for l in range(self.schedule.start_lod, self.num_lods))

  def generator_loss_keys(self):
    """Every G term any LOD can report (inactive ones are 0)."""
    keys = {"g_gan", "g_total"}
    for l in range(self.schedule.start_lod, self.num_lods):
      keys.update(f"imitative_{t}" for t in self.imitative.active_terms(
          s1.resolution_of(l)))
    if self.stage == 2:
      keys.add("g_gan_contrastive")
      if self.exp_warp_weight:
        keys.add("contrastive_exp_warp")
      if self.gamma_change_weight:
        keys.add("contrastive_gamma_change")
    return sorted(keys)

  def train_step(self, batch) -> Dict[str, tf.Tensor]:
    real = batch["image"]
    if real.shape[1] != self.resolution or real.shape[2] != self.resolution:
      raise ValueError(f"DiscoFaceGANMethod.resolution is {self.resolution} "
                       f"but the dataset yields {real.shape[1]}x"
                       f"{real.shape[2]} images")
    available = int(real.shape[0])
    sizes = [self.replica_batch(l, available) for l in range(self.num_lods)]
    lod, alpha = self.schedule.lod_and_alpha(self.global_step)
    losses = {}
    d_vars = self.discriminator.trainable_variables
    d_losses, d_grads = self._phase(
        d_vars, "d_total",
        lambda l: self.discriminator_losses(real, l, alpha, sizes[l]), lod)
    self.d_optimizer.apply_gradients(zip(d_grads, d_vars))
    losses.update(d_losses)
    # G: λ, ε and the render at the largest per-LOD batch, outside the
    # switch (the render needs no gradient); each LOD uses its first rows.
    n_max = max(sizes)
    _, lam, noise = self.sampler.sample(n_max, self._seed(_SALT_G + 100))
    # Without a weighted imitative term (the adversarial-only ablation) no
    # step needs the render, a quarter of a 32 px step's time.
    render = self.render(lam) if self.uses_render() else None
    g_vars = self.generator.trainable_variables

    def g_branch(l):
      n = sizes[l]
      return self.generator_losses(
          batch, l, alpha, n,
          None if render is None else {k: v[:n] for k, v in render.items()},
          lam[:n], noise[:n])

    g_losses, g_grads = self._phase(g_vars, "g_total", g_branch, lod)
    self.g_optimizer.apply_gradients(zip(g_grads, g_vars))
    losses.update(g_losses)
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
      starts = tf.constant(self.schedule.start_steps[
          self.schedule.start_lod + 1:] or (-1,), tf.int64)
      fresh = tf.reduce_any(tf.equal(self.global_step + 1, starts))
      for optimizer in (self.g_optimizer, self.d_optimizer):
        for variable in optimizer.variables:
          variable.assign(tf.where(fresh, tf.zeros_like(variable), variable))

  # -- inspection ---------------------------------------------------------------

  def sample(self, z_parts=None, noise=None, lod=None, generator=None):
    """EMA images (upsampled to R) of z parts and ε (default the fixed
    samples) at ``lod`` (default the current one)."""
    z_parts = self.sample_z if z_parts is None else z_parts
    noise = self.sample_noise if noise is None else noise
    lod = self.lod_and_alpha_at()[0] if lod is None else int(lod)
    g = generator or self.generator_ema
    lam = self.sampler.decode(z_parts)
    images = g(self.generator_inputs(lam, noise), lod=lod, noise_mode="const")
    return s1.upsample_nearest(images, self.resolution //
                               s1.resolution_of(lod)), lam

  def image_summaries(self) -> Dict[str, tf.Tensor]:
    images, lam = self.sample()
    return {"samples_and_renders": tf.clip_by_value(tf.concat(
        [images, self.render(lam)["image"]], axis=0), -1.0, 1.0)}

  def export_signatures(self):
    from tfface.methods.discofacegan import export  # pylint: disable=g-import-not-at-top
    module = export.DiscoFaceGANModule.from_method(self)
    return module, module.signatures()
