"""StyleGAN2 training on the shared runtime (rosinality/stylegan2-pytorch defaults).

The phases of :mod:`tfface.training.gan`, every step: D main (non-saturating
logistic loss on one pass over real and fake images), D reg (lazy R1 every
``d_reg_every`` steps), G main (non-saturating loss, style mixing with
probability 0.9, plus :meth:`extra_generator_losses` of a derived method), G
reg (path length every ``g_reg_every`` steps on ``batch / pl_batch_shrink``
samples), then the G EMA update. Learning rates and Adam betas get the
lazy-regularization adjustment. All randomness is stateless
(:func:`tfface.training.step_seed`), so a resumed run draws the numbers the
uninterrupted run would have drawn.

Losses logged: ``d_gan``, ``d_real_score``, ``d_fake_score``, ``d_r1`` (raw
penalty on R1 steps, else 0), ``g_gan``, ``g_total``,
``path_length_penalty``, ``mean_path_length``.
"""

from typing import Callable, Dict, Optional, Tuple

import gin
import numpy as np
import tensorflow as tf

from tfface import training
from tfface.losses import gan as gan_losses
from tfface.training import gan as gan_training
from tfface.training import optimizers
from tfface.methods.stylegan2 import export as export_lib
from tfface.networks import stylegan2 as networks

# Salts for step_seed: one per random draw inside a step.
_SALT_D_LATENT, _SALT_D_NOISE, _SALT_G_LATENT, _SALT_G_NOISE = 1, 2, 3, 4
_SALT_PL_LATENT, _SALT_PL_NOISE, _SALT_PL_Y = 5, 6, 7


