"""LiftedGAN's losses (seasonSH/LiftedGAN ``models/lifted_gan.py``,
``models/perc_loss.py``), gin-free pure functions.

* :func:`masked_l1`, :class:`CosinePerceptualLoss` and
  :func:`reconstruction_loss` (L1 + perceptual, the reconstruction, flip and
  perturbation terms);
* :func:`sample_perturbation` (the shuffled light and sampled view L', V');
* :func:`cycle_loss` (L_LVcyc on light and the view's rotation);
* :func:`identity_loss` (inside the yaw window, a safe masked mean);
* :func:`latent_prior_loss` (the Gaussian prior of w');
* :func:`albedo_rank_loss` (reg_A, the nuclear norm of the high-passed
  albedo batch);
* :func:`coupled_weight_decay` (torch Adam's L2 ``weight_decay``).
"""

import math
from typing import Callable, Optional, Sequence, Tuple

import tensorflow as tf

from tfface.rendering import depth_renderer as dr


def masked_l1(a: tf.Tensor, b: tf.Tensor,
              mask: Optional[tf.Tensor] = None) -> tf.Tensor:
  """mean|a − b|, or sum(|a − b| · M) / sum(M) with M broadcast over channels.

  Args:
    a, b: `[B, H, W, C]` float32.
    mask: `[B, H, W, 1]` float32 in {0, 1}, or None.

  Returns:
    scalar float32 (0 for an all-zero mask).
  """
  diff = tf.abs(a - b)
  if mask is None:
    return tf.reduce_mean(diff)
  mask = tf.broadcast_to(mask, tf.shape(diff))
  return tf.reduce_sum(diff * mask) / tf.maximum(tf.reduce_sum(mask), 1e-8)


class CosinePerceptualLoss:
  """LiftedGAN's multi-scale cosine perceptual loss (``perc_type='cosine'``).

  For each of ``num_scales`` scales (the images average-pooled ×2 between
  scales) and each feature map of ``features`` (relu2_2, relu3_3, relu4_3 of
  torchvision's VGG16): L2-normalise the features over channels, take
  Σ_c (f_a − f_b)² per position, and average it (masked by the mask
  average-pooled to the feature resolution, when given). The loss is the
  mean of the scale × layer terms.

  Args:
    features: images `[B, H, W, 3]` in [−1, 1] -> list of feature maps
      (:class:`~tfface.methods.liftedgan.networks.VGG16Features`).
    num_scales: 3.
  """

  def __init__(self, features: Callable[[tf.Tensor], Sequence[tf.Tensor]],
               num_scales: int = 3):
    if int(num_scales) < 1:
      raise ValueError(f"num_scales must be >= 1, got {num_scales!r}")
    self.features = features
    self.num_scales = int(num_scales)

  def __call__(self, a: tf.Tensor, b: tf.Tensor,
               mask: Optional[tf.Tensor] = None) -> tf.Tensor:
    """Scalar loss of `[B, H, W, 3]` images a, b (mask `[B, H, W, 1]`)."""
    batch = tf.shape(a)[0]
    images = tf.concat([a, b], 0)
    terms = []
    for scale in range(self.num_scales):
      if scale:
        images = tf.nn.avg_pool2d(images, 2, 2, "VALID")
      for f in self.features(images):
        terms.append(cosine_feature_distance(f[:batch], f[batch:], mask))
    return tf.add_n(terms) / float(len(terms))


def cosine_feature_distance(fa: tf.Tensor, fb: tf.Tensor,
                            mask: Optional[tf.Tensor] = None) -> tf.Tensor:
  """(Masked) mean over positions of Σ_c (f̂_a − f̂_b)², f̂ unit over channels.

  Args:
    fa, fb: `[B, h, w, C]` features.
    mask: `[B, H, W, 1]` at image resolution (H a multiple of h), or None.

  Returns:
    scalar float32.
  """
  fa = tf.math.l2_normalize(fa, -1, epsilon=1e-24)  # torch F.normalize eps 1e-12
  fb = tf.math.l2_normalize(fb, -1, epsilon=1e-24)
  d = tf.reduce_sum(tf.square(fa - fb), -1, keepdims=True)
  if mask is None:
    return tf.reduce_mean(d)
  factor = mask.shape[1] // d.shape[1]
  if factor > 1:
    mask = tf.nn.avg_pool2d(mask, factor, factor, "VALID")
  return tf.reduce_sum(d * mask) / tf.maximum(tf.reduce_sum(mask), 1e-8)


def reconstruction_loss(a, b, perceptual: Optional[CosinePerceptualLoss],
                        mask=None, perceptual_weight: float = 1.0):
  """L1_M(a, b) + perceptual_weight · Perc_M(a, b) (scalar)."""
  loss = masked_l1(a, b, mask)
  if perceptual is not None and perceptual_weight:
    loss += perceptual_weight * perceptual(a, b, mask)
  return loss


