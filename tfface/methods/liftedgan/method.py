"""Training LiftedGAN on the shared runtime (``tools/train.py``).

:class:`LiftedGANMethod` distils a frozen StyleGAN2 into the 3D generator of
:mod:`tfface.methods.liftedgan.model`, one step of the reference's
``train_step`` per runtime step (seasonSH/LiftedGAN ``models/lifted_gan.py``;
the effective weights of its code, ``config/ffhq_256.py``):

1. 5.0 · [L1_M(x̂, x) + Perc_M(x̂, x) + 0.8 · (L1_M(x̂_flip, x) +
   Perc_M(x̂_flip, x))], M the pixels both renders cover;
2. 2.0 · [L1(x'_rend, sg G(w')) + Perc] — perturbation (a), rendered with the
   parameters re-estimated from w' = M(w, L', V');
3. 4.0 · L_LVcyc;
4. 1.0 · identity loss on the samples perturbed to |yaw| < 25°;
5. 0.5 · latent prior of w';
6. 0.01 · ‖K‖_* albedo regulariser;
7. 2.0 · [L1(sg x'_orig, G(w')) + Perc] — perturbation (b), its gradient
   reaches only M (:func:`perturbation_b_loss`).

Adam(1e-4, 0.9, 0.999) with coupled L2 weight decay 5e-4 over D_V, D_L, M,
D_S, D_T; the StyleGAN2 is frozen. The data are z ~ N(0, I)
(:func:`liftedgan_latents`).
"""

import os
from typing import Dict, Optional

import gin
import numpy as np
import tensorflow as tf

from tfface.analysis import weights as analysis_weights
from tfface.methods.liftedgan import losses
from tfface.methods.liftedgan import model as model_lib
from tfface.methods.liftedgan import networks
from tfface.networks import stylegan2_weights
from tfface.training import gradients as gradients_lib
from tfface.training import method as method_lib
from tfface.training import seeding


@gin.configurable
def liftedgan_latents(global_batch_size: int, z_dim: int = 512,
                      seed: int = 0) -> tf.data.Dataset:
  """An endless dataset of ``{"z": [global_batch_size, z_dim]}`` N(0, I)."""
  if int(z_dim) < 1:
    raise ValueError(f"liftedgan_latents.z_dim must be >= 1, got {z_dim!r}")

  def draw(index):
    s = tf.stack([tf.cast(seed, tf.int64), index])
    return {"z": tf.random.stateless_normal([global_batch_size, int(z_dim)],
                                            tf.cast(s, tf.int32))}

  return tf.data.Dataset.range(2**62).map(draw)


def perturbation_b_loss(model: model_lib.LiftedGAN, w: tf.Tensor,
                        components: Dict[str, tf.Tensor], light: tf.Tensor,
                        view: tf.Tensor, perceptual, perceptual_weight: float,
                        generated: Optional[tf.Tensor] = None) -> tf.Tensor:
  """Perturbation (b): L1 + Perc between sg(x'_orig) and G(M(sg w, L', V')).

  x'_orig renders the (stopped) components at the sampled (L', V'); the
  gradient therefore reaches only M, through the frozen G.

  Args:
    model: the 3D generator.
    w: `[B, D]` style codes.
    components: :meth:`LiftedGAN.estimate` of w.
    light, view: the sampled L' `[B, 4]`, V' `[B, 6]`.
    perceptual: the perceptual loss (or None).
    perceptual_weight: its weight.
    generated: G(M(sg w, L', V')) clamped to [−1, 1], if the caller has it
      (the training step shares it with perturbation (a)).

  Returns:
    scalar loss.
  """
  stopped = {k: tf.stop_gradient(v) for k, v in components.items()}
  target = tf.stop_gradient(model.render(stopped, view, light)["image"])
  if generated is None:
    w_prime = model.composition((tf.stop_gradient(w), tf.stop_gradient(light),
                                 tf.stop_gradient(view)))
    generated = tf.clip_by_value(model.generator(w_prime), -1.0, 1.0)
  image = generated
  return losses.reconstruction_loss(target, image, perceptual, None,
                                    perceptual_weight)


