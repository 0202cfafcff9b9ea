"""StyleGAN2's style-modulated convolution and the layers around it.

``ModulatedConv2D`` computes, for every sample b with style ``s_b = A(w_b)``,
``W'_b = W * s_b`` (per input channel) and, with demodulation,
``W''_b = W'_b * rsqrt(sum_{in,kh,kw} W'_b**2 + 1e-8)`` (per output channel).
Two mathematically equal implementations:

* ``fused=False`` (default): scale the *activations* by ``s_b``, run one shared
  convolution, and scale the output by the demodulation coefficients. Plain
  ``conv2d`` / ``conv2d_transpose``; the fastest on most backends.
* ``fused=True``: build per-sample weights and run one grouped convolution
  (groups = batch), as rosinality's default path (non-upsampling layers only).
"""

import math
from typing import Optional, Sequence

import tensorflow as tf

from tfface.layers import equalized
from tfface.layers import fir

keras = tf.keras


class ModulatedConv2D(keras.layers.Layer):
  """Modulated (and demodulated) convolution, optionally upsampling 2x.

  Args:
    filters: output channels.
    kernel_size: square kernel size (3 for StyledConv, 1 for ToRGB).
    demodulate: apply weight demodulation.
    upsample: 2x upsampling via a stride-2 transposed conv followed by a
      ``[1,3,3,1]`` blur (rosinality's ``ModulatedConv2d(upsample=True)``).
    blur_kernel: FIR taps for the upsampling blur.
    fused: use the grouped-convolution implementation (ignored when
      upsampling).

  Call ``(x, w)``: ``x`` `[B, H, W, C_in]`, ``w`` `[B, style_dim]`; returns
  `[B, H', W', filters]` with H' = 2H when upsampling.

  Weights: ``weight`` `[k, k, C_in, filters]` (rosinality ``conv.weight``
  `(1, out, in, k, k)` -> ``[0].transpose(2, 3, 1, 0)``), and the affine
  ``modulation`` (an :class:`EqualizedDense` with bias init 1).
  """

  def __init__(self, filters: int, kernel_size: int, demodulate: bool = True,
               upsample: bool = False,
               blur_kernel: Sequence[float] = fir.DEFAULT_KERNEL,
               fused: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)
    self.demodulate = demodulate
    self.upsample = upsample
    self.fused = fused and not upsample
    if upsample:
      p = len(blur_kernel) - 2 - (self.kernel_size - 1)
      self.blur = fir.Blur(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1),
                           upsample_factor=2, name="blur")

  def build(self, x_shape, w_shape):
    in_channels = int(x_shape[-1])
    self.in_channels = in_channels
    self.modulation = equalized.EqualizedDense(in_channels, bias_init=1.0,
                                               name="modulation")
    self.modulation.build(w_shape)
    self.weight = self.add_weight(
        name="weight",
        shape=(self.kernel_size, self.kernel_size, in_channels, self.filters),
        initializer=keras.initializers.RandomNormal(stddev=1.0))
    self.weight_scale = 1.0 / math.sqrt(in_channels * self.kernel_size**2)

  def styles(self, w: tf.Tensor) -> tf.Tensor:
    """The per-sample input-channel scales ``s = A(w)``, `[B, C_in]`."""
    return self.modulation(w)

  def call(self, x, w):
    s = self.styles(w)  # [B, in]
    weight = self.weight * self.weight_scale
    if self.fused:
      return self._fused(x, s, weight)
    x = x * s[:, None, None, :]
    if self.upsample:
      shape = tf.shape(x)
      b, h, wd = shape[0], shape[1], shape[2]
      k = self.kernel_size
      out_shape = tf.stack([b, (h - 1) * 2 + k, (wd - 1) * 2 + k,
                            self.filters])
      y = tf.nn.conv2d_transpose(x, tf.transpose(weight, [0, 1, 3, 2]),
                                 out_shape, strides=2, padding="VALID")
      y = self.blur(y)
    else:
      p = self.kernel_size // 2
      y = tf.nn.conv2d(x, weight, 1, [[0, 0], [p, p], [p, p], [0, 0]])
    if self.demodulate:
      # sum_{kh,kw,in} (W s)^2 = s^2 @ sum_{kh,kw} W^2
      wsq = tf.reduce_sum(tf.square(weight), axis=[0, 1])  # [in, out]
      d = tf.math.rsqrt(tf.matmul(tf.square(s), wsq) + 1e-8)  # [B, out]
      y = y * d[:, None, None, :]
    return y

  def _fused(self, x, s, weight):
    batch = tf.shape(x)[0]
    k, cin, cout = self.kernel_size, self.in_channels, self.filters
    wb = weight[None] * s[:, None, None, :, None]  # [B, k, k, in, out]
    if self.demodulate:
      d = tf.math.rsqrt(tf.reduce_sum(tf.square(wb), axis=[1, 2, 3]) + 1e-8)
      wb = wb * d[:, None, None, None, :]
    wb = tf.reshape(tf.transpose(wb, [1, 2, 3, 0, 4]), [k, k, cin, -1])
    shape = tf.shape(x)
    xg = tf.reshape(tf.transpose(x, [1, 2, 0, 3]),
                    [1, shape[1], shape[2], batch * cin])
    p = k // 2
    y = tf.nn.conv2d(xg, wb, 1, [[0, 0], [p, p], [p, p], [0, 0]])
    y = tf.reshape(y, [shape[1], shape[2], batch, cout])
    return tf.transpose(y, [2, 0, 1, 3])


