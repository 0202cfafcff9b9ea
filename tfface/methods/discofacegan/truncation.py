"""Attribute-preserving truncation (reference ``generate_images.py``
``truncate_generation``, notes §4).

The usual truncation ``w̄ + ψ(w − w̄)`` pulls every factor to the mean, so
truncated faces lose their expression, pose and lighting. DiscoFaceGAN
truncates only the identity path:

* ``w_id = F([λ_id, 0, 0, 0, 0])`` — the mapping of λ with expression, pose,
  light and ε set to 0;
* ``w̄_id`` = the average of ``F([λ_id(z), 0, ε])`` over many samples
  (50 000, seed 1 in the reference);
* ``w' = w + (1 − ψ)(w̄_id − w_id)`` on the coarse layers (0..7 of the 14 at
  256 px: resolutions 4-32); the fine layers keep w.

The shift ``(1 − ψ)(w̄_id − w_id)`` depends on λ_id alone, so two faces
differing only in expression, pose or light get the same shift, and their
expression/pose/light λ are never touched. The reference averages with
random ε but evaluates w_id with ε = 0 (a small inconsistency it ships);
``average_noise=True`` keeps that, False averages with ε = 0.
"""

from typing import Optional

import numpy as np
import tensorflow as tf

from tfface.methods.discofacegan import lambda_space as ls

COARSE_LAYERS = 8  # layers 0..7: the 4..32 px blocks


def identity_path_inputs(layout: ls.LambdaLayout, lam: tf.Tensor,
                         noise: Optional[tf.Tensor] = None) -> tf.Tensor:
  """``[λ_id, 0 (exp, pose, light), ε or 0]`` `[B, input_dim]`."""
  lam_id = layout.identity_only(lam)
  if noise is None:
    noise = tf.zeros([tf.shape(lam)[0], layout.noise_dim])
  return layout.with_noise(lam_id, noise)


def average_identity_w(generator, sampler: ls.LambdaSampler,
                     num_samples: int = 50000, batch_size: int = 1000,
                     seed: int = 1, average_noise: bool = True
                     ) -> tf.Tensor:
  """w̄_id `[W]`: the mean of ``F([λ_id(z), 0, ε])`` over samples.

  Args:
    generator: a :class:`~tfface.methods.discofacegan.generator.
      DiscoFaceGenerator`.
    sampler: the λ sampler (frozen VAE decoders).
    num_samples: 50 000 in the reference.
    batch_size: samples per mapping call.
    seed: 1 in the reference.
    average_noise: random ε in the average (the reference) or ε = 0.

  Returns:
    `[W]` float32.
  """
  total = tf.zeros([generator.w_dim])
  done = 0
  index = 0
  layout = sampler.layout
  while done < int(num_samples):
    n = min(int(batch_size), int(num_samples) - done)
    _, lam, noise = sampler.sample(n, tf.constant([int(seed), index]))
    inputs = identity_path_inputs(layout, lam,
                                  noise if average_noise else None)
    total += tf.reduce_sum(generator.map(inputs), axis=0)
    done += n
    index += 1
  return total / float(done)


def coarse_cutoff(num_layers: int, cutoff: Optional[int] = None) -> int:
  """The truncated layers: ``cutoff`` (default 8, the 4..32 px blocks),
  at most ``num_layers``."""
  cutoff = COARSE_LAYERS if cutoff is None else int(cutoff)
  if cutoff < 0:
    raise ValueError(f"truncation cutoff must be >= 0, got {cutoff}")
  return min(cutoff, int(num_layers))


def truncate(generator, layout: ls.LambdaLayout, lam: tf.Tensor,
             noise: tf.Tensor, w_avg_id: tf.Tensor, psi=0.7,
             cutoff: Optional[int] = None) -> tf.Tensor:
  """Attribute-preserving truncation of ``[λ, ε]``.

  Args:
    generator: the generator (its mapping).
    layout: the λ layout.
    lam: `[B, lambda_dim]`; noise `[B, noise_dim]`.
    w_avg_id: `[W]` from :func:`average_identity_w`.
    psi: ψ (1 = none, 0 = the average identity).
    cutoff: layers below it are truncated (default 8).

  Returns:
    W+ `[B, num_layers, W]`.
  """
  w = generator.map(layout.with_noise(lam, noise))
  w_id = generator.map(identity_path_inputs(layout, lam))
  psi = tf.cast(psi, tf.float32)
  shifted = w + (1.0 - psi) * (tf.convert_to_tensor(w_avg_id)[None] - w_id)
  num_layers = generator.num_layers
  index = tf.range(num_layers)[None, :, None]
  return tf.where(index < coarse_cutoff(num_layers, cutoff),
                  shifted[:, None], w[:, None] + tf.zeros(
                      [1, num_layers, 1]))


def save_average(path: str, w_avg_id) -> None:
  """Writes w̄_id as text (one value a line; the reference caches
  ``<model>-average_w_id.txt``), atomically."""
  tmp = path + ".tmp"
  np.savetxt(tmp, np.asarray(w_avg_id, np.float32).reshape(-1))
  import os  # pylint: disable=g-import-not-at-top
  os.replace(tmp, path)


def load_average(path: str) -> np.ndarray:
  return np.loadtxt(path, dtype=np.float32).reshape(-1)