@gin.configurable
class LiftedGANMethod(method_lib.TrainingMethod):
  """LiftedGAN's training (the reference's ``train_step``).

  Args:
    generator: a StyleGAN2 weights ``.npz`` or training run (the frozen G_2D).
    identity_weights: an identity-network weights file
      (``tfface.analysis.weights``; e.g. ``pretrained/identity.npz`` or a
      converted ArcFace / FaceNet), or None (then ``identity_weight`` must
      be 0).
    vgg_weights: torchvision VGG16 ``.npz`` for the perceptual loss, or None
      for random features (``vgg_width`` wide).
    vgg_width: channel multiplier of random VGG features.
    hidden, depth_z_dim, transform_z_dim, nf, max_channels: network sizes
      (:class:`~tfface.methods.liftedgan.model.LiftedGAN`).
    backend: rasterizer backend.
    residual_composition, flat_depth_init: start M as the identity map and
      D_S flat (departures for short runs; False is the reference; see
      :class:`~tfface.methods.liftedgan.model.LiftedGAN`).
    pose_basis_network: a reconstruction-net weights file (e.g.
      ``pretrained/reconstruction.npz``): D_V and M start from the linear
      pose model of W it reads on the generator's samples
      (:mod:`~tfface.methods.liftedgan.pose_basis`; a departure for short
      runs, needs ``residual_composition``); None is the reference.
    pose_basis_samples: samples of that fit.
    pose_basis_lock: M's learned residual cannot change the pose readout.
    min_diffuse: smallest diffuse light strength (0, the reference; a
      departure for short runs, see
      :class:`~tfface.methods.liftedgan.model.LiftedGAN`).
    truncation: ψ of the training samples (0.7).
    learning_rate: 1e-4; beta_1, beta_2: 0.9, 0.999.
    weight_decay: coupled L2 (5e-4).
    rec_weight, perceptual_weight, flip_weight: 5.0, 1.0, 0.8.
    perturb_image_weight, perturb_param_weight: 2.0, 4.0.
    identity_weight: 1.0; identity_max_yaw_degrees: 25.
    latent_prior_weight: 0.5; albedo_rank_weight: 1e-2; rank_downsample 4.
    use_flip: the symmetric (flipped) reconstruction (ablation "no flip").
    use_perturbation: the perturbation path (a), (b), the cycle and prior
      terms and — since it compares the perturbed render — the identity loss
      (ablation "no perturbation").
    yaw_range_degrees, pitch_range_degrees: perturbation ranges (45, 15).
    num_perceptual_scales: 3.
    blur_size, blur_sigma: the Gaussian (10, 4).
    w_statistics_samples: z drawn for w_mu and σ_w (50,000).
    num_summary_images: fixed codes shown in TensorBoard.
  """

  def __init__(self, generator: str = gin.REQUIRED,
               identity_weights: Optional[str] = None,
               vgg_weights: Optional[str] = None, vgg_width: float = 1.0,
               hidden: int = 512, depth_z_dim: int = 512,
               transform_z_dim: int = 16, nf: int = 16,
               max_channels: int = 512, backend: str = "tf",
               residual_composition: bool = False,
               flat_depth_init: bool = False,
               pose_basis_network: Optional[str] = None,
               pose_basis_samples: int = 4096,
               pose_basis_lock: bool = False, min_diffuse: float = 0.0,
               truncation: float = 0.7, learning_rate: float = 1e-4,
               beta_1: float = 0.9, beta_2: float = 0.999,
               weight_decay: float = 5e-4, rec_weight: float = 5.0,
               perceptual_weight: float = 1.0, flip_weight: float = 0.8,
               perturb_image_weight: float = 2.0,
               perturb_param_weight: float = 4.0,
               identity_weight: float = 1.0,
               identity_max_yaw_degrees: float = 25.0,
               latent_prior_weight: float = 0.5,
               albedo_rank_weight: float = 1e-2, rank_downsample: int = 4,
               use_flip: bool = True, use_perturbation: bool = True,
               yaw_range_degrees: float = 45.0,
               pitch_range_degrees: float = 15.0,
               num_perceptual_scales: int = 3, blur_size: int = 10,
               blur_sigma: float = 4.0, w_statistics_samples: int = 50000,
               num_summary_images: int = 4):
    if not generator:
      raise ValueError("LiftedGANMethod.generator must name a StyleGAN2 "
                       "weights .npz or training run")
    if identity_weight and not identity_weights:
      raise ValueError("LiftedGANMethod.identity_weights is None but "
                       f"identity_weight is {identity_weight}; name an "
                       "identity-network weights file or set the weight to 0")
    for name in ("learning_rate", "weight_decay", "rec_weight",
                 "perceptual_weight", "flip_weight", "perturb_image_weight",
                 "perturb_param_weight", "identity_weight",
                 "latent_prior_weight", "albedo_rank_weight"):
      if float(locals()[name]) < 0:
        raise ValueError(f"LiftedGANMethod.{name} must be >= 0, got "
                         f"{locals()[name]!r}")
    if not 0.0 <= float(min_diffuse) < 1.0:
      raise ValueError(f"LiftedGANMethod.min_diffuse must be in [0, 1), got "
                       f"{min_diffuse!r}")
    if pose_basis_network and not residual_composition:
      raise ValueError("LiftedGANMethod.pose_basis_network needs "
                       "residual_composition = True (the pose move starts a "
                       "residual M)")
    self.generator_path = generator
    self.pose_basis_network = pose_basis_network
    self.pose_basis_samples = int(pose_basis_samples)
    self.identity_weights = identity_weights
    self.vgg_weights, self.vgg_width = vgg_weights, float(vgg_width)
    self.network_args = dict(hidden=hidden, depth_z_dim=depth_z_dim,
                             transform_z_dim=transform_z_dim, nf=nf,
                             max_channels=max_channels, backend=backend,
                             blur_size=blur_size, blur_sigma=blur_sigma,
                             residual_composition=residual_composition,
                             flat_depth_init=flat_depth_init,
                             pose_basis=bool(pose_basis_network),
                             lock_pose=bool(pose_basis_lock),
                             min_diffuse=float(min_diffuse))
    self.truncation = float(truncation)
    self.learning_rate, self.beta_1, self.beta_2 = (
        float(learning_rate), float(beta_1), float(beta_2))
    self.weight_decay = float(weight_decay)
    self.rec_weight, self.perceptual_weight = rec_weight, perceptual_weight
    self.flip_weight = flip_weight
    self.perturb_image_weight = perturb_image_weight
    self.perturb_param_weight = perturb_param_weight
    self.identity_weight = identity_weight
    self.identity_max_yaw = identity_max_yaw_degrees
    self.latent_prior_weight = latent_prior_weight
    self.albedo_rank_weight = albedo_rank_weight
    self.rank_downsample = int(rank_downsample)
    self.use_flip, self.use_perturbation = bool(use_flip), bool(
        use_perturbation)
    self.yaw_range, self.pitch_range = yaw_range_degrees, pitch_range_degrees
    self.num_perceptual_scales = int(num_perceptual_scales)
    self.blur_size, self.blur_sigma = int(blur_size), float(blur_sigma)
    self.w_statistics_samples = int(w_statistics_samples)
    self.num_summary_images = int(num_summary_images)
    self.seed = 0

  # --- building ---------------------------------------------------------

  def build(self) -> None:
    g = stylegan2_weights.load_stylegan2_generator(self.generator_path)
    self.model = model_lib.LiftedGAN(g, **self.network_args)
    self.model.generator.compute_w_statistics(self.w_statistics_samples)
    self.model.build_all()
    if self.pose_basis_network:
      self._fit_pose_basis()
    resolution = self.model.resolution
    smallest = resolution // 2**(self.num_perceptual_scales - 1)
    if resolution % 8 or smallest < 8:
      raise ValueError(
          f"LiftedGANMethod.num_perceptual_scales {self.num_perceptual_scales}"
          f" at {resolution} px leaves {smallest} px images; VGG16's relu4_3 "
          "needs >= 8 px (use fewer scales)")
    vgg = networks.VGG16Features(self.vgg_weights, self.vgg_width,
                                 name="vgg16")
    self.perceptual = losses.CosinePerceptualLoss(vgg,
                                                  self.num_perceptual_scales)
    self.identity_net = None
    if self.identity_weights:
      if not os.path.isfile(self.identity_weights):
        raise FileNotFoundError(
            f"LiftedGANMethod.identity_weights {self.identity_weights!r} does "
            "not exist; expected an identity-network weights .npz")
      self.identity_net = analysis_weights.load_network(self.identity_weights)
      self.identity_net(tf.zeros([1, resolution, resolution, 3]))
    self.variables = self.model.trainable_weights_list()
    self.optimizer = tf.keras.optimizers.Adam(
        self.learning_rate, beta_1=self.beta_1, beta_2=self.beta_2,
        epsilon=1e-8, name="liftedgan_adam")  # torch Adam's eps
    self.optimizer.build(self.variables)
    rng = tf.random.stateless_normal([self.num_summary_images,
                                      self.model.z_dim], [self.seed, 7])
    self.summary_z = tf.Variable(rng, trainable=False, name="summary_z")

  def _fit_pose_basis(self) -> None:
    from tfface.methods.liftedgan import pose_basis  # pylint: disable=g-import-not-at-top
    if not os.path.isfile(self.pose_basis_network):
      raise FileNotFoundError(
          f"LiftedGANMethod.pose_basis_network {self.pose_basis_network!r} "
          "does not exist; expected a reconstruction-network weights .npz")
    net = analysis_weights.load_network(self.pose_basis_network)
    fit = pose_basis.fit_pose_basis(
        self.model.generator, net, self.pose_basis_samples, self.truncation,
        float(np.rad2deg(self.model.renderer.rotation_range)))
    self.model.assign_pose_basis(fit)
    self.pose_basis_fit_r = fit["readout_r"]

  def checkpoint_items(self) -> Dict[str, tf.Module]:
    items = dict(self.model.trainable_networks)
    items["optimizer"] = self.optimizer
    items["w_statistics"] = self.model.generator.statistics
    return items

  # --- the step ---------------------------------------------------------

  def losses(self, z: tf.Tensor, seed: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Every loss term of one step for latents z `[B, z_dim]` (per replica).

    Returns a dict with the weighted ``total`` and each unweighted term.
    """
    model = self.model
    w = model.generator.mapping(z, self.truncation)
    x = tf.stop_gradient(tf.clip_by_value(model.generator(w), -1.0, 1.0))
    est = model.estimate(w)
    out = {}
    rec = model.render(est)
    mask = tf.cast(rec["depth"] < model.renderer.background_depth, tf.float32)
    if self.use_flip:
      rec_flip = model.render(est, flip=True)
      mask *= tf.cast(rec_flip["depth"] < model.renderer.background_depth,
                      tf.float32)
    out["rec_l1"] = losses.masked_l1(rec["image"], x, mask)
    out["rec_perc"] = self.perceptual(rec["image"], x, mask)
    rec_total = out["rec_l1"] + self.perceptual_weight * out["rec_perc"]
    if self.use_flip:
      out["flip_l1"] = losses.masked_l1(rec_flip["image"], x, mask)
      out["flip_perc"] = self.perceptual(rec_flip["image"], x, mask)
      rec_total += self.flip_weight * (
          out["flip_l1"] + self.perceptual_weight * out["flip_perc"])
    total = self.rec_weight * rec_total
    if self.use_perturbation:
      light_p, view_p = losses.sample_perturbation(
          est["light"], seed, self.yaw_range, self.pitch_range,
          float(np.rad2deg(model.renderer.rotation_range)))
      w_prime = model.composition((tf.stop_gradient(w), light_p, view_p))
      light_e, view_e = model.decomposition(w_prime)
      image_prime = tf.clip_by_value(model.generator(w_prime), -1.0, 1.0)
      rendered = model.render(est, view_e, light_e)["image"]
      out["perturb_a"] = losses.reconstruction_loss(
          rendered, tf.stop_gradient(image_prime), self.perceptual, None,
          self.perceptual_weight)
      out["cycle"] = losses.cycle_loss(light_e, light_p, view_e, view_p)
      out["latent_prior"] = losses.latent_prior_loss(
          w_prime, model.generator.w_mu, model.generator.w_sigma_inv)
      # Perturbation (b): the stopped render at the sampled (L', V') against
      # G(w'), the gradient reaching M only (perturbation_b_loss).
      out["perturb_b"] = perturbation_b_loss(
          model, w, est, light_p, view_p, self.perceptual,
          self.perceptual_weight, generated=image_prime)
      total += (self.perturb_image_weight * (out["perturb_a"] +
                                             out["perturb_b"]) +
                self.perturb_param_weight * out["cycle"] +
                self.latent_prior_weight * out["latent_prior"])
      if self.identity_net is not None and self.identity_weight:
        window = losses.yaw_window(view_p, self.identity_max_yaw)
        canonical = tf.clip_by_value(est["canonical"], -1.0, 1.0)
        out["identity"] = losses.identity_loss(
            self.identity_net(canonical, training=False),
            self.identity_net(rendered, training=False), window)
        out["identity_window"] = tf.reduce_mean(window)
        total += self.identity_weight * out["identity"]
    if self.albedo_rank_weight:
      out["albedo_rank"] = losses.albedo_rank_loss(
          est["albedo"], model.face_mask(est["depth"]), self.rank_downsample,
          self.blur_size, self.blur_sigma)
      total += self.albedo_rank_weight * out["albedo_rank"]
    out["total"] = total
    return out

  # No tensor-dependent Python control flow here or below: skipping AutoGraph
  # saves most of the step's (long) trace time.
  @tf.autograph.experimental.do_not_convert
  def train_step(self, batch) -> Dict[str, tf.Tensor]:
    seed = seeding.step_seed(self.seed, self.global_step, salt=13)
    # Only the four networks are watched: no gradient is computed for the
    # frozen StyleGAN2's (TF-level trainable) weights.
    # Keras variables wrap the (distributed) tf.Variable in `.value`.
    watched = [v.value if isinstance(v, tf.keras.Variable) else v
               for v in self.variables]
    with tf.GradientTape(watch_accessed_variables=False) as tape:
      tape.watch(watched)
      out = self.losses(batch["z"], seed)
    scale = gradients_lib.replica_loss_scale()
    grads = tape.gradient(out["total"], watched,
                          output_gradients=tf.constant(scale))
    grads = losses.coupled_weight_decay(grads, self.variables,
                                        self.weight_decay, scale)
    self.optimizer.apply_gradients(zip(grads, self.variables))
    return out

  # --- inspection -------------------------------------------------------

  def image_summaries(self) -> Dict[str, tf.Tensor]:
    from tfface.methods.liftedgan import control  # pylint: disable=g-import-not-at-top
    return {"yaw_sweep": control.yaw_sweep_grid(
        self.model, self.summary_z, (-45.0, 0.0, 45.0))}

  def export_signatures(self):
    from tfface.methods.liftedgan import export  # pylint: disable=g-import-not-at-top
    module = export.LiftedGANModule(self.model)
    return module, module.signatures()
