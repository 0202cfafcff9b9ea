"""GAN losses and regularizers, named as in TF-GAN.

Logits are `[B, 1]` or `[B]` float32; every loss returns a scalar float32 mean
over the (per-replica) batch.

* non-saturating logistic (StyleGAN2), hinge, Wasserstein;
* :func:`r1_penalty` (Mescheder et al. 2018; StyleGAN2 uses γ = 10, applied
  lazily every 16 discriminator steps);
* :func:`path_length_penalty` (StyleGAN2 §3.2; weight 2, every 4 generator
  steps, EMA decay 0.01 of the target length);
* :func:`lazy_regularization_adjustment` for the learning rate and Adam betas
  when a regularizer runs every k-th step (StyleGAN2 Appendix B).
"""

from typing import Callable, Optional, Tuple

import tensorflow as tf


def _flat(logits: tf.Tensor) -> tf.Tensor:
  return tf.reshape(tf.convert_to_tensor(logits), [-1])


def non_saturating_logistic_generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
  """``mean softplus(−D(G(z)))``."""
  return tf.reduce_mean(tf.nn.softplus(-_flat(fake_logits)))


def non_saturating_logistic_discriminator_loss(real_logits: tf.Tensor,
                                               fake_logits: tf.Tensor
                                               ) -> tf.Tensor:
  """``mean softplus(−D(x)) + mean softplus(D(G(z)))``."""
  return (tf.reduce_mean(tf.nn.softplus(-_flat(real_logits))) +
          tf.reduce_mean(tf.nn.softplus(_flat(fake_logits))))


def hinge_generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
  """``−mean D(G(z))``."""
  return -tf.reduce_mean(_flat(fake_logits))


def hinge_discriminator_loss(real_logits: tf.Tensor,
                             fake_logits: tf.Tensor) -> tf.Tensor:
  """``mean relu(1 − D(x)) + mean relu(1 + D(G(z)))``."""
  return (tf.reduce_mean(tf.nn.relu(1.0 - _flat(real_logits))) +
          tf.reduce_mean(tf.nn.relu(1.0 + _flat(fake_logits))))


def wasserstein_generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
  """``−mean D(G(z))``."""
  return -tf.reduce_mean(_flat(fake_logits))


def wasserstein_discriminator_loss(real_logits: tf.Tensor,
                                   fake_logits: tf.Tensor) -> tf.Tensor:
  """``mean D(G(z)) − mean D(x)``."""
  return tf.reduce_mean(_flat(fake_logits)) - tf.reduce_mean(_flat(real_logits))


def r1_penalty(discriminator_fn: Callable[[tf.Tensor], tf.Tensor],
               real_images: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
  """R1: the squared gradient norm of D at the real images.

  ``mean_b ||∂ sum(D(x)) / ∂x_b||²``. Differentiable w.r.t. D's weights (use
  it inside the discriminator's tape). The StyleGAN2 loss term is
  ``γ / 2 · r1_penalty · d_reg_every``.

  Args:
    discriminator_fn: images `[B, H, W, 3]` -> logits `[B, 1]`.
    real_images: `[B, H, W, 3]` float32.

  Returns:
    ``(penalty, real_logits)``: scalar float32 and `[B, 1]` logits.
  """
  real_images = tf.convert_to_tensor(real_images)
  with tf.GradientTape() as tape:
    tape.watch(real_images)
    logits = discriminator_fn(real_images)
    total = tf.reduce_sum(logits)
  grad = tape.gradient(total, real_images)
  penalty = tf.reduce_mean(tf.reduce_sum(
      tf.square(tf.reshape(grad, [tf.shape(grad)[0], -1])), axis=1))
  return penalty, logits


def path_length_penalty(synthesis_fn: Callable[[tf.Tensor], tf.Tensor],
                        ws: tf.Tensor, mean_path_length: tf.Tensor,
                        decay: float = 0.01,
                        seed: Optional[tf.Tensor] = None
                        ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """StyleGAN2's path-length regularizer.

  With ``y ~ N(0, I) / sqrt(H·W)``, ``J_w^T y = ∂ sum(G(w)·y) / ∂w``; the
  path length per sample is ``sqrt(mean_over_ws(sum_d (J_w^T y)²))``. The
  target ``a`` is an EMA of the mean length: ``a' = a + decay·(mean − a)``;
  the penalty is ``mean_b (length_b − a')²`` (``a'`` is a constant).

  Args:
    synthesis_fn: ws `[B, num_ws, D]` -> images `[B, H, W, C]`.
    ws: `[B, num_ws, D]` float32 (the mapping outputs, not detached).
    mean_path_length: scalar, the current target ``a``.
    decay: EMA rate (0.01).
    seed: `[2]` int32 stateless seed for ``y`` (else stateful random).

  Returns:
    ``(penalty, new_mean_path_length, path_lengths)``: scalar, scalar
    (assign it to the tracked target), `[B]`.
  """
  ws = tf.convert_to_tensor(ws)
  with tf.GradientTape() as tape:
    tape.watch(ws)
    images = synthesis_fn(ws)
    shape = tf.shape(images)
    if seed is None:
      noise = tf.random.normal(shape)
    else:
      noise = tf.random.stateless_normal(shape, seed)
    noise = noise / tf.sqrt(tf.cast(shape[1] * shape[2], tf.float32))
    total = tf.reduce_sum(images * noise)
  grad = tape.gradient(total, ws)
  lengths = tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(grad), axis=2),
                                   axis=1))
  mean_path_length = tf.convert_to_tensor(mean_path_length, tf.float32)
  new_mean = tf.stop_gradient(
      mean_path_length + decay * (tf.reduce_mean(lengths) - mean_path_length))
  penalty = tf.reduce_mean(tf.square(lengths - new_mean))
  return penalty, new_mean, lengths


def lazy_regularization_adjustment(learning_rate: float, beta_1: float,
                                   beta_2: float, reg_every: int
                                   ) -> Tuple[float, float, float]:
  """Adam settings when a regularizer takes an extra step every ``reg_every``.

  With ``c = reg_every / (reg_every + 1)``: ``(lr·c, beta_1**c, beta_2**c)``
  (StyleGAN2 Appendix B). ``reg_every <= 0`` (no lazy regularization)
  returns the inputs.
  """
  if reg_every <= 0:
    return learning_rate, beta_1, beta_2
  c = reg_every / (reg_every + 1.0)
  return learning_rate * c, beta_1**c, beta_2**c


def r1_weight(gamma: float = 10.0, reg_every: int = 16) -> float:
  """The multiplier of :func:`r1_penalty` on a lazy step: ``γ/2 · reg_every``."""
  return 0.5 * gamma * max(1, reg_every)


def path_length_weight(weight: float = 2.0, reg_every: int = 4) -> float:
  """The multiplier of :func:`path_length_penalty` on a lazy step."""
  return weight * max(1, reg_every)


