"""Conditional latent GANs over a frozen autoencoder's codes (cGAN, prGAN, AC-GAN).

The ``gans`` branch of ``ivanvovk/controllable-face-generation`` (facts in
``shared/reference/alae.md`` §2.3): an *editing* GAN on codes. The generator
takes a real code z (of a face with condition y_s) and a target condition
y_t and returns an edited code G(z, y_t); the discriminator tells real
(code, condition) pairs from edited ones; a cycle term keeps the identity:
``L1(G(G(z, y_t), y_s), z)``. Edited faces are ``decode(G(encode(x), y_t))``.

Two models (``model``):

* ``"projection"`` (prGAN, ``prgan.ipynb``): a :class:`~tfface.networks.
  latent_conditional.ProjectionDiscriminator` with spectral norm, hinge loss
  (or non-saturating), Adam lr 1e-4 with β = (0, 0.9), cycle weight 1; with
  the cBN generator (the default) or the concat generator, which the
  reference trains with 5 D steps per G step (``d_steps``: G then updates on
  every ``d_steps``-th step);
* ``"acgan"`` (``acgan.ipynb``): the :class:`~tfface.networks.
  latent_conditional.ACGANDiscriminator` with a class head; D loss
  ``0.5·[(BCE(real, 1) + 0.5·CE(cls_real, y_s)) + (BCE(fake, 0) +
  0.5·CE(cls_fake, y_t))]``, G loss ``0.5·BCE(fake, 1) + CE(cls_fake, y_t) +
  10·cycle``; Adam β = (0, 0.99), lr 2e-4 for D's body and real/fake head and
  G, 2e-5 for the class head. A continuous condition replaces CE by MSE.

Target conditions: a uniformly random class (discrete), or the condition of
another face of the batch (continuous).

Deliberate changes (``reference_*`` switches reproduce the reference):

* ``reference_relu_output``: the reference's generators end in ReLU and
  cannot produce the negative entries of signed codes; here they end linear.
* ``reference_frozen_block2`` (AC-GAN): the notebook's optimizer lists D's
  ``block1``, ``critic`` and ``classifier`` but not ``block2``, which stays at
  its random initialisation; here it trains with ``block1``.

Dropout is the reference's (0.5 on the cBN generator's output and on the
projection discriminator's ψ; 0.8 / 0.5 in the AC-GAN generator; 0.5 in the
AC-GAN discriminator). BatchNorm statistics are per replica.

Losses logged: ``d_gan``, ``d_real_score``, ``d_fake_score``, ``g_gan``,
``g_cycle``, ``g_total``; AC-GAN adds ``d_class``, ``g_class``,
``d_class_accuracy`` (discrete).
"""

from typing import Callable, Dict, Optional

import gin
import numpy as np
import tensorflow as tf

from tfface import training
from tfface.losses import gan as gan_losses
from tfface.methods.latent import codes as codes_lib
from tfface.methods.latent import labels as labels_lib
from tfface.networks import latent_conditional as nets
from tfface.training import gradients
from tfface.training import optimizers

MODELS = ("projection", "acgan")
GENERATORS = ("cbn", "concat", "acgan")
_SALT_TARGET = 1


def cycle_loss(z: tf.Tensor, cycled: tf.Tensor) -> tf.Tensor:
  """``mean |G(G(z, y_t), y_s) − z|`` (the reference's L1 cycle)."""
  return tf.reduce_mean(tf.abs(cycled - z))


def random_targets(condition: labels_lib.Condition, labels: tf.Tensor,
                   seed: tf.Tensor) -> tf.Tensor:
  """Target conditions `[B, C]`: a uniform random class (one-hot), or the
  condition of the next face of the batch (continuous)."""
  if condition.discrete:
    batch = tf.shape(labels)[0]
    ids = tf.random.stateless_uniform([batch], seed, 0, condition.size,
                                      dtype=tf.int32)
    return tf.one_hot(ids, condition.size, dtype=tf.float32)
  return tf.roll(labels, shift=1, axis=0)


