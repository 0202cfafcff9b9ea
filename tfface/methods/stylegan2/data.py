"""Image sources for StyleGAN2 training, behind one gin-configurable function.

``train`` calls ``dataset_fn(global_batch_size)``; :func:`stylegan2_dataset`
adapts that call to :func:`tfface.data.image_source` (image folders, real
TFRecords, the synthetic and pseudo-real face datasets) and to an in-memory
toy set for tests and demos. Every source yields
``{"image": [B, R, R, 3] float32 in [-1, 1]}``.
"""

import gin
import numpy as np
import tensorflow as tf

from tfface.data import sources

SOURCES = ("toy",) + sources.KINDS


def toy_images(num_images: int, resolution: int, seed: int = 0) -> np.ndarray:
  """A tiny structured image set: one coloured disc on a coloured background.

  Args:
    num_images: N.
    resolution: R.
    seed: numpy seed.

  Returns:
    `[N, R, R, 3]` float32 in [-1, 1].
  """
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:resolution, 0:resolution].astype(np.float32)
  yy, xx = (yy + 0.5) / resolution, (xx + 0.5) / resolution
  images = np.empty([num_images, resolution, resolution, 3], np.float32)
  for i in range(num_images):
    background = rng.uniform(-1.0, 0.0, size=3)
    colour = rng.uniform(0.0, 1.0, size=3)
    cy, cx = rng.uniform(0.3, 0.7, size=2)
    radius = rng.uniform(0.15, 0.3)
    inside = ((yy - cy)**2 + (xx - cx)**2 < radius**2)[..., None]
    images[i] = np.where(inside, colour, background)
  return images


@gin.configurable
def stylegan2_dataset(global_batch_size: int, source: str = "toy",
                      path: str = "", resolution: int = 256,
                      num_toy_images: int = 64, shuffle: bool = True,
                      seed: int = 0,
                      skip_corrupt: bool = False) -> tf.data.Dataset:
  """Global batches of training images for :class:`StyleGAN2Method`.

  Args:
    global_batch_size: images per step over all replicas.
    source: ``"toy"`` (in-memory discs, :func:`toy_images`) or a kind of
      :func:`tfface.data.image_source`: ``"folder"`` (``path`` is a directory
      of images), ``"tfrecord"`` (``path`` is a file pattern of real-face
      TFRecords), ``"synthetic"`` (``path`` is a file pattern of the synthetic
      face dataset; only its images are used) or ``"pseudo_real"``.
    path: directory or file pattern, per ``source``.
    resolution: image size R.
    num_toy_images: size of the toy set.
    shuffle: shuffle the examples.
    seed: shuffling / toy-set seed.
    skip_corrupt: TFRecord sources skip and count damaged records instead of
      raising (see :mod:`tfface.data.datasets`).

  Returns:
    ``tf.data.Dataset`` of ``{"image": [B, R, R, 3]}``, repeated, batched
    with ``drop_remainder=True``.
  """
  if source not in SOURCES:
    raise ValueError(f"stylegan2_dataset.source must be one of {SOURCES}, "
                     f"got {source!r}")
  if source == "toy":
    images = toy_images(num_toy_images, resolution, seed)
    data = tf.data.Dataset.from_tensor_slices({"image": images})
    if shuffle:
      data = data.shuffle(num_toy_images, seed=seed)
    return data.repeat().batch(global_batch_size, drop_remainder=True)
  if not path:
    raise ValueError(f"stylegan2_dataset.path is required for source "
                     f"{source!r}")
  return sources.image_source(source, path, (resolution, resolution),
                              global_batch_size, shuffle=shuffle, seed=seed,
                              skip_corrupt=skip_corrupt)