class NoiseInjection(keras.layers.Layer):
  """``x + strength * noise`` with a learned strength (init 0).

  Args:
    per_channel: one strength per channel (StyleGAN / StyleALAE) instead of
      StyleGAN2's single scalar.

  Call ``(x, noise)``: ``x`` `[B, H, W, C]`, ``noise`` `[B or 1, H, W, 1]`.
  Weight ``strength`` `[1]` (rosinality ``noise.weight``) or `[C]`.
  """

  def __init__(self, per_channel: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.per_channel = per_channel

  def build(self, x_shape, noise_shape):
    size = int(x_shape[-1]) if self.per_channel else 1
    self.strength = self.add_weight(name="strength", shape=(size,),
                                    initializer="zeros")

  def call(self, x, noise):
    return x + self.strength * noise


class ConstantInput(keras.layers.Layer):
  """The learned constant `[1, size, size, C]` broadcast to the batch.

  Call ``(batch_size)``: returns `[batch_size, size, size, C]`.
  """

  def __init__(self, channels: int, size: int = 4, **kwargs):
    super().__init__(**kwargs)
    self.const = self.add_weight(
        name="const", shape=(1, size, size, int(channels)),
        initializer=keras.initializers.RandomNormal(stddev=1.0))

  def call(self, batch_size):
    return tf.tile(self.const, [batch_size, 1, 1, 1])


class StyledConv(keras.layers.Layer):
  """Modulated conv, noise injection, bias and leaky ReLU (rosinality ``StyledConv``).

  Call ``(x, w, noise)``: `[B, H, W, C_in]`, `[B, style_dim]`, `[B|1, H', W', 1]`
  -> `[B, H', W', filters]`.
  """

  def __init__(self, filters: int, kernel_size: int = 3,
               upsample: bool = False,
               blur_kernel: Sequence[float] = fir.DEFAULT_KERNEL,
               fused: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.conv = ModulatedConv2D(filters, kernel_size, upsample=upsample,
                                blur_kernel=blur_kernel, fused=fused,
                                name="conv")
    self.noise = NoiseInjection(name="noise")
    self.activate = equalized.FusedBiasLeakyReLU(name="activate")

  def call(self, x, w, noise):
    y = self.conv(x, w)
    y = self.noise(y, noise)
    return self.activate(y)


class ToRGB(keras.layers.Layer):
  """1x1 modulated conv to RGB without demodulation, plus bias and FIR-upsampled skip.

  Call ``(x, w, skip=None)``: ``x`` `[B, H, W, C]`, ``w`` `[B, style_dim]`,
  ``skip`` `[B, H/2, W/2, 3]` or None -> `[B, H, W, 3]`.
  Weights: ``conv`` (ModulatedConv2D 1x1), ``bias`` `[3]`.
  """

  def __init__(self, upsample: bool = True,
               blur_kernel: Sequence[float] = fir.DEFAULT_KERNEL,
               channels: int = 3, **kwargs):
    super().__init__(**kwargs)
    self.upsample = upsample
    self.taps = tuple(blur_kernel)
    self.conv = ModulatedConv2D(channels, 1, demodulate=False, name="conv")
    self.channels = channels

  def build(self, x_shape, w_shape, skip_shape=None):
    self.bias = self.add_weight(name="bias", shape=(self.channels,),
                                initializer="zeros")

  def call(self, x, w, skip: Optional[tf.Tensor] = None):
    y = self.conv(x, w) + self.bias
    if skip is not None:
      y = y + fir.upsample_2x(skip, self.taps)
    return y
