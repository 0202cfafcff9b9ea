"""Fréchet distance between two feature sets (FID and named substitutes).

FID (Heusel et al. 2017) is the Fréchet distance of two Gaussians fitted to
InceptionV3 pool features: ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½). Here:

* :func:`feature_statistics`, :func:`frechet_distance` and
  :func:`frechet_distance_of_features` — the distance itself (as pytorch-fid /
  LiftedGAN's ``tools/test_fid.py``: a 1e-6 diagonal offset when the product
  is singular, an error when the square root's imaginary part exceeds 1e-3);
* :class:`InceptionFeatures` — 2048-d pool features of a Keras InceptionV3
  from a local weights file (``include_top=False``; nothing is downloaded),
  images bilinearly resized to 299;
* :func:`feature_extractor` — Inception features when a weights file is
  given, else the frozen identity network's embedding; :data:`INCEPTION_NAME`
  / :data:`IDENTITY_NAME` name the resulting metric, so an identity-space
  distance is never reported as "FID".
"""

from typing import Callable, Optional, Tuple

import numpy as np
import scipy.linalg
import tensorflow as tf

INCEPTION_NAME = "fid"
IDENTITY_NAME = "frechet_identity_distance"


def feature_statistics(features) -> Tuple[np.ndarray, np.ndarray]:
  """Mean `[D]` and covariance `[D, D]` (float64, unbiased) of `[N, D]`."""
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or len(features) < 2:
    raise ValueError(f"features must be [N, D] with N >= 2, got shape "
                     f"{features.shape}")
  return features.mean(0), np.cov(features, rowvar=False).reshape(
      features.shape[1], features.shape[1])


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
  """‖μ₁ − μ₂‖² + Tr(Σ₁) + Tr(Σ₂) − 2 Tr((Σ₁Σ₂)^½).

  Raises:
    ValueError: mismatched shapes, or a square root with an imaginary part
      above 1e-3 (numerically broken covariances).
  """
  mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(
      mu2).astype(np.float64)
  sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(
      sigma2).astype(np.float64)
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or (
      sigma1.shape != (mu1.size, mu1.size)):
    raise ValueError(f"Fréchet distance needs means [D] and covariances "
                     f"[D, D] of one D, got {mu1.shape}, {sigma1.shape}, "
                     f"{mu2.shape}, {sigma2.shape}")
  diff = mu1 - mu2
  covmean, _ = scipy.linalg.sqrtm(sigma1 @ sigma2, disp=False)
  if not np.isfinite(covmean).all():
    offset = np.eye(sigma1.shape[0]) * eps
    covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
  if np.iscomplexobj(covmean):
    if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
      raise ValueError(f"Fréchet distance: imaginary component "
                       f"{np.max(np.abs(covmean.imag))} in the square root")
    covmean = covmean.real
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) -
               2.0 * np.trace(covmean))


def frechet_distance_of_features(features_a, features_b) -> float:
  """The Fréchet distance of two `[N, D]` feature sets."""
  return frechet_distance(*feature_statistics(features_a),
                          *feature_statistics(features_b))


class InceptionFeatures:
  """InceptionV3 pool3 features (2048-d) from a local Keras weights file.

  Args:
    weights_path: a Keras ``InceptionV3(include_top=False)`` weights ``.h5``
      (e.g. ``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5``).

  Call: `[B, H, W, 3]` float32 in [−1, 1] -> `[B, 2048]` (bilinear resize to
  299, the [−1, 1] input InceptionV3 expects). The TF-FID graph's weights
  differ slightly from Keras'; numbers are comparable between tfface runs,
  not to published FIDs.
  """

  def __init__(self, weights_path: str):
    import os  # pylint: disable=g-import-not-at-top
    if not weights_path or not os.path.isfile(weights_path):
      raise ValueError(f"Inception weights file {weights_path!r} does not "
                       "exist; expected a Keras InceptionV3 include_top=False "
                       ".h5 file")
    self.network = tf.keras.applications.InceptionV3(
        include_top=False, weights=weights_path, pooling="avg",
        input_shape=(299, 299, 3))

  def __call__(self, images: tf.Tensor) -> tf.Tensor:
    images = tf.image.resize(tf.convert_to_tensor(images, tf.float32),
                             [299, 299], method="bilinear")
    return self.network(images, training=False)


def feature_extractor(inception_weights: Optional[str],
                      identity_network=None
                      ) -> Tuple[Callable[[tf.Tensor], tf.Tensor], str]:
  """(features fn, metric name): Inception when a weights file is given,
  else the identity network's embedding (``frechet_identity_distance``).

  Raises:
    ValueError: neither is available.
  """
  if inception_weights:
    return InceptionFeatures(inception_weights), INCEPTION_NAME
  if identity_network is None:
    raise ValueError("a Fréchet distance needs Inception weights or an "
                     "identity network; got neither")
  return (lambda images: identity_network(images, training=False),
          IDENTITY_NAME)