@gin.configurable
class ConditionalLatentGANMethod(training.TrainingMethod):
  """A conditional editing GAN on the codes of a frozen autoencoder.

  Args:
    autoencoder: the frozen autoencoder (weights file or run directory,
      :func:`tfface.methods.latent.codes.load_autoencoder`); kept in the
      checkpoint, so the run is self-contained.
    condition: the condition spec (:mod:`tfface.methods.latent.labels`); the
      dataset must use the same one.
    model: ``"projection"`` or ``"acgan"``.
    generator: ``"cbn"``, ``"concat"`` or ``"acgan"`` (the AC-GAN notebook's
      concat generator; the default for ``model="acgan"``).
    gan_loss: ``"hinge"`` or ``"non_saturating"`` (projection model).
    cycle_weight: λ of the cycle term (projection 1, AC-GAN 10).
    d_steps: discriminator steps per generator step.
    hidden: hidden width of G and D (default the code size, the reference's
      128).
    generator_dropout: the cBN output dropout / concat input dropout (0.5).
    discriminator_dropout: projection ψ / AC-GAN dropout (0.5).
    learning_rate, beta_1, beta_2: Adam (projection: 1e-4, 0, 0.9).
    classifier_learning_rate: AC-GAN class head (2e-5).
    reference_relu_output: the reference's final ReLU on G.
    reference_frozen_block2: the AC-GAN notebook's untrained ``block2``.
    num_image_samples: faces in the TensorBoard grids.
    optimizer: optional ``(name=) -> optimizer`` factory (all groups).
  """

  def __init__(self, autoencoder: str = gin.REQUIRED,
               condition: str = "hair_color", model: str = "projection",
               generator: Optional[str] = None, gan_loss: str = "hinge",
               cycle_weight: Optional[float] = None, d_steps: int = 1,
               hidden: Optional[int] = None, generator_dropout: float = 0.5,
               discriminator_dropout: float = 0.5,
               learning_rate: Optional[float] = None, beta_1: float = 0.0,
               beta_2: Optional[float] = None,
               classifier_learning_rate: float = 2e-5,
               reference_relu_output: bool = False,
               reference_frozen_block2: bool = False,
               num_image_samples: int = 6,
               optimizer: Optional[Callable] = None):
    if model not in MODELS:
      raise ValueError(f"ConditionalLatentGANMethod.model must be one of "
                       f"{MODELS}, got {model!r}")
    generator = generator or ("acgan" if model == "acgan" else "cbn")
    if generator not in GENERATORS:
      raise ValueError(f"ConditionalLatentGANMethod.generator must be one of "
                       f"{GENERATORS}, got {generator!r}")
    if gan_loss not in ("hinge", "non_saturating"):
      raise ValueError(f"ConditionalLatentGANMethod.gan_loss must be 'hinge' "
                       f"or 'non_saturating', got {gan_loss!r}")
    if isinstance(d_steps, bool) or not isinstance(d_steps, int) or d_steps < 1:
      raise ValueError(f"ConditionalLatentGANMethod.d_steps must be an int >= "
                       f"1, got {d_steps!r}")
    self.autoencoder_path = autoencoder
    self.condition = labels_lib.make_condition(condition)
    self.model, self.generator_kind, self.gan_loss = model, generator, gan_loss
    acgan = model == "acgan"
    self.cycle_weight = float(cycle_weight if cycle_weight is not None else
                              (10.0 if acgan else 1.0))
    self.d_steps = d_steps
    self.hidden = hidden
    self.generator_dropout = generator_dropout
    self.discriminator_dropout = discriminator_dropout
    self.learning_rate = float(learning_rate if learning_rate is not None else
                               (2e-4 if acgan else 1e-4))
    self.beta_1 = beta_1
    self.beta_2 = float(beta_2 if beta_2 is not None else
                        (0.99 if acgan else 0.9))
    self.classifier_learning_rate = classifier_learning_rate
    self.reference_relu_output = reference_relu_output
    self.reference_frozen_block2 = reference_frozen_block2
    self.num_image_samples = num_image_samples
    self.optimizer_factory = optimizer
    self.seed = 0

  # -- construction ---------------------------------------------------------

  def make_generator(self, code_size: int) -> tf.keras.Model:
    c = self.condition.size
    hidden = self.hidden or code_size
    relu = self.reference_relu_output
    if self.generator_kind == "cbn":
      return nets.CBNGenerator(code_size, c, hidden,
                               output_dropout=self.generator_dropout,
                               relu_output=relu, name="generator")
    if self.generator_kind == "concat":
      return nets.ConcatGenerator(code_size, c, embed_dim=hidden,
                                  input_dropout=self.generator_dropout,
                                  hidden=(hidden,), relu_output=relu,
                                  init="xavier", name="generator")
    # The AC-GAN notebook: Embedding(., 64), Dropout(0.8), 192 -> 128.
    embed = max(1, hidden // 2)
    return nets.ConcatGenerator(code_size, c, embed_dim=embed,
                                embed_relu=False, embed_bias=False,
                                input_dropout=0.8,
                                hidden=(code_size + embed, hidden),
                                hidden_dropout=0.5, relu_output=relu,
                                init="torch", name="generator")

  def build(self) -> None:
    self.autoencoder_model = codes_lib.load_autoencoder(self.autoencoder_path)
    z_size = int(self.autoencoder_model.code_size)
    self.code_size = z_size
    c = self.condition.size
    hidden = self.hidden or z_size
    self.generator = self.make_generator(z_size)
    self.generator(tf.zeros([2, z_size]), tf.zeros([2, c]))
    adam = dict(learning_rate=self.learning_rate, beta_1=self.beta_1,
                beta_2=self.beta_2, epsilon=1e-8)
    self.g_optimizer = optimizers.make_optimizer(
        self.optimizer_factory, name="g_optimizer",
        variables=self.generator.trainable_variables, **adam)
    if self.model == "projection":
      self.discriminator = nets.ProjectionDiscriminator(
          z_size, c, hidden, output_dropout=self.discriminator_dropout,
          name="discriminator")
      self.discriminator(tf.zeros([2, z_size]), tf.zeros([2, c]))
      self.d_variables = list(self.discriminator.trainable_variables)
      self.classifier_optimizer = None
    else:
      self.discriminator = nets.ACGANDiscriminator(
          z_size, c, hidden, dropout=self.discriminator_dropout,
          name="discriminator")
      self.discriminator(tf.zeros([2, z_size]))
      groups = self.discriminator.groups()
      self.d_variables = groups["block1"] + groups["critic"]
      if not self.reference_frozen_block2:
        self.d_variables += groups["block2"]
      self.classifier_variables = groups["classifier"]
      self.classifier_optimizer = optimizers.make_optimizer(
          self.optimizer_factory, name="classifier_optimizer",
          variables=self.classifier_variables,
          **dict(adam, learning_rate=self.classifier_learning_rate))
    self.d_optimizer = optimizers.make_optimizer(
        self.optimizer_factory, name="d_optimizer",
        variables=self.d_variables, **adam)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    n = max(1, min(self.num_image_samples, self.global_batch_size // replicas))
    self.sample_z = tf.Variable(
        tf.zeros([n, z_size]), trainable=False, name="sample_z",
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.sample_labels = tf.Variable(
        tf.zeros([n, c]), trainable=False, name="sample_labels",
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

  def checkpoint_items(self) -> Dict[str, tf.Module]:
    items = {"generator": self.generator, "discriminator": self.discriminator,
             "autoencoder": self.autoencoder_model,
             "g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}
    if self.classifier_optimizer is not None:
      items["classifier_optimizer"] = self.classifier_optimizer
    return items

  # -- the step ---------------------------------------------------------------

  def _class_loss(self, logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    if self.condition.discrete:
      return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
          labels, logits))
    return tf.reduce_mean(tf.square(logits - labels))

  def generator_losses(self, z, labels, targets) -> Dict[str, tf.Tensor]:
    """G's weighted terms (call under a tape)."""
    g, d = self.generator, self.discriminator
    fake = g(z, targets, training=True)
    cycled = g(fake, labels, training=True)
    terms = {"g_cycle": self.cycle_weight * cycle_loss(z, cycled)}
    if self.model == "projection":
      terms["g_gan"] = gan_losses.generator_loss(
          self.gan_loss, d(fake, targets, training=True))
    else:
      logits, classes = d(fake, training=True)
      terms["g_gan"] = 0.5 * gan_losses.non_saturating_logistic_generator_loss(
          logits)
      terms["g_class"] = self._class_loss(classes, targets)
    return terms

  def discriminator_losses(self, z, labels, fake, targets
                           ) -> Dict[str, tf.Tensor]:
    """D's terms and scores (call under a tape); ``d_total`` is D's loss."""
    d = self.discriminator
    if self.model == "projection":
      real_logits = d(z, labels, training=True)
      fake_logits = d(fake, targets, training=True)
      out = {"d_gan": gan_losses.discriminator_loss(self.gan_loss, real_logits,
                                                    fake_logits)}
      out["d_total"] = out["d_gan"]
    else:
      real_logits, real_classes = d(z, training=True)
      fake_logits, fake_classes = d(fake, training=True)
      out = {"d_gan": 0.5 * gan_losses.non_saturating_logistic_discriminator_loss(
          real_logits, fake_logits)}
      out["d_class"] = 0.5 * 0.5 * (self._class_loss(real_classes, labels) +
                                    self._class_loss(fake_classes, targets))
      out["d_total"] = out["d_gan"] + out["d_class"]
      if self.condition.discrete:
        out["d_class_accuracy"] = tf.reduce_mean(tf.cast(tf.equal(
            tf.argmax(real_classes, -1), tf.argmax(labels, -1)), tf.float32))
    out["d_real_score"] = tf.reduce_mean(real_logits)
    out["d_fake_score"] = tf.reduce_mean(fake_logits)
    return out

  def train_step(self, batch) -> Dict[str, tf.Tensor]:
    z, labels = batch["z"], batch["label"]
    targets = random_targets(
        self.condition, labels,
        training.step_seed(self.seed, self.global_step, _SALT_TARGET))
    # D step(s) on G's current edits.
    fake = tf.stop_gradient(self.generator(z, targets, training=True))
    with tf.GradientTape() as tape:
      out = self.discriminator_losses(z, labels, fake, targets)
    variables = list(self.d_variables)
    if self.classifier_optimizer is not None:
      variables += self.classifier_variables
    scale = tf.constant(gradients.replica_loss_scale())
    grads = tape.gradient(out["d_total"], variables, output_gradients=scale)
    n = len(self.d_variables)
    self.d_optimizer.apply_gradients(zip(grads[:n], self.d_variables))
    if self.classifier_optimizer is not None:
      self.classifier_optimizer.apply_gradients(
          zip(grads[n:], self.classifier_variables))
    out.pop("d_total")
    # G step (every d_steps-th step).
    with tf.GradientTape() as tape:
      terms = self.generator_losses(z, labels, targets)
      total = tf.add_n(list(terms.values()))
    g_vars = self.generator.trainable_variables
    if self.d_steps == 1:
      training.minimize(tape, self.g_optimizer, total, g_vars)
    else:
      grads = tape.gradient(total, g_vars, output_gradients=scale)
      due = tf.equal(self.global_step % self.d_steps, self.d_steps - 1)
      gradients.apply_if(due, self.g_optimizer, grads, g_vars)
    out.update(terms)
    out["g_total"] = total
    k = self.sample_z.shape[0]
    self.sample_z.assign(z[:k])
    self.sample_labels.assign(labels[:k])
    return out

  # -- inspection and export -------------------------------------------------------

  def edit(self, z: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """G(z, c) in inference mode: `[B, Z]`, `[B, C]` -> `[B, Z]`."""
    return self.generator(z, targets, training=False)

  def image_summaries(self) -> Dict[str, tf.Tensor]:
    z = tf.convert_to_tensor(self.sample_z)
    decode = lambda codes: tf.clip_by_value(  # noqa: E731
        self.autoencoder_model.decode(codes), -1.0, 1.0)
    out = {"reconstructions": decode(z)}
    n = int(z.shape[0])
    if self.condition.discrete:
      for k, name in enumerate(self.condition.classes):
        target = tf.one_hot(tf.fill([n], k), self.condition.size)
        out[f"edit_{name}"] = decode(self.edit(z, target))
    else:
      target = tf.roll(tf.convert_to_tensor(self.sample_labels), 1, axis=0)
      out["edit_partner_condition"] = decode(self.edit(z, target))
    return out

  def export_signatures(self):
    from tfface.methods.latent import export  # pylint: disable=g-import-not-at-top
    module = export.ConditionalModule(self.autoencoder_model, self.generator,
                                      self.condition, self.model)
    return module, module.signatures()


def sample_targets_numpy(condition: labels_lib.Condition, count: int,
                         seed: int = 0) -> np.ndarray:
  """Random target class ids `[N]` (discrete conditions), for evaluation."""
  rng = np.random.default_rng(seed)
  return rng.integers(0, condition.size, size=count)
