"""The keypoint mapper R and critic C ("talking heads"), and the decoder's
identity fine-tuning.

Branch ``master`` of ``ivanvovk/controllable-face-generation`` (facts and
bugs in ``shared/reference/alae.md`` §2.1; the paper's eqs. 13-14). On the
codes of a frozen autoencoder, with a source z_s (the mean code of several
faces of one identity, the reference's "center identity") and its keypoints
c_s, and a target face of the same identity z_t with keypoints c_t:

    ẑ_t = R(z_s, c_t)                       (the source with the target's pose)
    L_C = mean C(ẑ_t, c_t) − mean C(z_s, c_s) + λ_gp·GP          -> min over C
    L_R = −mean C(ẑ_t, c_t) + ‖ẑ_t − z_t‖₁ + ‖R(z_t, c_s) − z_s‖₁  -> min over R

(the second L1 is the code's cross-reconstruction; ``cycle="paper"`` uses
eq. 14's ‖R(ẑ_t, c_s) − z_s‖₁ instead). Adam lr 1e-3, β = (0, 0.99) for
both, batch 8.

**The cancelled gradient (the reference's bug).** ``trainer.py`` calls
``backward()`` on both losses and then steps both optimizers, so each network
gets the gradient of ``L_C + L_R``: R's adversarial terms (+∂C(ẑ_t) from L_C,
−∂C(ẑ_t) from L_R) cancel and R learns only from the L1 terms, while C gets
only −∂C(z_s, c_s). Here the critic is updated with ∂L_C/∂C, then R with
∂L_R/∂R (a fresh forward pass through the updated critic), as a WGAN should.
``reference_cancelled_gradient=True`` reproduces the reference exactly: one
forward pass and ∂(L_C + L_R) for both. :meth:`KeypointMapperMethod.
mapper_update_gradients` returns what R is updated with, so a test can check
that the adversarial part is non-zero.

Other deliberate changes (each with a ``reference_*`` switch or option):

* a gradient penalty (Gulrajani et al. 2017, λ_gp = 10, on the joint (z, c)
  interpolates of the real and fake pairs) where the reference has neither a
  penalty nor clipping, and LayerNorm in the critic (``critic_norm``; the
  reference's BatchNorm couples the examples a per-example penalty acts on);
* R ends linear (``reference_relu_output``: the reference's final ReLU makes
  R(z, c) ≥ 0 on signed codes);
* keypoints are normalised to the image, ``2·p/R − 1`` ∈ [−1, 1], before R
  and C see them; ``reference_pixel_keypoints=True`` feeds raw pixels (0-R)
  as the reference. (The reference's other keypoint bug, the detector fed
  ``image·255`` of a [−1, 1] image, is reproduced where a detector runs: the
  ``reference_detector_input`` option of the pair dataset and evaluation.)

The reference's real pair for the critic is the source (z_s, c_s)
(``critic_real="source"``); ``"target"`` uses (z_t, c_t).

:class:`DecoderFinetuneMethod` is the reference's identity-gap fix
(``one_guy_finetunning.ipynb``): only the decoder trains, on faces of the
chosen identities, with the VGG-19 perceptual loss on relu1_1, relu2_1,
relu3_1 (weights 1, 1/4, 1/8), Adam lr 1e-4, β = (0, 0.99). Its run is an
autoencoder source like any other (``codes.load_autoencoder(run_dir)``).

Losses logged: ``critic_total``, ``critic_wasserstein``, ``critic_gp``,
``critic_real_score``, ``critic_fake_score``, ``mapper_adversarial``,
``mapper_target_l1``, ``mapper_cycle_l1``, ``mapper_total``.
"""

from typing import Callable, Dict, Optional, Sequence, Tuple

import gin
import tensorflow as tf

from tfface import training
from tfface.methods.latent import acai as acai_lib
from tfface.methods.latent import codes as codes_lib
from tfface.networks import latent_conditional as nets
from tfface.training import gradients
from tfface.training import optimizers