@gin.configurable
class StyleGAN2Method(gan_training.GANMethod):
  """StyleGAN2 (config-f style) on the shared training runtime.

  Args:
    resolution: image size (16..1024).
    channel_preset: generator channel table, see
      :func:`tfface.networks.stylegan2.channel_table`.
    d_channel_preset: discriminator table (default: ``channel_preset``, or
      ``liftedgan_discriminator`` when it is ``liftedgan_generator``).
    channel_multiplier: upstream table multiplier (2).
    channel_divisor: divides all channels (tiny test models).
    z_dim, style_dim, mapping_layers, mapping_lr_multiplier: mapping network.
    learning_rate: base Adam rate (0.002), before the lazy adjustment.
    beta_1, beta_2, epsilon: Adam (0, 0.99, 1e-8), before the adjustment.
    r1_gamma: R1 weight γ (10).
    d_reg_every: R1 every this many steps (16; 0 disables R1).
    pl_weight: path-length weight (2; 0 disables it).
    g_reg_every: path-length regularization every this many steps (4).
    pl_batch_shrink: the path-length batch is ``batch // pl_batch_shrink``.
    pl_decay: EMA rate of the path-length target (0.01).
    mixing_prob: style-mixing probability (0.9).
    ema_decay: G EMA decay (rosinality: 0.5 ** (32 / 10000)).
    w_avg_decay: decay of the tracked w̄ (0.995).
    fused_modconv: grouped-conv modulation.
    num_image_samples: samples in the TensorBoard grids.
    gan_loss: GAN loss family (``"non_saturating"``; or ``"hinge"``,
      ``"wasserstein"``).
    optimizer: optional factory ``(name=...) -> Keras optimizer`` (e.g.
      ``@tf.keras.optimizers.Adam`` in gin) for both networks; the lazy
      adjustment is applied to it. None: Adam with the settings above.
  """

  def __init__(self, resolution: int = 256,
               channel_preset: str = "upstream",
               d_channel_preset: Optional[str] = None,
               channel_multiplier: int = 2, channel_divisor: int = 1,
               z_dim: int = 512, style_dim: int = 512,
               mapping_layers: int = 8, mapping_lr_multiplier: float = 0.01,
               learning_rate: float = 0.002, beta_1: float = 0.0,
               beta_2: float = 0.99, epsilon: float = 1e-8,
               r1_gamma: float = 10.0, d_reg_every: int = 16,
               pl_weight: float = 2.0, g_reg_every: int = 4,
               pl_batch_shrink: int = 2, pl_decay: float = 0.01,
               mixing_prob: float = 0.9,
               ema_decay: float = 0.5**(32.0 / 10000.0),
               w_avg_decay: float = 0.995, fused_modconv: bool = False,
               num_image_samples: int = 16,
               gan_loss: str = "non_saturating",
               optimizer: Optional[Callable] = None):
    if d_channel_preset is None:
      d_channel_preset = ("liftedgan_discriminator"
                          if channel_preset == "liftedgan_generator"
                          else channel_preset)
    self.g_channels = networks.channel_table(
        resolution, channel_preset, channel_multiplier, channel_divisor)
    self.d_channels = networks.channel_table(
        resolution, d_channel_preset, channel_multiplier, channel_divisor)
    self.resolution = resolution
    self.z_dim, self.style_dim = z_dim, style_dim
    self.mapping_layers = mapping_layers
    self.mapping_lr_multiplier = mapping_lr_multiplier
    self.learning_rate, self.beta_1, self.beta_2 = learning_rate, beta_1, beta_2
    self.epsilon = epsilon
    self.r1_gamma, self.d_reg_every = r1_gamma, d_reg_every
    self.pl_weight, self.g_reg_every = pl_weight, g_reg_every
    self.pl_batch_shrink, self.pl_decay = pl_batch_shrink, pl_decay
    self.mixing_prob = mixing_prob
    self.ema_decay, self.w_avg_decay = ema_decay, w_avg_decay
    self.fused_modconv = fused_modconv
    self.num_image_samples = num_image_samples
    self.gan_loss = gan_losses.check_loss_kind(gan_loss)
    self.optimizer_factory = optimizer
    self.seed = 0

  # -- construction ---------------------------------------------------------

  def make_generator(self, name: str = "generator") -> networks.Generator:
    """A generator with this method's architecture (not built)."""
    return networks.Generator(
        self.resolution, self.g_channels, z_dim=self.z_dim,
        style_dim=self.style_dim, mapping_layers=self.mapping_layers,
        mapping_lr_multiplier=self.mapping_lr_multiplier,
        fused_modconv=self.fused_modconv, name=name)

  def build(self) -> None:
    self.generator = self.make_generator("generator")
    self.generator.build_all()
    self.g_ema = self.make_generator("g_ema")
    self.g_ema.build_all()
    self.discriminator = networks.Discriminator(
        self.resolution, self.d_channels, name="discriminator")
    self.discriminator.build_all()
    self.ema = self.make_ema(self.generator, self.g_ema, self.ema_decay)
    adam = dict(learning_rate=self.learning_rate, beta_1=self.beta_1,
                beta_2=self.beta_2, epsilon=self.epsilon)
    g_lazy = self.g_reg_every if self.pl_weight > 0 else 0
    d_lazy = self.d_reg_every if self.r1_gamma > 0 else 0
    self.g_optimizer = optimizers.make_optimizer(
        self.optimizer_factory, name="g_optimizer", lazy_reg_every=g_lazy,
        variables=self.generator.trainable_variables, **adam)
    self.d_optimizer = optimizers.make_optimizer(
        self.optimizer_factory, name="d_optimizer", lazy_reg_every=d_lazy,
        variables=self.discriminator.trainable_variables, **adam)
    self.d_step = gan_training.DiscriminatorStep(
        self.discriminator, self.d_optimizer, loss=self.gan_loss,
        r1_gamma=self.r1_gamma if self.d_reg_every > 0 else 0.0,
        r1_every=self.d_reg_every, joint_batch=True, prefix="d")
    self.mean_path_length = tf.Variable(
        0.0, trainable=False, name="mean_path_length",
        aggregation=tf.VariableAggregation.MEAN)
    rng = np.random.default_rng(int(self.seed) + 12345)
    self.sample_z = tf.constant(
        rng.standard_normal([self.num_image_samples, self.z_dim]), tf.float32)

  def checkpoint_items(self) -> Dict[str, tf.Module]:
    return {"generator": self.generator, "g_ema": self.g_ema,
            "discriminator": self.discriminator,
            "g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer,
            "mean_path_length": self.mean_path_length}

  # -- the step ---------------------------------------------------------------

  def _seed(self, salt: int) -> tf.Tensor:
    return training.step_seed(self.seed, self.global_step, salt)

  def sample_ws(self, batch_size: int, seed: tf.Tensor
                ) -> Tuple[tf.Tensor, tf.Tensor]:
    """Mapping outputs with style mixing.

    Returns:
      ``(ws, w)``: W+ `[B, num_ws, D]` (mixed with probability
      ``mixing_prob`` at one random crossover index in [1, num_ws − 1]) and
      the first latent's w `[B, D]`.
    """
    seeds = tf.random.experimental.stateless_split(seed, 4)
    z = tf.random.stateless_normal([2 * batch_size, self.z_dim], seeds[0])
    w = self.generator.mapping(z)
    w1, w2 = w[:batch_size], w[batch_size:]
    num_ws = self.generator.num_ws
    mix = tf.random.stateless_uniform([], seeds[1]) < self.mixing_prob
    crossover = tf.random.stateless_uniform([], seeds[2], minval=1,
                                            maxval=num_ws, dtype=tf.int32)
    index = tf.where(mix, crossover, num_ws)
    return networks.mix_styles(w1, w2, index, num_ws), w1

  def train_step(self, batch) -> Dict[str, tf.Tensor]:
    real = batch["image"]
    batch_size = int(real.shape[0])
    g = self.generator

    # D main + D reg (lazy R1).
    ws, _ = self.sample_ws(batch_size, self._seed(_SALT_D_LATENT))
    fake = g.synthesis(ws, noise_mode="random",
                       noise_seed=self._seed(_SALT_D_NOISE))
    losses = self.d_step(real, fake, self.global_step)

    # G main: non-saturating loss with style mixing, plus a derived method's
    # extra terms.
    latents = {}

    def generator_losses():
      ws, latents["w"] = self.sample_ws(batch_size, self._seed(_SALT_G_LATENT))
      fake = g.synthesis(ws, noise_mode="random",
                         noise_seed=self._seed(_SALT_G_NOISE))
      terms = {"g_gan": gan_losses.generator_loss(self.gan_loss,
                                                  self.discriminator(fake))}
      terms.update(self.extra_generator_losses(
          batch, {"images": fake, "ws": ws, "w": latents["w"]}))
      return terms

    losses.update(gan_training.generator_step(
        self.g_optimizer, g.trainable_variables, generator_losses))
    g.update_w_avg(tf.stop_gradient(latents["w"]), self.w_avg_decay)

    # G reg: lazy path-length regularization.
    if self.pl_weight > 0 and self.g_reg_every > 0:
      pl_batch = max(1, batch_size // self.pl_batch_shrink)
      weight = gan_losses.path_length_weight(self.pl_weight, self.g_reg_every)
      current = tf.convert_to_tensor(self.mean_path_length)

      def pl_loss():
        ws, _ = self.sample_ws(pl_batch, self._seed(_SALT_PL_LATENT))
        noise_seed = self._seed(_SALT_PL_NOISE)
        penalty, new_mean, _ = gan_losses.path_length_penalty(
            lambda x: g.synthesis(x, noise_mode="random",
                                  noise_seed=noise_seed),
            ws, current, self.pl_decay, self._seed(_SALT_PL_Y))
        return weight * penalty, new_mean

      do_pl = tf.equal(self.global_step % self.g_reg_every, 0)
      pl_penalty_weighted, new_mean = gan_training.lazy_step(
          self.global_step, self.g_reg_every, self.g_optimizer,
          g.trainable_variables, pl_loss)
      # Outside the cond: a MEAN-aggregated assignment synchronizes replicas.
      self.mean_path_length.assign(tf.where(do_pl, new_mean, current))
      losses["path_length_penalty"] = pl_penalty_weighted / weight
      losses["mean_path_length"] = tf.convert_to_tensor(current)
    return losses

  # -- inspection and export ---------------------------------------------------

  def image_summaries(self) -> Dict[str, tf.Tensor]:
    samples = self.g_ema(self.sample_z, noise_mode="const")
    truncated = self.g_ema(self.sample_z, truncation_psi=0.7,
                           noise_mode="const")
    return {"samples": tf.clip_by_value(samples, -1.0, 1.0),
            "samples_psi0.7": tf.clip_by_value(truncated, -1.0, 1.0)}

  def export_signatures(self):
    module = export_lib.GeneratorModule(self.g_ema)
    return module, module.signatures()


