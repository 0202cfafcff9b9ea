"""Equalized-learning-rate dense and conv layers and the fused bias + leaky ReLU.

Weights are stored at unit scale (``N(0, 1) / lr_multiplier``) and multiplied
at run time by ``lr_multiplier / sqrt(fan_in)`` (Karras et al., ProGAN §4.1;
StyleGAN2). The stored layout follows rosinality/stylegan2-pytorch exactly up to
the NHWC transposes, so converted checkpoints keep their raw values.
"""

import math
from typing import Optional

import tensorflow as tf

keras = tf.keras

LEAKY_SLOPE = 0.2
LEAKY_GAIN = math.sqrt(2.0)


def fused_leaky_relu(x: tf.Tensor, bias: Optional[tf.Tensor] = None,
                     negative_slope: float = LEAKY_SLOPE,
                     gain: float = LEAKY_GAIN) -> tf.Tensor:
  """``leaky_relu(x + bias, negative_slope) * gain``.

  Args:
    x: `[..., C]` float32.
    bias: `[C]` float32 or None.
    negative_slope: slope for negative inputs (StyleGAN: 0.2).
    gain: output scale keeping the activation variance (StyleGAN: sqrt(2)).

  Returns:
    Tensor shaped like ``x``.
  """
  if bias is not None:
    x = x + bias
  return tf.nn.leaky_relu(x, alpha=negative_slope) * gain


class FusedBiasLeakyReLU(keras.layers.Layer):
  """Per-channel bias, leaky ReLU (slope 0.2) and gain sqrt(2).

  rosinality's ``FusedLeakyReLU``; its ``bias`` maps to this layer's ``bias``.
  Input and output: `[..., C]` float32.
  """

  def __init__(self, negative_slope: float = LEAKY_SLOPE,
               gain: float = LEAKY_GAIN, **kwargs):
    super().__init__(**kwargs)
    self.negative_slope = negative_slope
    self.gain = gain

  def build(self, input_shape):
    self.bias = self.add_weight(name="bias", shape=(int(input_shape[-1]),),
                                initializer="zeros")

  def call(self, x):
    return fused_leaky_relu(x, self.bias, self.negative_slope, self.gain)


class EqualizedDense(keras.layers.Layer):
  """Dense layer with runtime weight scaling (rosinality ``EqualLinear``).

  ``y = x @ (kernel * lr_multiplier / sqrt(fan_in)) + bias * lr_multiplier``,
  optionally followed by leaky ReLU (slope 0.2) times sqrt(2).

  Args:
    units: output size.
    lr_multiplier: learning-rate multiplier (0.01 in the mapping network).
    use_bias: add a bias.
    bias_init: initial stored bias value (1 for style modulations).
    activation: None or ``"lrelu"``.

  Input `[..., fan_in]` float32, output `[..., units]` float32. Weights:
  ``kernel`` `[fan_in, units]` (PyTorch ``weight`` transposed), ``bias``
  `[units]` (stored unscaled, as in PyTorch).
  """

  def __init__(self, units: int, lr_multiplier: float = 1.0,
               use_bias: bool = True, bias_init: float = 0.0,
               activation: Optional[str] = None, **kwargs):
    super().__init__(**kwargs)
    if activation not in (None, "lrelu"):
      raise ValueError(f"activation must be None or 'lrelu', got {activation!r}")
    self.units = int(units)
    self.lr_multiplier = float(lr_multiplier)
    self.use_bias = use_bias
    self.bias_init = float(bias_init)
    self.activation = activation

  def build(self, input_shape):
    fan_in = int(input_shape[-1])
    self.fan_in = fan_in
    self.kernel = self.add_weight(
        name="kernel", shape=(fan_in, self.units),
        initializer=keras.initializers.RandomNormal(
            stddev=1.0 / self.lr_multiplier))
    self.weight_scale = self.lr_multiplier / math.sqrt(fan_in)
    if self.use_bias:
      self.bias = self.add_weight(
          name="bias", shape=(self.units,),
          initializer=keras.initializers.Constant(self.bias_init))

  def scaled_kernel(self) -> tf.Tensor:
    """The kernel as used at run time, `[fan_in, units]`."""
    return self.kernel * self.weight_scale

  def call(self, x):
    y = tf.matmul(x, self.scaled_kernel()) if x.shape.rank == 2 else (
        tf.tensordot(x, self.scaled_kernel(), axes=1))
    bias = self.bias * self.lr_multiplier if self.use_bias else None
    if self.activation == "lrelu":
      return fused_leaky_relu(y, bias)
    return y if bias is None else y + bias


class EqualizedConv2D(keras.layers.Layer):
  """Conv layer with runtime weight scaling (rosinality ``EqualConv2d``).

  Args:
    filters: output channels.
    kernel_size: square kernel size.
    strides: 1 or 2.
    padding: explicit symmetric zero padding in pixels (PyTorch style), or
      None for ``kernel_size // 2``.
    use_bias: add a bias (scaled by ``lr_multiplier``).
    lr_multiplier: learning-rate multiplier.

  Input `[B, H, W, C_in]`, output `[B, H', W', filters]`. ``kernel`` is
  `[k, k, C_in, filters]` (PyTorch ``(out, in, k, k)`` transposed 2, 3, 1, 0).
  """

  def __init__(self, filters: int, kernel_size: int, strides: int = 1,
               padding: Optional[int] = None, use_bias: bool = True,
               lr_multiplier: float = 1.0, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)
    self.strides = int(strides)
    self.padding = self.kernel_size // 2 if padding is None else int(padding)
    self.use_bias = use_bias
    self.lr_multiplier = float(lr_multiplier)

  def build(self, input_shape):
    fan_in = int(input_shape[-1]) * self.kernel_size**2
    self.kernel = self.add_weight(
        name="kernel",
        shape=(self.kernel_size, self.kernel_size, int(input_shape[-1]),
               self.filters),
        initializer=keras.initializers.RandomNormal(
            stddev=1.0 / self.lr_multiplier))
    self.weight_scale = self.lr_multiplier / math.sqrt(fan_in)
    if self.use_bias:
      self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                  initializer="zeros")

  def call(self, x):
    if self.padding:
      p = self.padding
      x = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
    y = tf.nn.conv2d(x, self.kernel * self.weight_scale, self.strides, "VALID")
    if self.use_bias:
      y = y + self.bias * self.lr_multiplier
    return y