NUM_KEYPOINTS = 68
KEYPOINT_SIZE = 2 * NUM_KEYPOINTS
CYCLES = ("cross", "paper")
CRITIC_REAL = ("source", "target")
# one_guy_finetunning.ipynb: VGG-19 relu1_1, relu2_1, relu3_1, weights.
FINETUNE_LAYERS = acai_lib.ACAI_PERCEPTUAL_LAYERS
FINETUNE_WEIGHTS = (1.0, 1.0 / 4.0, 1.0 / 8.0)
_SALT_GP = 1


def normalize_keypoints(keypoints: tf.Tensor, image_size: int,
                        reference_pixels: bool = False) -> tf.Tensor:
  """Keypoints as R and C see them.

  Args:
    keypoints: `[B, 68, 2]` float32 (x, y) pixels of an image of
      ``image_size``.
    image_size: R.
    reference_pixels: return raw pixels (the reference's 0-R coordinates).

  Returns:
    `[B, 136]` float32: ``2·p/R − 1`` (in [−1, 1] inside the image), or the
    pixels, flattened (x0, y0, x1, ...).
  """
  keypoints = tf.cast(keypoints, tf.float32)
  if not reference_pixels:
    keypoints = 2.0 * keypoints / float(image_size) - 1.0
  return tf.reshape(keypoints, [-1, KEYPOINT_SIZE])


def detector_input(images: tf.Tensor, reference_bug: bool = False
                   ) -> tf.Tensor:
  """What a landmark detector is fed for a [−1, 1] image.

  tfface's detectors take [−1, 1] images (:mod:`tfface.analysis`). The
  reference fed ``image·255`` to a detector expecting 0-255 where the image
  was in [−1, 1]; the same error in tfface's units is ``2·image − 1``
  (``reference_bug=True``).
  """
  return 2.0 * images - 1.0 if reference_bug else images


def gradient_penalty(critic: Callable, real: Tuple[tf.Tensor, tf.Tensor],
                     fake: Tuple[tf.Tensor, tf.Tensor], seed: tf.Tensor
                     ) -> tf.Tensor:
  """WGAN-GP on joint (z, c) interpolates: ``mean (‖∇C(x̃)‖ − 1)²``.

  Args:
    critic: ``(z, c) -> [B, 1]``.
    real, fake: ``(z [B, Z], c [B, K])`` pairs.
    seed: stateless seed of the interpolation weights.
  """
  batch = tf.shape(real[0])[0]
  eps = tf.random.stateless_uniform([batch, 1], seed)
  z = real[0] + eps * (tf.stop_gradient(fake[0]) - real[0])
  c = real[1] + eps * (tf.stop_gradient(fake[1]) - real[1])
  with tf.GradientTape() as tape:
    tape.watch([z, c])
    score = tf.reduce_sum(critic(z, c))
  gz, gc = tape.gradient(score, [z, c])
  norm = tf.sqrt(tf.reduce_sum(tf.square(gz), -1) +
                 tf.reduce_sum(tf.square(gc), -1) + 1e-12)
  return tf.reduce_mean(tf.square(norm - 1.0))


