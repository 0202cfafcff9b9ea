"""The training data of the face-analysis networks (gin entry point)."""

from typing import Sequence, Union

import gin
import tensorflow as tf

from tfface.data import datasets


@gin.configurable
def analysis_dataset(global_batch_size: int,
                     path: Union[str, Sequence[str]] = gin.REQUIRED,
                     image_size: int = 64,
                     shuffle: bool = True,
                     seed: int = 0,
                     skip_corrupt: bool = False) -> tf.data.Dataset:
  """Batches of the synthetic writer's ``labeled`` mode with every label.

  Write the shards with ``tools/make_synthetic.py --mode=labeled``.

  Args:
    global_batch_size: faces per step over all replicas.
    path: glob(s) of ``labeled-*.tfrecord`` shards.
    image_size: training resolution (stored images are resized).
    shuffle, seed, skip_corrupt: see
      :func:`tfface.data.datasets.synthetic_dataset`.

  Returns:
    Repeated dataset of dicts (leading `[B]`): ``image`` `[H, W, 3]` in
    [-1, 1], ``factors`` (every factor θ_i plus ``translation``),
    ``landmarks`` `[68, 2]` pixels, ``parse`` `[H, W]` int32, ``identity``
    int32, ``pseudo_real`` float32 (render style), ``iris_mask``.
  """
  return datasets.synthetic_dataset(
      path, image_size, batch_size=global_batch_size, shuffle=shuffle,
      repeat=True, seed=seed, skip_corrupt=skip_corrupt,
      analysis_labels=True)
