"""FIR filtering with up/down-sampling (``upfirdn2d``) and the StyleGAN2 blur.

The kernel ``[1, 3, 3, 1]`` is turned into the separable 4x4 filter
``outer(k, k) / sum(outer(k, k))``. All functions are NHWC and use only stock
TensorFlow ops (zero insertion, padding and a depthwise convolution).
"""

from typing import Sequence, Tuple

import numpy as np
import tensorflow as tf

keras = tf.keras

DEFAULT_KERNEL = (1, 3, 3, 1)


def make_kernel(kernel: Sequence[float]) -> np.ndarray:
  """The normalized 2-D FIR filter of a 1-D (separable) or 2-D kernel.

  Args:
    kernel: 1-D taps such as ``(1, 3, 3, 1)`` or a 2-D array.

  Returns:
    `[k, k]` float32 numpy array summing to 1.
  """
  k = np.asarray(kernel, dtype=np.float32)
  if k.ndim == 1:
    k = np.outer(k, k)
  if k.ndim != 2:
    raise ValueError(f"FIR kernel must be 1-D or 2-D, got shape {k.shape}")
  return (k / k.sum()).astype(np.float32)


def upfirdn2d(x: tf.Tensor, kernel: np.ndarray, up: int = 1, down: int = 1,
              pad: Tuple[int, int] = (0, 0)) -> tf.Tensor:
  """Upsample by zero insertion, pad, FIR-filter, then downsample.

  Matches rosinality's ``upfirdn2d`` (true convolution: the kernel is flipped;
  padding may be negative, i.e. cropping).

  Args:
    x: `[B, H, W, C]` float32.
    kernel: `[kh, kw]` filter (already gain-adjusted, e.g. ``make_kernel * 4``
      for 2x upsampling).
    up: integer upsampling factor.
    down: integer downsampling factor.
    pad: (before, after) padding applied to both spatial axes after
      upsampling.

  Returns:
    `[B, (H*up + p0 + p1 - kh) // down + 1, ..., C]` float32.
  """
  kernel = np.asarray(kernel, dtype=np.float32)
  channels = int(x.shape[-1])
  if up > 1:
    shape = tf.shape(x)
    b, h, w = shape[0], shape[1], shape[2]
    x = tf.reshape(x, [b, h, 1, w, 1, channels])
    x = tf.pad(x, [[0, 0], [0, 0], [0, up - 1], [0, 0], [0, up - 1], [0, 0]])
    x = tf.reshape(x, [b, h * up, w * up, channels])
  p0, p1 = int(pad[0]), int(pad[1])
  if p0 > 0 or p1 > 0:
    x = tf.pad(x, [[0, 0], [max(p0, 0), max(p1, 0)], [max(p0, 0), max(p1, 0)],
                   [0, 0]])
  if p0 < 0 or p1 < 0:
    h0, h1 = max(-p0, 0), max(-p1, 0)
    x = x[:, h0:tf.shape(x)[1] - h1, h0:tf.shape(x)[2] - h1, :]
  flipped = kernel[::-1, ::-1]
  filt = tf.constant(np.tile(flipped[:, :, None, None], [1, 1, channels, 1]))
  return tf.nn.depthwise_conv2d(x, filt, [1, down, down, 1], "VALID")


def upsample_2x(x: tf.Tensor, kernel: Sequence[float] = DEFAULT_KERNEL
                ) -> tf.Tensor:
  """FIR 2x upsampling (StyleGAN2's ToRGB skip). `[B,H,W,C]` -> `[B,2H,2W,C]`."""
  k = make_kernel(kernel) * 4
  p = k.shape[0] - 2
  return upfirdn2d(x, k, up=2, pad=((p + 1) // 2 + 1, p // 2))


def downsample_2x(x: tf.Tensor, kernel: Sequence[float] = DEFAULT_KERNEL
                  ) -> tf.Tensor:
  """FIR 2x downsampling. `[B,H,W,C]` -> `[B,H/2,W/2,C]`."""
  k = make_kernel(kernel)
  p = k.shape[0] - 2
  return upfirdn2d(x, k, down=2, pad=((p + 1) // 2, p // 2))


class Blur(keras.layers.Layer):
  """FIR blur with padding (rosinality ``Blur``); no weights.

  Args:
    kernel: 1-D taps, default ``(1, 3, 3, 1)``.
    pad: (before, after) padding.
    upsample_factor: the kernel is multiplied by ``factor**2`` (used after a
      stride-2 transposed convolution).

  Input `[B, H, W, C]`, output `[B, H + p0 + p1 - k + 1, ..., C]`.
  """

  def __init__(self, kernel: Sequence[float] = DEFAULT_KERNEL,
               pad: Tuple[int, int] = (1, 1), upsample_factor: int = 1,
               **kwargs):
    super().__init__(**kwargs)
    self.kernel = make_kernel(kernel) * float(upsample_factor**2)
    self.pad = (int(pad[0]), int(pad[1]))

  def call(self, x):
    return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(keras.layers.Layer):
  """FIR 2x upsampling layer (rosinality ``Upsample``). `[B,H,W,C]` -> `[B,2H,2W,C]`."""

  def __init__(self, kernel: Sequence[float] = DEFAULT_KERNEL, **kwargs):
    super().__init__(**kwargs)
    self.taps = tuple(kernel)

  def call(self, x):
    return upsample_2x(x, self.taps)


class Downsample(keras.layers.Layer):
  """FIR 2x downsampling layer. `[B,H,W,C]` -> `[B,H/2,W/2,C]`."""

  def __init__(self, kernel: Sequence[float] = DEFAULT_KERNEL, **kwargs):
    super().__init__(**kwargs)
    self.taps = tuple(kernel)

  def call(self, x):
    return downsample_2x(x, self.taps)
