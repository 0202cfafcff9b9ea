"""Dense stacks: :class:`MLP` (Dense/LeakyReLU, linear last) and :func:`leaky_stack`."""

from typing import Sequence

import tensorflow as tf

from tfface.layers.tracking import track

keras = tf.keras


class MLP(keras.layers.Layer):
  """``num_layers`` Dense layers with LeakyReLU between them, the last linear.

  ConfigNet's ``MLPSimple``: its E_S factor encoders, D_DA and the latent
  GAN are this stack.

  Args:
    num_layers: total Dense layers (>= 1).
    hidden: width of the hidden layers.
    out: output width.
    slope: LeakyReLU slope (Keras' default 0.3, which ConfigNet uses).

  Call ``(x)``: `[B, D_in]` float32 -> `[B, out]` float32.
  """

  def __init__(self, num_layers: int, hidden: int, out: int,
               slope: float = 0.3, **kwargs):
    super().__init__(**kwargs)
    if num_layers < 1:
      raise ValueError(f"MLP needs at least one layer, got {num_layers}")
    self.slope = float(slope)
    self.dense = track(self, "hidden", [
        keras.layers.Dense(int(hidden), name=f"dense_{i}")
        for i in range(int(num_layers) - 1)])
    self.final = keras.layers.Dense(int(out), name="dense_out")

  def call(self, x):
    x = leaky_stack(x, self.dense, self.slope)
    return self.final(x)


def leaky_stack(x: tf.Tensor, layers: Sequence[keras.layers.Layer],
                slope: float) -> tf.Tensor:
  """Applies ``layers`` in order, each followed by LeakyReLU(slope)."""
  for layer in layers:
    x = tf.nn.leaky_relu(layer(x), slope)
  return x
