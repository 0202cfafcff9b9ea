"""The GAN step skeleton every adversarial method in tfface is built from.

A GAN step has four phases (the split of stylegan2-ada-pytorch's
``training/loss.py``): **D main** (the discriminator loss, with an eager R1
penalty when one is configured), **D reg** (a lazy R1 step every k steps),
**G main** (the generator loss plus the method's own terms) and **G reg**
(a lazy generator regularizer such as path length); then the G EMA update.

* :class:`DiscriminatorStep` runs D main and D reg for one discriminator
  (ConfigNet has three, StyleGAN2 one).
* :func:`generator_step` runs G main: it sums the terms a method returns
  (GAN terms, reconstruction terms, DiscoFaceGAN's imitative and contrastive
  terms, ...) and applies one optimizer step; :meth:`GANMethod.
  extra_generator_losses` is the hook a method derived from another adds
  its terms through.
* :func:`lazy_step` runs a G reg (or any lazy) phase.
* :class:`GANMethod` is a :class:`~tfface.training.method.TrainingMethod`
  with these pieces and the EMA update after each step.

R1 follows :mod:`tfface.losses.gan`'s one convention (``γ/2 · max(1, k) ·
E‖∇D‖²``). Every step applies gradients with
:func:`~tfface.training.gradients.minimize`, so it is correct under any
``tf.distribute`` strategy.
"""

from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

import tensorflow as tf

from tfface.losses import gan as gan_losses
from tfface.training import gradients
from tfface.training import method as method_lib
from tfface.training.ema import WeightEMA

Losses = Dict[str, tf.Tensor]


def discriminator_losses(critic: Callable[[tf.Tensor], tf.Tensor],
                         real: tf.Tensor, fake: tf.Tensor,
                         r1_gamma: float, loss: str = "non_saturating",
                         prefix: str = "d") -> Losses:
  """D main's losses with an eager R1, for methods that apply the gradient
  themselves (one branch per LOD: StyleALAE, DiscoFaceGAN).

  Args:
    critic: inputs `[B, ...]` -> logits `[B, 1]` (e.g. a discriminator bound
      to its LOD and α).
    real: `[B, ...]` real inputs.
    fake: `[B, ...]` generated inputs (pass them through stop_gradient).
    r1_gamma: R1 weight γ (0: no penalty).
    loss: GAN loss family.
    prefix: the returned names are ``<prefix>_total``, ``_gan``, ``_r1``,
      ``_real_score`` and ``_fake_score``.
  """
  if r1_gamma > 0:
    penalty, real_logits = gan_losses.r1_penalty(critic, real)
  else:
    real_logits, penalty = critic(real), tf.constant(0.0)
  fake_logits = critic(fake)
  gan_loss = gan_losses.discriminator_loss(loss, real_logits, fake_logits)
  total = gan_loss + gan_losses.r1_weight(r1_gamma, 0) * penalty
  return {f"{prefix}_total": total, f"{prefix}_gan": gan_loss,
          f"{prefix}_r1": penalty,
          f"{prefix}_real_score": tf.reduce_mean(real_logits),
          f"{prefix}_fake_score": tf.reduce_mean(fake_logits)}