@gin.configurable
class KeypointMapperMethod(training.TrainingMethod):
  """R(z, c) and its WGAN-GP critic on a frozen autoencoder's codes.

  Args:
    autoencoder: the frozen autoencoder (weights file or run directory; a
      :class:`DecoderFinetuneMethod` run gives the fine-tuned decoder); kept
      in the checkpoint.
    mapper_layers, critic_layers: 3 and 4 (``configs/rotation.yaml``).
    critic_norm: ``"layer"``, ``"batch"`` (the reference) or ``"none"``.
    learning_rate, beta_1, beta_2: Adam of both (1e-3, 0, 0.99).
    gp_weight: λ_gp (10; 0 disables the penalty).
    adversarial_weight, target_weight, cycle_weight: weights of R's terms
      (1, 1, 1 as the reference).
    cycle: ``"cross"`` (the code's R(z_t, c_s) ≈ z_s) or ``"paper"``
      (eq. 14's R(R(z_s, c_t), c_s) ≈ z_s).
    critic_real: the critic's real pair: ``"source"`` (the reference) or
      ``"target"``.
    critic_steps: critic updates per mapper update (1).
    reference_cancelled_gradient: the reference's summed backward passes.
    reference_pixel_keypoints: feed raw pixel keypoints.
    reference_relu_output: R's final ReLU.
    num_image_samples: faces in the TensorBoard grids.
    optimizer: optional ``(name=) -> optimizer`` factory for both.
  """

  def __init__(self, autoencoder: str = gin.REQUIRED,
               mapper_layers: int = 3, critic_layers: int = 4,
               critic_norm: str = "layer", learning_rate: float = 1e-3,
               beta_1: float = 0.0, beta_2: float = 0.99,
               gp_weight: float = 10.0, adversarial_weight: float = 1.0,
               target_weight: float = 1.0, cycle_weight: float = 1.0,
               cycle: str = "cross", critic_real: str = "source",
               critic_steps: int = 1,
               reference_cancelled_gradient: bool = False,
               reference_pixel_keypoints: bool = False,
               reference_relu_output: bool = False,
               num_image_samples: int = 6,
               optimizer: Optional[Callable] = None):
    if cycle not in CYCLES:
      raise ValueError(f"KeypointMapperMethod.cycle must be one of {CYCLES}, "
                       f"got {cycle!r}")
    if critic_real not in CRITIC_REAL:
      raise ValueError(f"KeypointMapperMethod.critic_real must be one of "
                       f"{CRITIC_REAL}, got {critic_real!r}")
    if isinstance(critic_steps, bool) or not isinstance(critic_steps, int) or (
        critic_steps < 1):
      raise ValueError(f"KeypointMapperMethod.critic_steps must be an int >= "
                       f"1, got {critic_steps!r}")
    if reference_cancelled_gradient and critic_steps != 1:
      raise ValueError("KeypointMapperMethod: reference_cancelled_gradient "
                       "updates both networks from one pass; critic_steps "
                       "must be 1")
    self.autoencoder_path = autoencoder
    self.mapper_layers, self.critic_layers = mapper_layers, critic_layers
    self.critic_norm = critic_norm
    self.learning_rate, self.beta_1, self.beta_2 = learning_rate, beta_1, beta_2
    self.gp_weight = gp_weight
    self.adversarial_weight = adversarial_weight
    self.target_weight, self.cycle_weight = target_weight, cycle_weight
    self.cycle, self.critic_real = cycle, critic_real
    self.critic_steps = critic_steps
    self.reference_cancelled_gradient = reference_cancelled_gradient
    self.reference_pixel_keypoints = reference_pixel_keypoints
    self.reference_relu_output = reference_relu_output
    self.num_image_samples = num_image_samples
    self.optimizer_factory = optimizer
    self.seed = 0

  def build(self) -> None:
    self.autoencoder_model = codes_lib.load_autoencoder(self.autoencoder_path)
    self.image_size = int(self.autoencoder_model.image_size)
    z = int(self.autoencoder_model.code_size)
    self.code_size = z
    self.mapper = nets.KeypointMapper(z, KEYPOINT_SIZE, self.mapper_layers,
                                      self.reference_relu_output,
                                      name="mapper")
    self.critic = nets.KeypointCritic(z, KEYPOINT_SIZE, self.critic_layers,
                                      self.critic_norm, name="critic")
    zeros = (tf.zeros([2, z]), tf.zeros([2, KEYPOINT_SIZE]))
    self.mapper(*zeros)
    self.critic(*zeros)
    adam = dict(learning_rate=self.learning_rate, beta_1=self.beta_1,
                beta_2=self.beta_2, epsilon=1e-8)
    self.mapper_optimizer = optimizers.make_optimizer(
        self.optimizer_factory, name="mapper_optimizer",
        variables=self.mapper.trainable_variables, **adam)
    self.critic_optimizer = optimizers.make_optimizer(
        self.optimizer_factory, name="critic_optimizer",
        variables=self.critic.trainable_variables, **adam)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    n = max(1, min(self.num_image_samples, self.global_batch_size // replicas))
    agg = tf.VariableAggregation.ONLY_FIRST_REPLICA
    self.samples = {
        name: tf.Variable(tf.zeros(shape), trainable=False, aggregation=agg,
                          name=f"sample_{name}")
        for name, shape in (("z_source", [n, z]), ("z_target", [n, z]),
                            ("keypoints_target", [n, NUM_KEYPOINTS, 2]))}

  def checkpoint_items(self) -> Dict[str, tf.Module]:
    return {"mapper": self.mapper, "critic": self.critic,
            "autoencoder": self.autoencoder_model,
            "mapper_optimizer": self.mapper_optimizer,
            "critic_optimizer": self.critic_optimizer}

  # -- the losses ------------------------------------------------------------

  def normalize(self, keypoints: tf.Tensor) -> tf.Tensor:
    """Pixel keypoints `[B, 68, 2]` -> R's input `[B, 136]`."""
    return normalize_keypoints(keypoints, self.image_size,
                               self.reference_pixel_keypoints)

  def map(self, z: tf.Tensor, keypoints: tf.Tensor) -> tf.Tensor:
    """R(z, c) in inference mode; ``keypoints`` in pixels."""
    return self.mapper(z, self.normalize(keypoints), training=False)

  def _inputs(self, batch):
    return (batch["z_source"], self.normalize(batch["keypoints_source"]),
            batch["z_target"], self.normalize(batch["keypoints_target"]))

  def critic_loss(self, batch, fake: tf.Tensor) -> Dict[str, tf.Tensor]:
    """L_C for R's output ``fake`` = R(z_s, c_t) (call under a tape)."""
    zs, cs, zt, ct = self._inputs(batch)
    real = (zs, cs) if self.critic_real == "source" else (zt, ct)
    fake_score = self.critic(fake, ct, training=True)
    real_score = self.critic(*real, training=True)
    out = {"critic_wasserstein": (tf.reduce_mean(fake_score) -
                                  tf.reduce_mean(real_score)),
           "critic_real_score": tf.reduce_mean(real_score),
           "critic_fake_score": tf.reduce_mean(fake_score)}
    if self.gp_weight:
      out["critic_gp"] = gradient_penalty(
          lambda z, c: self.critic(z, c, training=True), real, (fake, ct),
          training.step_seed(self.seed, self.global_step, _SALT_GP))
    else:
      out["critic_gp"] = tf.constant(0.0)
    out["critic_total"] = (out["critic_wasserstein"] +
                           self.gp_weight * out["critic_gp"])
    return out

  def mapper_loss(self, batch, fake: tf.Tensor) -> Dict[str, tf.Tensor]:
    """L_R for ``fake`` = R(z_s, c_t) (call under a tape)."""
    zs, cs, zt, ct = self._inputs(batch)
    adversarial = -tf.reduce_mean(self.critic(fake, ct, training=True))
    back = fake if self.cycle == "paper" else zt
    cycled = self.mapper(back, cs, training=True)
    out = {"mapper_adversarial": adversarial,
           "mapper_target_l1": tf.reduce_mean(tf.abs(fake - zt)),
           "mapper_cycle_l1": tf.reduce_mean(tf.abs(cycled - zs))}
    out["mapper_total"] = (self.adversarial_weight * adversarial +
                           self.target_weight * out["mapper_target_l1"] +
                           self.cycle_weight * out["mapper_cycle_l1"])
    return out

  def _fake(self, batch):
    zs, _, _, ct = self._inputs(batch)
    return self.mapper(zs, ct, training=True)

  def _reference_gradients(self, batch, scale):
    """The reference's update: ∂(L_C + L_R) for both networks, one pass."""
    with tf.GradientTape(persistent=True) as tape:
      fake = self._fake(batch)
      out = self.critic_loss(batch, fake)
      out.update(self.mapper_loss(batch, fake))
      total = out["critic_total"] + out["mapper_total"]
    critic_grads = tape.gradient(total, self.critic.trainable_variables,
                                 output_gradients=scale)
    mapper_grads = tape.gradient(total, self.mapper.trainable_variables,
                                 output_gradients=scale)
    del tape
    return critic_grads, mapper_grads, out

  def _critic_gradients(self, batch, scale):
    with tf.GradientTape() as tape:
      out = self.critic_loss(batch, tf.stop_gradient(self._fake(batch)))
    return tape.gradient(out["critic_total"], self.critic.trainable_variables,
                         output_gradients=scale), out

  def _mapper_gradients(self, batch, scale):
    with tf.GradientTape() as tape:
      out = self.mapper_loss(batch, self._fake(batch))
    return tape.gradient(out["mapper_total"], self.mapper.trainable_variables,
                         output_gradients=scale), out

  def mapper_update_gradients(self, batch) -> Sequence[tf.Tensor]:
    """The gradients R's optimizer is given for ``batch`` (unscaled).

    With the fix, the adversarial term's gradient is in them; with
    ``reference_cancelled_gradient`` it cancels (with the L1 weights at 0
    they are all zero).
    """
    one = tf.constant(1.0)
    if self.reference_cancelled_gradient:
      return self._reference_gradients(batch, one)[1]
    return self._mapper_gradients(batch, one)[0]

  def train_step(self, batch) -> Dict[str, tf.Tensor]:
    scale = tf.constant(gradients.replica_loss_scale())
    critic_vars = self.critic.trainable_variables
    mapper_vars = self.mapper.trainable_variables
    if self.reference_cancelled_gradient:
      critic_grads, mapper_grads, out = self._reference_gradients(batch, scale)
      self.critic_optimizer.apply_gradients(zip(critic_grads, critic_vars))
      self.mapper_optimizer.apply_gradients(zip(mapper_grads, mapper_vars))
    else:
      for _ in range(self.critic_steps):
        critic_grads, out = self._critic_gradients(batch, scale)
        self.critic_optimizer.apply_gradients(zip(critic_grads, critic_vars))
      mapper_grads, mapper_out = self._mapper_gradients(batch, scale)
      self.mapper_optimizer.apply_gradients(zip(mapper_grads, mapper_vars))
      out.update(mapper_out)
    for name, variable in self.samples.items():
      variable.assign(batch[name][:variable.shape[0]])
    return out

  # -- inspection and export -------------------------------------------------------

  def image_summaries(self) -> Dict[str, tf.Tensor]:
    ae = self.autoencoder_model
    decode = lambda z: tf.clip_by_value(ae.decode(z), -1.0, 1.0)  # noqa: E731
    s = {k: tf.convert_to_tensor(v) for k, v in self.samples.items()}
    return {"source_mean_identity": decode(s["z_source"]),
            "target": decode(s["z_target"]),
            "mapped": decode(self.map(s["z_source"], s["keypoints_target"]))}

  def keypoint_convention(self) -> str:
    if self.reference_pixel_keypoints:
      return "R sees raw pixel coordinates (the reference's convention)"
    return "R sees 2 * pixels / image_size - 1"

  def export_signatures(self):
    from tfface.methods.latent import export  # pylint: disable=g-import-not-at-top
    module = export.KeypointModule(self.autoencoder_model, self.mapper,
                                   self.normalize, self.keypoint_convention())
    return module, module.signatures()


def decoder_network(autoencoder) -> tf.keras.layers.Layer:
  """The network ``decode`` runs: ``decoder`` (ACAI, the baseline) or
  ``generator`` (ALAE's G).

  Raises:
    ValueError: the autoencoder has neither.
  """
  for name in ("decoder", "generator"):
    layer = getattr(autoencoder, name, None)
    if isinstance(layer, tf.keras.layers.Layer):
      return layer
  raise ValueError(f"DecoderFinetuneMethod: the autoencoder "
                   f"{type(autoencoder).__name__} has no decoder (or generator) "
                   "network to fine-tune")


@gin.configurable
class DecoderFinetuneMethod(training.TrainingMethod):
  """Fine-tunes a frozen autoencoder's decoder on some identities (VGG loss).

  Args:
    autoencoder: the autoencoder to start from (its ``decoder`` network, as
      ACAI and the baseline have, or ``generator``, as ALAE; see
      :func:`decoder_network`). Its ``decode`` runs in inference mode (no
      dropout or noise in these decoders).
    learning_rate, beta_1, beta_2: Adam (1e-4, 0, 0.99).
    level_weights: weights of relu1_1, relu2_1, relu3_1 (1, 1/4, 1/8).
    pixel_weight: weight of a pixel MSE added to the perceptual loss (0 as
      the reference; use it with random VGG features).
    vgg_weights, vgg_width, perceptual_feature_scale: see
      :class:`tfface.methods.latent.acai.LevelPerceptualLoss`.
    optimizer: optional ``(name=) -> optimizer`` factory.
  """

  def __init__(self, autoencoder: str = gin.REQUIRED,
               learning_rate: float = 1e-4, beta_1: float = 0.0,
               beta_2: float = 0.99,
               level_weights: Sequence[float] = FINETUNE_WEIGHTS,
               pixel_weight: float = 0.0, vgg_weights: Optional[str] = None,
               vgg_width: float = 1.0,
               perceptual_feature_scale: float = acai_lib.CAFFE_TO_STANDARDISED,
               optimizer: Optional[Callable] = None):
    self.autoencoder_path = autoencoder
    self.learning_rate, self.beta_1, self.beta_2 = learning_rate, beta_1, beta_2
    self.level_weights = tuple(level_weights)
    self.pixel_weight = pixel_weight
    self.vgg_weights, self.vgg_width = vgg_weights, vgg_width
    self.perceptual_feature_scale = perceptual_feature_scale
    self.optimizer_factory = optimizer

  def build(self) -> None:
    ae = codes_lib.load_autoencoder(self.autoencoder_path)
    decoder = decoder_network(ae)
    ae.trainable = True
    for layer in vars(ae).values():  # everything but the decoder stays frozen
      if isinstance(layer, tf.keras.layers.Layer) and layer is not decoder:
        layer.trainable = False
    self.model = ae
    self.decoder = decoder
    self.perceptual = acai_lib.LevelPerceptualLoss(
        FINETUNE_LAYERS, self.level_weights, self.vgg_weights, self.vgg_width,
        self.perceptual_feature_scale)
    self.perceptual.build(int(ae.image_size))
    self.optimizer = optimizers.make_optimizer(
        self.optimizer_factory, name="decoder_optimizer",
        learning_rate=self.learning_rate, beta_1=self.beta_1,
        beta_2=self.beta_2, epsilon=1e-8,
        variables=decoder.trainable_variables)

  def checkpoint_items(self) -> Dict[str, tf.Module]:
    return {"autoencoder": self.model, "decoder_optimizer": self.optimizer}

  def autoencoder(self):
    """The autoencoder with the fine-tuned decoder."""
    return self.model

  def train_step(self, batch) -> Dict[str, tf.Tensor]:
    images = batch["image"]
    z = tf.stop_gradient(self.model.encode(images))
    with tf.GradientTape() as tape:
      decoded = self.model.decode(z)
      out = {"perceptual": self.perceptual(images, decoded),
             "pixel_mse": tf.reduce_mean(tf.square(0.5 * (images - decoded)))}
      total = out["perceptual"] + self.pixel_weight * out["pixel_mse"]
    training.minimize(tape, self.optimizer, total,
                      self.decoder.trainable_variables)
    out["total"] = total
    return out

  def export_signatures(self):
    from tfface.methods.latent import export  # pylint: disable=g-import-not-at-top
    module = export.AutoencoderModule(self.model, method="latent_finetuned")
    return module, module.signatures()
