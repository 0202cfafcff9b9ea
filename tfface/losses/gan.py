"""GAN losses and regularizers, named as in TF-GAN.

Logits are `[B, 1]` or `[B]` float32; every loss returns a scalar float32 mean
over the (per-replica) batch. A discriminator may also return several logits
(a dict name -> `[B, 1]`, as HoloGAN's per-block style outputs):
:func:`generator_loss` and :func:`discriminator_loss` sum a named loss over
them, and :func:`r1_penalty` penalizes their sum or each one.

One R1 convention everywhere: :func:`r1_penalty` is the raw
``E‖∇_x D(x)‖²``; the loss term is ``r1_weight(γ, k) · penalty`` with
``r1_weight = γ/2 · max(1, k)``, k = 0 for an eager penalty (every step, in
the discriminator loss) and k > 0 for a lazy one (every k-th step).

* non-saturating logistic (StyleGAN2), hinge, Wasserstein;
* :func:`r1_penalty` (Mescheder et al. 2018; StyleGAN2 uses γ = 10, applied
  lazily every 16 discriminator steps);
* :func:`path_length_penalty` (StyleGAN2 §3.2; weight 2, every 4 generator
  steps, EMA decay 0.01 of the target length);
* :func:`lazy_regularization_adjustment` for the learning rate and Adam betas
  when a regularizer runs every k-th step (StyleGAN2 Appendix B).
"""

from typing import Callable, List, Mapping, Optional, Sequence, Tuple, Union

import tensorflow as tf

# A discriminator's output: one `[B, 1]` tensor or a dict of them.
Logits = Union[tf.Tensor, Mapping[str, tf.Tensor]]


def _flat(logits: tf.Tensor) -> tf.Tensor:
  return tf.reshape(tf.cast(logits, tf.float32), [-1])


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


def outputs(logits: Logits) -> List[tf.Tensor]:
  """A discriminator's logits as a list (a dict's values in sorted key order)."""
  if isinstance(logits, Mapping):
    return [logits[k] for k in sorted(logits)]
  return [logits]


def r1_penalty(discriminator_fn: Callable[[tf.Tensor], Logits],
               real_images: tf.Tensor, per_output: bool = False,
               output_names: Optional[Sequence[str]] = None
               ) -> Tuple[tf.Tensor, Logits]:
  """R1: the squared gradient norm of D at the real inputs.

  ``mean_b ||∂ sum(D(x)) / ∂x_b||²`` (Mescheder et al. 2018). Differentiable
  w.r.t. D's weights (use it inside the discriminator's tape). The loss term
  is ``r1_weight(γ, k) · penalty``.

  For a discriminator with several outputs (a dict), the penalty is on the
  gradient of their sum (one pass), or with ``per_output`` the sum of one
  penalty per output (ConfigNet's reference; one D pass per output).

  Args:
    discriminator_fn: inputs `[B, ...]` -> logits `[B, 1]` or a dict of them.
    real_images: `[B, ...]` float32 (images or latent codes).
    per_output: penalize each output separately.
    output_names: the dict keys of the outputs, if known (saves one pass with
      ``per_output``).

  Returns:
    ``(penalty, real_logits)``: scalar float32 and D's output on the real
    inputs (same structure as the discriminator's).
  """
  real_images = tf.convert_to_tensor(real_images)

  def gradient_penalty(fn):
    with tf.GradientTape() as tape:
      tape.watch(real_images)
      logits = fn(real_images)
      total = tf.add_n([tf.reduce_sum(l) for l in outputs(logits)])
    grad = tape.gradient(total, real_images)
    penalty = tf.reduce_mean(tf.reduce_sum(
        tf.square(tf.reshape(grad, [tf.shape(grad)[0], -1])), axis=1))
    return penalty, logits

  def each_output(names):
    terms, logits = [], {}
    for key in sorted(names):
      term, logits[key] = gradient_penalty(
          lambda x, key=key: discriminator_fn(x)[key])
      terms.append(term)
    return tf.add_n(terms), logits

  if per_output and output_names:
    return each_output(output_names)
  penalty, logits = gradient_penalty(discriminator_fn)
  if per_output and isinstance(logits, Mapping) and len(logits) > 1:
    # The first pass only revealed the output names.
    return each_output(list(logits))
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
  """The multiplier of :func:`r1_penalty`: ``γ/2 · max(1, reg_every)``.

  ``reg_every`` 0 (eager: in every discriminator step) gives ``γ/2``; k > 0
  (lazy: every k-th step) gives ``γ/2 · k``.
  """
  return 0.5 * gamma * max(1, reg_every)


def path_length_weight(weight: float = 2.0, reg_every: int = 4) -> float:
  """The multiplier of :func:`path_length_penalty` on a lazy step."""
  return weight * max(1, reg_every)




GENERATOR_LOSSES = {
    "non_saturating": non_saturating_logistic_generator_loss,
    "hinge": hinge_generator_loss,
    "wasserstein": wasserstein_generator_loss,
}
DISCRIMINATOR_LOSSES = {
    "non_saturating": non_saturating_logistic_discriminator_loss,
    "hinge": hinge_discriminator_loss,
    "wasserstein": wasserstein_discriminator_loss,
}


def check_loss_kind(kind: str) -> str:
  """``kind`` if it names a GAN loss family, else a ValueError listing them."""
  if kind not in GENERATOR_LOSSES:
    raise ValueError(f"unknown GAN loss {kind!r}; expected one of "
                     f"{sorted(GENERATOR_LOSSES)}")
  return kind


def generator_loss(kind: str, fake_logits: Logits) -> tf.Tensor:
  """The ``kind`` generator loss, summed over D's outputs.

  Args:
    kind: ``"non_saturating"``, ``"hinge"`` or ``"wasserstein"``.
    fake_logits: D(G(z)), `[B, 1]` or a dict of `[B, 1]`.

  Returns:
    scalar float32.
  """
  fn = GENERATOR_LOSSES[check_loss_kind(kind)]
  return tf.add_n([fn(l) for l in outputs(fake_logits)])


def discriminator_loss(kind: str, real_logits: Logits,
                       fake_logits: Logits) -> tf.Tensor:
  """The ``kind`` discriminator loss, summed over D's outputs.

  Args:
    kind: as :func:`generator_loss`.
    real_logits, fake_logits: D(x), D(G(z)) of the same structure.

  Returns:
    scalar float32.
  """
  fn = DISCRIMINATOR_LOSSES[check_loss_kind(kind)]
  real, fake = outputs(real_logits), outputs(fake_logits)
  if len(real) != len(fake):
    raise ValueError(f"real and fake logits differ in count: {len(real)} vs "
                     f"{len(fake)}")
  return tf.add_n([fn(r, f) for r, f in zip(real, fake)])