class DiscriminatorStep:
  """D main (+ eager R1) and D reg (lazy R1) for one discriminator.

  Args:
    discriminator: inputs `[B, ...]` -> logits `[B, 1]` or a dict of them.
    optimizer: a built Keras optimizer for its trainable variables.
    loss: GAN loss family (``"non_saturating"``, ``"hinge"``,
      ``"wasserstein"``).
    r1_gamma: R1 weight γ (0: no R1).
    r1_every: 0 for an eager R1 in every D step (ConfigNet); k > 0 for a
      lazy R1 step every k-th step (StyleGAN2: 16).
    r1_per_output: with several outputs, one penalty per output (ConfigNet's
      reference) instead of one on their sum.
    joint_batch: one discriminator pass on ``concat([real, fake])`` instead
      of two (StyleGAN2's trainer does this).
    prefix: the returned losses are ``<prefix>_gan`` (the GAN loss),
      ``<prefix>_r1`` (the raw penalty; 0 on steps without R1) and, for
      single-output discriminators, ``<prefix>_real_score`` /
      ``<prefix>_fake_score`` (mean logits).
  """

  def __init__(self, discriminator: tf.keras.Model,
               optimizer: tf.keras.optimizers.Optimizer,
               loss: str = "non_saturating", r1_gamma: float = 10.0,
               r1_every: int = 0, r1_per_output: bool = False,
               joint_batch: bool = False, prefix: str = "d"):
    if r1_every < 0:
      raise ValueError(f"r1_every must be >= 0 (0: eager), got {r1_every}")
    self.discriminator = discriminator
    self.optimizer = optimizer
    self.loss = gan_losses.check_loss_kind(loss)
    self.r1_gamma = float(r1_gamma)
    self.r1_every = int(r1_every)
    self.r1_per_output = bool(r1_per_output)
    self.joint_batch = bool(joint_batch)
    self.prefix = prefix

  @property
  def eager_r1(self) -> bool:
    return self.r1_gamma > 0 and self.r1_every == 0

  @property
  def lazy_r1(self) -> bool:
    return self.r1_gamma > 0 and self.r1_every > 0

  def _r1(self, real):
    return gan_losses.r1_penalty(
        self.discriminator, real, per_output=self.r1_per_output,
        output_names=getattr(self.discriminator, "output_names_", None))

  def _logits(self, real, fake):
    d = self.discriminator
    if not self.joint_batch:
      return d(real), d(fake)
    n = tf.shape(real)[0]
    logits = d(tf.concat([real, fake], axis=0))
    return (tf.nest.map_structure(lambda l: l[:n], logits),
            tf.nest.map_structure(lambda l: l[n:], logits))

  def __call__(self, real: tf.Tensor, fake: tf.Tensor,
               step: Optional[tf.Tensor] = None) -> Losses:
    """One discriminator update (and its lazy R1 step when due).

    Args:
      real: `[B, ...]` real inputs.
      fake: `[B, ...]` generated inputs (no gradient reaches the generator).
      step: the global step (int64 scalar), needed for a lazy R1.

    Returns:
      The losses named as in the class docstring.
    """
    d = self.discriminator
    fake = tf.stop_gradient(fake)
    variables = d.trainable_variables
    with tf.GradientTape() as tape:
      if self.eager_r1:
        penalty, real_logits = self._r1(real)
        fake_logits = d(fake)
      else:
        real_logits, fake_logits = self._logits(real, fake)
      gan_loss = gan_losses.discriminator_loss(self.loss, real_logits,
                                               fake_logits)
      total = gan_loss
      if self.eager_r1:
        total = gan_loss + gan_losses.r1_weight(self.r1_gamma, 0) * penalty
    gradients.minimize(tape, self.optimizer, total, variables)
    p = self.prefix
    out = {f"{p}_gan": gan_loss}
    if not isinstance(real_logits, Mapping):
      out[f"{p}_real_score"] = tf.reduce_mean(real_logits)
      out[f"{p}_fake_score"] = tf.reduce_mean(fake_logits)
    if self.eager_r1:
      out[f"{p}_r1"] = penalty
    elif self.lazy_r1:
      if step is None:
        raise ValueError("a lazy R1 (r1_every > 0) needs the global step")
      weight = gan_losses.r1_weight(self.r1_gamma, self.r1_every)

      def r1_loss():
        penalty, logits = self._r1(real)
        # The zero term keeps D's last layer in the graph (as rosinality).
        keep = tf.add_n([tf.reduce_mean(l) for l in gan_losses.outputs(logits)])
        return weight * penalty + 0.0 * keep, penalty

      _, out[f"{p}_r1"] = lazy_step(step, self.r1_every, self.optimizer,
                                    variables, r1_loss)
    return out


def generator_step(optimizer: tf.keras.optimizers.Optimizer,
                   variables: Sequence[tf.Variable],
                   loss_fn: Callable[[], Losses],
                   total_name: str = "g_total") -> Losses:
  """G main: one optimizer step on the sum of the terms ``loss_fn`` returns.

  Args:
    optimizer: a built Keras optimizer for ``variables``.
    variables: the generator-side variables (G and whatever trains with it).
    loss_fn: runs the generator forward pass and returns its weighted loss
      terms by name (scalars, per-replica means); called under the tape.
    total_name: the name of their sum in the returned dict.

  Returns:
    The terms and their sum.
  """
  with tf.GradientTape() as tape:
    terms = dict(loss_fn())
    if not terms:
      raise ValueError("generator_step: loss_fn returned no loss terms")
    total = tf.add_n(list(terms.values()))
  gradients.minimize(tape, optimizer, total, variables)
  terms[total_name] = total
  return terms


def lazy_step(step: tf.Tensor, every: int,
              optimizer: tf.keras.optimizers.Optimizer,
              variables: Sequence[tf.Variable],
              loss_fn: Callable[[], Tuple[tf.Tensor, tf.Tensor]]
              ) -> Tuple[tf.Tensor, tf.Tensor]:
  """A regularization step taken only when ``step % every == 0``.

  Args:
    step: the global step, int64 scalar.
    every: k > 0.
    optimizer, variables: the group the regularizer updates.
    loss_fn: returns ``(weighted loss, aux)`` scalars.

  Returns:
    ``(loss, aux)`` on steps where it ran, zeros otherwise.
  """
  return gradients.conditional_minimize(
      tf.equal(step % every, 0), optimizer, variables, loss_fn)


class GANMethod(method_lib.TrainingMethod):
  """A training method made of the GAN phases above.

  Subclasses build their networks and a list of ``(source, ema_target,
  decay)`` pairs via :meth:`make_ema`; ``after_step`` updates every EMA.
  A method derived from another (DiscoFaceGAN from StyleGAN2, say) adds
  generator terms by overriding :meth:`extra_generator_losses`, which the
  parent's G main calls inside its tape.
  """

  def make_ema(self, source: tf.keras.Model, target: tf.keras.Model,
               decay: float) -> WeightEMA:
    """Starts an EMA of ``source`` in ``target`` (updated after each step)."""
    ema = WeightEMA(source, target, decay)
    if not hasattr(self, "_emas"):
      self._emas = []
    self._emas.append(ema)
    return ema

  def extra_generator_losses(self, batch, generated: Mapping[str, tf.Tensor]
                             ) -> Losses:
    """Weighted extra G terms, computed inside G main's tape.

    Args:
      batch: this replica's batch.
      generated: what G main produced (e.g. ``images``, ``ws``, ``latents``;
        each method documents its keys).

    Returns:
      name -> scalar; the default adds nothing.
    """
    del batch, generated
    return {}

  def after_step(self) -> None:
    for ema in getattr(self, "_emas", ()):
      ema.update()