def sample_perturbation(light: tf.Tensor, seed: tf.Tensor,
                        yaw_range_degrees: float = 45.0,
                        pitch_range_degrees: float = 15.0,
                        rotation_range_degrees: float = 60.0
                        ) -> Tuple[tf.Tensor, tf.Tensor]:
  """LiftedGAN's ``perturb``: shuffled light and a random view.

  L' = [L[perm1, :2], L[perm2, 2:]] (strengths and direction shuffled over
  the batch independently); V' = [pitch, yaw, 0] / 60° with pitch ~
  U[−15°, 15°], yaw ~ U[−45°, 45°], tx = 0.2 · sin(yaw), ty = tz = 0
  (normalised units). Both stop-gradient.

  Args:
    light: `[B, 4]` predicted light.
    seed: `[2]` int32 stateless seed.
    yaw_range_degrees, pitch_range_degrees: the sampling half-ranges.
    rotation_range_degrees: the renderer's rotation for a view value of 1.

  Returns:
    light `[B, 4]`, view `[B, 6]`.
  """
  light = tf.stop_gradient(light)
  batch = tf.shape(light)[0]
  seeds = tf.random.experimental.stateless_split(seed, 4)
  perm1 = tf.argsort(tf.random.stateless_uniform([batch], seeds[0]))
  perm2 = tf.argsort(tf.random.stateless_uniform([batch], seeds[1]))
  new_light = tf.concat([tf.gather(light[:, :2], perm1),
                         tf.gather(light[:, 2:], perm2)], -1)
  pitch = tf.random.stateless_uniform(
      [batch], seeds[2], -pitch_range_degrees, pitch_range_degrees)
  yaw = tf.random.stateless_uniform(
      [batch], seeds[3], -yaw_range_degrees, yaw_range_degrees)
  zeros = tf.zeros_like(yaw)
  view = tf.stack([pitch / rotation_range_degrees,
                   yaw / rotation_range_degrees, zeros,
                   0.2 * tf.sin(yaw * (math.pi / 180.0)), zeros, zeros], -1)
  return new_light, view


def cycle_loss(light_estimate, light_target, view_estimate, view_target):
  """L_LVcyc = mean((L̃' − L')²) + mean((Ṽ'[:, :3] − V'[:, :3])²) (scalar).

  Only the rotation components of the view count; normalised tanh units.
  """
  return (tf.reduce_mean(tf.square(light_estimate - light_target)) +
          tf.reduce_mean(tf.square(view_estimate[:, :3] - view_target[:, :3])))


def yaw_window(view: tf.Tensor, max_yaw_degrees: float = 25.0,
               rotation_range_degrees: float = 60.0) -> tf.Tensor:
  """`[B]` float32 1 where −max < yaw < max (open interval), else 0."""
  yaw = view[:, 1] * rotation_range_degrees
  return tf.cast(tf.abs(yaw) < max_yaw_degrees, tf.float32)


def identity_loss(embedding_a: tf.Tensor, embedding_b: tf.Tensor,
                  window: tf.Tensor) -> tf.Tensor:
  """mean over the window of ‖f_a − f_b‖² (scalar).

  A masked sum divided by max(count, 1): an empty window gives 0 with finite
  (zero) gradients, where the reference's mean over an empty selection gives
  NaN.

  Args:
    embedding_a, embedding_b: `[B, D]` embeddings.
    window: `[B]` float32 in {0, 1} (:func:`yaw_window`).
  """
  d = tf.reduce_sum(tf.square(embedding_a - embedding_b), -1)
  return tf.reduce_sum(d * window) / tf.maximum(tf.reduce_sum(window), 1.0)


def latent_prior_loss(w: tf.Tensor, w_mu: tf.Tensor,
                      w_sigma_inv: tf.Tensor) -> tf.Tensor:
  """mean((w − w_mu)²) · w_sigma_inv, with w_sigma_inv = 1 / (2σ̄²) (scalar)."""
  return tf.reduce_mean(tf.square(w - w_mu)) * w_sigma_inv


def albedo_rank_loss(albedo: tf.Tensor, face_mask: tf.Tensor,
                     downsample: int = 4, blur_size: int = 10,
                     blur_sigma: float = 4.0) -> tf.Tensor:
  """reg_A: nuclear norm of the batch of high-passed grey albedos (scalar).

  g = mean_c(albedo); r = (g − GaussBlur(g)) · face_mask; avg_pool
  ``downsample``; K = reshape(r, [B, −1]); ‖K‖_* = Σ singular values.

  The gradient of Σσ is U Vᵀ (TensorFlow's SVD gradient with only the
  singular values used), defined for distinct and repeated values alike.

  Args:
    albedo: `[B, H, W, 3]` de-lit albedo.
    face_mask: `[B, H, W, 1]` in {0, 1} (depth <= 1.04).
    downsample: pooling factor (4).
    blur_size, blur_sigma: the Gaussian (10, 4).
  """
  grey = tf.reduce_mean(albedo, -1, keepdims=True)
  residual = (grey - dr.gaussian_blur(grey, blur_size, blur_sigma)) * face_mask
  if downsample > 1:
    residual = tf.nn.avg_pool2d(residual, downsample, downsample, "VALID")
  matrix = tf.reshape(residual, [tf.shape(residual)[0], -1])
  singular, _, _ = tf.linalg.svd(matrix, full_matrices=False, compute_uv=True)
  return tf.reduce_sum(singular)


def coupled_weight_decay(gradients, variables, decay: float,
                         scale: float = 1.0):
  """g + decay · scale · θ for each (g, θ): torch Adam's coupled L2 decay.

  Keras' AdamW decays decoupled (θ ← θ − lr·λ·θ); the reference's
  ``torch.optim.Adam(weight_decay=5e-4)`` adds λ·θ to the gradient before the
  moments, for every parameter (norm and ScaleShift weights and biases too).
  ``scale`` is the per-replica factor (1 / replicas) so that the optimizer's
  cross-replica sum adds λ·θ once. A None gradient becomes λ·scale·θ.
  """
  out = []
  for g, v in zip(gradients, variables):
    term = decay * scale * tf.convert_to_tensor(v)
    out.append(term if g is None else g + term)
  return out
