"""ConfigNet's own loss terms (reference ``confignet/losses.py``).

The GAN terms are tfface's shared losses, summed over **every** logit a
discriminator returns (D_R and D_S return one per block plus a final one),
each with weight 1, as in the reference: :func:`tfface.losses.gan.
generator_loss` / ``discriminator_loss`` with ``"non_saturating"`` and
:func:`tfface.losses.gan.r1_penalty` with ``per_output``. The eye loss and
the landmark-box terms are :mod:`tfface.losses.masked`'s. ConfigNet-specific
terms live here: the latent regression (plain and batch-std normalized) and
the domain-adversarial encoder term of stage 2.
"""

import tensorflow as tf


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
