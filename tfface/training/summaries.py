"""TensorBoard summaries and image grids."""

import math
from typing import Mapping, Optional

import numpy as np
import tensorflow as tf


def image_grid(images: tf.Tensor, columns: Optional[int] = None) -> tf.Tensor:
  """Tiles images into one picture.

  Args:
    images: `[N, H, W, C]` float in [-1, 1].
    columns: images per row; default ``ceil(sqrt(N))``.

  Returns:
    `[1, rows * H, columns * W, C]` float in [0, 1], ready for
    ``tf.summary.image``; missing cells are black.
  """
  images = tf.convert_to_tensor(images, tf.float32)
  n = int(images.shape[0])
  columns = columns or int(math.ceil(math.sqrt(n)))
  rows = int(math.ceil(n / columns))
  pad = rows * columns - n
  images = tf.clip_by_value(images * 0.5 + 0.5, 0.0, 1.0)
  if pad:
    images = tf.concat([images, tf.zeros([pad] + images.shape[1:].as_list())], 0)
  h, w, c = images.shape[1:]
  grid = tf.reshape(images, [rows, columns, h, w, c])
  grid = tf.transpose(grid, [0, 2, 1, 3, 4])
  return tf.reshape(grid, [1, rows * h, columns * w, c])


def encode_png(images: tf.Tensor, columns: Optional[int] = None) -> bytes:
  """PNG bytes of ``image_grid(images, columns)``."""
  grid = image_grid(images, columns)[0]
  return tf.io.encode_png(tf.cast(tf.round(grid * 255.0), tf.uint8)).numpy()


class SummaryWriter:
  """Writes scalars and images under ``<model_dir>/train``; a no-op off-chief."""

  def __init__(self, logdir: Optional[str]):
    self._writer = tf.summary.create_file_writer(logdir) if logdir else None

  def scalars(self, step: int, values: Mapping[str, float]) -> None:
    if self._writer is None:
      return
    with self._writer.as_default(step=step):
      for name, value in values.items():
        tf.summary.scalar(name, float(np.asarray(value)))

  def images(self, step: int, images: Mapping[str, tf.Tensor]) -> None:
    if self._writer is None:
      return
    with self._writer.as_default(step=step):
      for name, batch in images.items():
        tf.summary.image(name, image_grid(batch), max_outputs=1)

  def text(self, step: int, name: str, value: str) -> None:
    if self._writer is None:
      return
    with self._writer.as_default(step=step):
      tf.summary.text(name, value)

  def flush(self) -> None:
    if self._writer is not None:
      self._writer.flush()
