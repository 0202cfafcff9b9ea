"""ConfigNet's input pipelines (gin ``dataset_fn``s for ``train``).

:func:`confignet_dataset` zips labeled synthetic faces with unlabeled real (or
pseudo-real) faces: every element is
``{"synthetic": {image, factors, iris_mask, landmarks}, "real": {image}}``
with ``global_batch_size // 2`` faces in each half (the reference's 12 + 12
of a batch of 24).
"""

import gin
import numpy as np
import tensorflow as tf

from tfface.data import datasets
from tfface.data import sources


@gin.configurable
def confignet_dataset(global_batch_size: int,
                      synthetic_pattern: str = gin.REQUIRED,
                      real_source: str = gin.REQUIRED,
                      image_size: int = 256,
                      real_kind: str = "pseudo_real",
                      seed: int = 0) -> tf.data.Dataset:
  """Synthetic + real batches for ConfigNet stage 1 and stage 2.

  Args:
    global_batch_size: faces per step over all replicas and both domains
      (even); each domain gets half.
    synthetic_pattern: glob of labeled synthetic TFRecord shards.
    real_source: pattern (``pseudo_real``/``tfrecord``) or directory
      (``folder``) of real faces.
    image_size: training resolution.
    real_kind: a kind of :func:`tfface.data.image_source`: ``"pseudo_real"``,
      ``"folder"``, ``"tfrecord"`` (or ``"synthetic"``, its images only).
    seed: shuffle seed.

  Returns:
    Dataset of ``{"synthetic": {...}, "real": {"image"}}``, each half batched
    with ``global_batch_size // 2``.
  """
  if global_batch_size < 2 or global_batch_size % 2:
    raise ValueError("ConfigNet's global_batch_size must be even (half "
                     f"synthetic, half real), got {global_batch_size}")
  half = global_batch_size // 2
  synthetic = datasets.synthetic_dataset(synthetic_pattern, image_size,
                                         batch_size=half, seed=seed)
  real = sources.image_source(real_kind, real_source, image_size, half,
                              seed=seed + 1)
  return tf.data.Dataset.zip({"synthetic": synthetic, "real": real}).prefetch(
      tf.data.AUTOTUNE)


def embed_images(real_encoder, images: tf.data.Dataset,
                 max_batches: int) -> np.ndarray:
  """E_R embeddings of up to ``max_batches`` batches: `[N, Z]` float32."""
  out = []
  for i, batch in enumerate(images):
    if i >= max_batches:
      break
    z, _ = real_encoder(batch["image"], training=False)
    out.append(z.numpy())
  if not out:
    raise ValueError("no real images to embed")
  return np.concatenate(out, 0)


@gin.configurable
def embedding_dataset(global_batch_size: int,
                      embeddings_path: str = gin.REQUIRED,
                      seed: int = 0) -> tf.data.Dataset:
  """Batches ``{"z": [B, Z]}`` of E_R embeddings saved as a ``.npy`` file.

  The file is written by :func:`tfface.methods.confignet.export.save_embeddings`
  (or the demo) from a stage-2 run.
  """
  try:
    z = np.load(embeddings_path).astype(np.float32)
  except OSError as e:
    raise ValueError(f"cannot read embeddings {embeddings_path!r}: expected a "
                     ".npy file of [N, Z] E_R embeddings") from e
  if z.ndim != 2 or z.shape[0] < global_batch_size:
    raise ValueError(f"embeddings {embeddings_path!r} have shape {z.shape}; "
                     f"expected [N >= {global_batch_size}, Z]")
  return (tf.data.Dataset.from_tensor_slices({"z": z}).repeat()
          .shuffle(min(len(z), 10000), seed=seed)
          .batch(global_batch_size, drop_remainder=True))
