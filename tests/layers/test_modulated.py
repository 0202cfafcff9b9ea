"""Modulated conv, noise injection and ToRGB against PyTorch-semantics NumPy."""

import numpy as np
import pytest
import tensorflow as tf

from tfface import layers
from tests.layers import torch_reference as ref


def _setup(layer, x, w, rng, out, cin, k):
  layer(x, w)
  weight = rng.standard_normal([1, out, cin, k, k]).astype(np.float32)
  mod_w = rng.standard_normal([cin, w.shape[1]]).astype(np.float32)
  mod_b = 1.0 + 0.1 * rng.standard_normal([cin]).astype(np.float32)
  layer.weight.assign(weight[0].transpose(2, 3, 1, 0))
  layer.modulation.kernel.assign(mod_w.T)
  layer.modulation.bias.assign(mod_b)
  return weight, mod_w, mod_b


@pytest.mark.parametrize("upsample,demodulate,k,fused", [
    (False, True, 3, False), (True, True, 3, False), (False, False, 1, False),
    (False, True, 3, True)])
def test_modulated_conv_matches_reference(upsample, demodulate, k, fused):
  rng = np.random.default_rng(0)
  x = rng.standard_normal([2, 4, 4, 3]).astype(np.float32)
  w = rng.standard_normal([2, 6]).astype(np.float32)
  layer = layers.ModulatedConv2D(5, k, demodulate=demodulate,
                                 upsample=upsample, fused=fused)
  weight, mod_w, mod_b = _setup(layer, x, w, rng, 5, 3, k)
  want = ref.modulated_conv(x.transpose(0, 3, 1, 2), w, weight, mod_w, mod_b,
                            demodulate, upsample).transpose(0, 2, 3, 1)
  got = layer(x, w).numpy()
  assert got.shape == ((2, 8, 8, 5) if upsample else (2, 4, 4, 5))
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_fused_and_unfused_modulation_agree():
  rng = np.random.default_rng(1)
  x = tf.constant(rng.standard_normal([3, 5, 5, 4]), tf.float32)
  w = tf.constant(rng.standard_normal([3, 8]), tf.float32)
  a = layers.ModulatedConv2D(6, 3, fused=False)
  b = layers.ModulatedConv2D(6, 3, fused=True)
  a(x, w), b(x, w)
  for src, dst in zip(a.weights, b.weights):
    dst.assign(src)
  np.testing.assert_allclose(a(x, w).numpy(), b(x, w).numpy(), rtol=1e-4,
                             atol=1e-5)


def test_demodulated_output_has_unit_scale():
  tf.keras.utils.set_random_seed(0)
  layer = layers.ModulatedConv2D(64, 3)
  x = tf.random.normal([4, 16, 16, 64])
  y = layer(x, 5.0 * tf.random.normal([4, 32])).numpy()
  assert 0.8 < y[:, 2:-2, 2:-2].std() < 1.2


def test_noise_injection_starts_at_zero_and_scales_noise():
  layer = layers.NoiseInjection()
  x = tf.zeros([2, 4, 4, 3])
  noise = tf.ones([1, 4, 4, 1])
  np.testing.assert_array_equal(layer(x, noise).numpy(), 0.0)
  layer.strength.assign([0.5])
  np.testing.assert_allclose(layer(x, noise).numpy(), 0.5)
  per_channel = layers.NoiseInjection(per_channel=True)
  per_channel(x, noise)
  per_channel.strength.assign([1.0, 2.0, 3.0])
  np.testing.assert_allclose(per_channel(x, noise).numpy()[0, 0, 0],
                             [1.0, 2.0, 3.0])


def test_to_rgb_adds_bias_and_upsampled_skip():
  rng = np.random.default_rng(3)
  x = rng.standard_normal([1, 8, 8, 4]).astype(np.float32)
  w = rng.standard_normal([1, 6]).astype(np.float32)
  skip = rng.standard_normal([1, 4, 4, 3]).astype(np.float32)
  layer = layers.ToRGB()
  layer(x, w, skip)
  layer.bias.assign([0.1, -0.2, 0.3])
  base = layer.conv(x, w).numpy() + np.array([0.1, -0.2, 0.3])
  up = ref.upfirdn2d(skip.transpose(0, 3, 1, 2),
                     ref.make_kernel([1, 3, 3, 1]) * 4, up=2, pad=(2, 1))
  np.testing.assert_allclose(layer(x, w, skip).numpy(),
                             base + up.transpose(0, 2, 3, 1), rtol=1e-5,
                             atol=1e-5)
