"""Equalized-lr dense/conv and the fused leaky ReLU against PyTorch-semantics NumPy."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfface import layers
from tests.layers import torch_reference as ref


def test_fused_leaky_relu_slope_and_gain():
  x = tf.constant([[-2.0, 0.0, 3.0]])
  y = layers.fused_leaky_relu(x, tf.constant([1.0, 0.0, -1.0])).numpy()
  np.testing.assert_allclose(y, [[-0.2 * math.sqrt(2), 0.0, 2 * math.sqrt(2)]],
                             rtol=1e-6)


@pytest.mark.parametrize("lr_mul,activation", [(1.0, None), (0.01, "lrelu")])
def test_equalized_dense_matches_equal_linear(lr_mul, activation):
  rng = np.random.default_rng(0)
  layer = layers.EqualizedDense(5, lr_multiplier=lr_mul, activation=activation)
  x = rng.standard_normal([3, 7]).astype(np.float32)
  layer(x)
  weight = rng.standard_normal([5, 7]).astype(np.float32) / lr_mul  # (out, in)
  bias = rng.standard_normal([5]).astype(np.float32)
  layer.kernel.assign(weight.T)
  layer.bias.assign(bias)
  expected = ref.equal_linear(x, weight, bias, lr_mul, activation == "lrelu")
  np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_equalized_dense_init_gives_unit_scale_outputs():
  # Runtime scaling: unit-variance inputs give ~unit-variance outputs,
  # whatever the lr multiplier (stored weights are N(0, 1/lr_mul^2)).
  tf.keras.utils.set_random_seed(1)
  layer = layers.EqualizedDense(256, lr_multiplier=0.01)
  x = tf.random.normal([512, 256])
  y = layer(x).numpy()
  assert 0.85 < y.std() < 1.15
  assert abs(float(np.std(layer.kernel.numpy())) - 100.0) < 5.0


def test_lr_multiplier_scales_the_effective_step():
  # d y / d kernel carries the runtime scale lr_mul / sqrt(fan_in).
  layer = layers.EqualizedDense(1, lr_multiplier=0.01, use_bias=False)
  x = tf.ones([1, 4])
  layer(x)
  with tf.GradientTape() as tape:
    y = tf.reduce_sum(layer(x))
  grad = tape.gradient(y, layer.kernel).numpy()
  np.testing.assert_allclose(grad, np.full([4, 1], 0.01 / 2.0), rtol=1e-6)


@pytest.mark.parametrize("stride,padding,k", [(1, 1, 3), (2, 0, 3), (1, 0, 1)])
def test_equalized_conv_matches_equal_conv2d(stride, padding, k):
  rng = np.random.default_rng(2)
  x = rng.standard_normal([2, 8, 8, 3]).astype(np.float32)
  weight = rng.standard_normal([4, 3, k, k]).astype(np.float32)  # OIHW
  bias = rng.standard_normal([4]).astype(np.float32)
  layer = layers.EqualizedConv2D(4, k, strides=stride, padding=padding)
  layer(x)
  layer.kernel.assign(weight.transpose(2, 3, 1, 0))
  layer.bias.assign(bias)
  expected = ref.equal_conv(x.transpose(0, 3, 1, 2), weight, bias, stride,
                            padding).transpose(0, 2, 3, 1)
  np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-4, atol=1e-4)
