"""ConfigNet's loss terms (reference ``confignet/losses.py``).

The GAN terms are tfface's shared non-saturating logistic losses and R1
penalty (:mod:`tfface.losses.gan`), applied to **every** logit a discriminator
returns (D_R and D_S return one per block plus a final one), each with weight
1, as in the reference. ConfigNet-specific terms live here: the masked eye
loss, the latent regression (plain and batch-std normalized) and the domain
adversarial terms.
"""

from typing import Callable, Dict, Mapping, Optional, Sequence, Union

import tensorflow as tf

from tfface.losses import gan

Logits = Union[tf.Tensor, Mapping[str, tf.Tensor]]


def _as_list(logits: Logits):
  if isinstance(logits, Mapping):
    return [logits[k] for k in sorted(logits)]
  return [logits]


def generator_gan_loss(fake_logits: Logits) -> tf.Tensor:
  """Σ over outputs of the non-saturating G loss ``mean(softplus(-D(G)))``.

  Args:
    fake_logits: `[B, 1]` logits, or a dict name -> `[B, 1]`.

  Returns:
    scalar float32.
  """
  return tf.add_n([tf.reduce_mean(gan.non_saturating_logistic_generator_loss(l))
                   for l in _as_list(fake_logits)])


def discriminator_gan_loss(real_logits: Logits, fake_logits: Logits
                          ) -> tf.Tensor:
  """Σ over outputs of ``softplus(-D(real)) + softplus(D(fake))`` means."""
  real, fake = _as_list(real_logits), _as_list(fake_logits)
  if len(real) != len(fake):
    raise ValueError(f"real and fake logits differ in count: {len(real)} vs "
                     f"{len(fake)}")
  return tf.add_n([tf.reduce_mean(gan.non_saturating_logistic_discriminator_loss(r, f))
                   for r, f in zip(real, fake)])


def r1_penalty(discriminator: Callable[[tf.Tensor], Logits],
               real: tf.Tensor, gamma: float = 10.0,
               per_output: bool = True,
               output_names: Optional[Sequence[str]] = None):
  """R1 on real inputs: ``Σ_k γ/2 · mean_b ‖∂D_k(x_b)/∂x_b‖²``.

  With ``per_output`` (the reference), every output k of a multi-output
  discriminator gets its own penalty, which runs D once per output. Without
  it, the penalty is on the gradient of the summed logits (one D pass;
  cheaper, used by the CPU demo).

  Args:
    discriminator: maps ``real`` to logits (a tensor or dict of `[B, 1]`).
    real: `[B, ...]` real inputs (images or latents).
    gamma: R1 weight γ (10 in the reference).
    per_output: see above.
    output_names: the dict keys of the discriminator's outputs, if known
      (saves one discriminator pass when ``per_output``).

  Returns:
    ``(penalty scalar, logits)`` — the logits of ``real`` (same structure as
    the discriminator's output), for the GAN loss.
  """
  if per_output and output_names:
    terms, outs = [], {}
    for key in sorted(output_names):
      term, outs[key] = gan.r1_penalty(
          lambda x, key=key: discriminator(x)[key], real)
      terms.append(term)
    return 0.5 * gamma * tf.add_n(terms), outs
  probe = {}

  def all_outputs(x):
    probe["logits"] = discriminator(x)
    return tf.add_n([tf.reduce_sum(l) for l in _as_list(probe["logits"])])

  penalty, _ = gan.r1_penalty(all_outputs, real)
  logits = probe["logits"]
  if per_output and isinstance(logits, Mapping) and len(logits) > 1:
    # The first pass only revealed the output names when they are not known.
    terms, outs = [], {}
    for key in sorted(logits):
      term, outs[key] = gan.r1_penalty(
          lambda x, key=key: discriminator(x)[key], real)
      terms.append(term)
    penalty, logits = tf.add_n(terms), outs
  return 0.5 * gamma * penalty, logits


