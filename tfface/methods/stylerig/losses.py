"""StyleRig's losses (Eq. 1 and A.4), gin-free.

Conventions: images `[B, H, W, 3]` float32 in [-1, 1]; masks `[B, H, W, 1]`
in [0, 1]; landmarks `[B, 68, 2]` (x, y) pixels; parameters ``p`` `[B, N]`
flat (a :class:`~tfface.methods.stylerig.networks.ParameterLayout`).
Every loss returns a scalar, the mean over the batch.

Normalisations (the paper writes plain squared L2 norms, ‖·‖²₂; the sums
are divided here so that the weights do not depend on the resolution, the
number of landmarks or the number of W+ entries):

* photometric: the squared RGB error summed over channels, averaged over the
  mask's pixels of each image (sum(M·|I − R|²) / max(sum M, 1));
* landmarks: the squared distance in units of the image side, averaged over
  the (weighted) points;
* RigNet reconstruction: the mean squared entry of ŵ − w.
"""

from typing import Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf


def photometric_loss(images: tf.Tensor, rendered: tf.Tensor,
                     mask: tf.Tensor) -> tf.Tensor:
  """L_photo: masked squared RGB error per mask pixel, batch mean.

  Args:
    images: `[B, H, W, 3]` the StyleGAN images I_w, in [-1, 1].
    rendered: `[B, H, W, 3]` the renderings R(p), in [-1, 1].
    mask: `[B, H, W, 1]` in [0, 1] (the rendered face's coverage, the
      parser's face mask or both; see the trainer's ``mask_mode``).

  Returns:
    scalar float32.
  """
  mask = tf.convert_to_tensor(mask, tf.float32)
  error = tf.reduce_sum(tf.square(images - rendered) * mask, axis=[1, 2, 3])
  area = tf.maximum(tf.reduce_sum(mask, axis=[1, 2, 3]), 1.0)
  return tf.reduce_mean(error / area)


def landmark_loss(target: tf.Tensor, predicted: tf.Tensor, image_size: int,
                  weights: Optional[Sequence[float]] = None) -> tf.Tensor:
  """L_land: squared landmark distance in image-side units, batch mean.

  Args:
    target: `[B, K, 2]` detected landmarks of I_w, pixels.
    predicted: `[B, K, 2]` projected mesh landmarks L_M, pixels.
    image_size: the image side in pixels (distances are divided by it).
    weights: optional `[K]` non-negative point weights (e.g. 0 for the two
      inner mouth corners 60, 64 to use the paper's 66 points); default 1.

  Returns:
    scalar float32: mean over the batch of Σ_k w_k |Δ_k / S|² / Σ_k w_k.
  """
  squared = tf.reduce_sum(tf.square((target - predicted) / float(image_size)),
                          axis=-1)  # [B, K]
  if weights is None:
    return tf.reduce_mean(squared)
  weights = tf.constant(np.asarray(weights, np.float32))
  return tf.reduce_mean(tf.reduce_sum(squared * weights, -1) /
                        tf.maximum(tf.reduce_sum(weights), 1e-8))


def statistical_regularizer(groups: Mapping[str, tf.Tensor],
                            weights: Mapping[str, float]) -> tf.Tensor:
  """The MoFA-style statistical prior Σ_g λ_g ‖p_g‖², batch mean.

  The face model's groups are (about) N(0, 1) PCA / shape modes, or
  blendshape weights whose prior is the neutral face (0), so ‖p_g‖² is the
  negative log-prior up to constants. The form and weights are not given
  by the paper ([—] in the reference notes); they are the trainer's
  ``regularizer_weights``.

  Args:
    groups: name -> `[B, n]` parameter groups.
    weights: name -> λ_g; groups without a weight are not regularised.

  Returns:
    scalar float32: mean_b Σ_g λ_g Σ_i p_{b,g,i}².
  """
  total = tf.constant(0.0)
  for name, weight in weights.items():
    if name not in groups:
      raise ValueError(f"regularizer weight for group {name!r}, which the "
                       f"parameters do not have (groups: {sorted(groups)})")
    if weight:
      total += float(weight) * tf.reduce_mean(
          tf.reduce_sum(tf.square(groups[name]), axis=-1))
  return total


def rendering_loss(images, rendered, mask, target_landmarks,
                   predicted_landmarks, image_size: int,
                   landmark_weight: float,
                   point_weights: Optional[Sequence[float]] = None):
  """Eq. 1: L_render = L_photo + λ_land · L_land.

  Returns:
    ``(total, photometric, landmark)`` scalars.
  """
  photo = photometric_loss(images, rendered, mask)
  land = landmark_loss(target_landmarks, predicted_landmarks, image_size,
                       point_weights)
  return photo + float(landmark_weight) * land, photo, land


def latent_reconstruction_loss(w_hat: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
  """L_rec = ‖RigNet(w, F(w)) − w‖², as the mean squared entry."""
  return tf.reduce_mean(tf.square(w_hat - w))


def index_mask(indices, size: int) -> np.ndarray:
  """`[size]` bool, True at ``indices`` (the edited mode's index set k)."""
  mask = np.zeros([int(size)], bool)
  indices = np.asarray(indices, np.int64).reshape(-1)
  if indices.size and (indices.min() < 0 or indices.max() >= size):
    raise ValueError(f"mode indices must lie in [0, {size}), got "
                     f"{indices.min()}..{indices.max()}")
  mask[indices] = True
  return mask


def splice(base: tf.Tensor, donor: tf.Tensor, indices) -> tf.Tensor:
  """``base`` with the entries ``indices`` taken from ``donor``.

  Args:
    base, donor: `[B, N]`.
    indices: int index set k into the last axis.

  Returns:
    `[B, N]`: ``out[:, k] = donor[:, k]``, ``out[:, j] = base[:, j]`` else.
  """
  mask = tf.constant(index_mask(indices, base.shape[-1]))
  return tf.where(mask[None, :], donor, base)


def edit_parameters(p_v: tf.Tensor, p_hat: tf.Tensor, indices) -> tf.Tensor:
  """p_edit (A.4.2): p_v with its mode entries k from the cycle p̂ = F(ŵ)."""
  return splice(p_v, p_hat, indices)


def consistency_parameters(p_hat: tf.Tensor, p_w: tf.Tensor, indices
                           ) -> tf.Tensor:
  """p_consist (A.4.3): p̂ with its mode entries k from p_w (all that must
  not change comes from the cycle)."""
  return splice(p_hat, p_w, indices)