def eye_loss(target: tf.Tensor, generated: tf.Tensor,
             mask: tf.Tensor) -> tf.Tensor:
  """Masked squared error on the eyes: ``Σ((gt−gen)·m)² / (1 + Σm)``.

  Args:
    target, generated: `[B, H, W, 3]` float32 in [-1, 1].
    mask: `[B, H, W, 1]` float32 in [0, 1] (the synthetic iris mask).

  Returns:
    scalar, the batch mean of the per-image loss.
  """
  diff = tf.square((target - generated) * mask)
  per_image = tf.reduce_sum(diff, [1, 2, 3]) / (
      1.0 + tf.reduce_sum(mask, [1, 2, 3]))
  return tf.reduce_mean(per_image)


def masked_l1(target: tf.Tensor, generated: tf.Tensor,
              mask: tf.Tensor) -> tf.Tensor:
  """Mean absolute error inside a mask: ``Σ|gt−gen|·m / (3·Σm)``.

  Args:
    target, generated: `[B, H, W, 3]` float32 in [-1, 1].
    mask: `[B, H, W, 1]` float32 in [0, 1].

  Returns:
    scalar, the batch mean of the per-image loss (0 for an empty mask).
  """
  per_image = tf.reduce_sum(tf.abs(target - generated) * mask, [1, 2, 3]) / (
      3.0 * tf.maximum(tf.reduce_sum(mask, [1, 2, 3]), 1.0))
  return tf.reduce_mean(per_image)


def regression_target(z: tf.Tensor, rotation: tf.Tensor) -> tf.Tensor:
  """The latent regressor's target ``[z, 5·rotation]``: `[B, Z + 3]`."""
  return tf.concat([z, 5.0 * rotation], axis=-1)


def latent_regression_loss(prediction: tf.Tensor, z: tf.Tensor,
                           rotation: tf.Tensor,
                           normalize: bool = False) -> tf.Tensor:
  """MSE of the regressor output against ``[z, 5·rotation]``.

  Args:
    prediction: `[B, Z + 3]`.
    z: `[B, Z]` the latents the images were generated from (the target; no
      gradient flows into it).
    rotation: `[B, 3]` radians.
    normalize: divide each z dimension by the batch std of the targets
      (stage 2 and fine-tuning); the rotation part is not normalized.

  Returns:
    scalar.
  """
  z = tf.stop_gradient(z)
  rotation = tf.stop_gradient(rotation)
  latent_dim = int(z.shape[-1])
  pred_z, pred_rot = prediction[:, :latent_dim], prediction[:, latent_dim:]
  err_z = pred_z - z
  if normalize:
    # Floored at 0.1: with small batches or a fresh E_R a latent dimension
    # can have almost no spread, and dividing by it explodes the loss (the
    # reference divides by the raw std).
    std = tf.math.reduce_std(z, axis=0, keepdims=True)
    err_z = err_z / tf.maximum(std, 0.1)
  err_rot = pred_rot - 5.0 * rotation
  return tf.reduce_mean(tf.concat([tf.square(err_z), tf.square(err_rot)], -1))


def domain_adversarial_generator_loss(logits_real_domain: tf.Tensor,
                                      logits_synthetic_domain: tf.Tensor
                                     ) -> tf.Tensor:
  """Stage 2's encoder term with flipped labels: E_R outputs labelled 0 and
  E_S outputs labelled 1, so both encoders move toward each other.

  Args:
    logits_real_domain: D_DA(E_R(x)) `[B, 1]`.
    logits_synthetic_domain: D_DA(E_S(θ)) `[B, 1]`.
  """
  return (tf.reduce_mean(tf.nn.softplus(logits_real_domain)) +
          tf.reduce_mean(tf.nn.softplus(-logits_synthetic_domain)))


def sum_losses(losses: Dict[str, tf.Tensor]) -> tf.Tensor:
  return tf.add_n(list(losses.values()))
