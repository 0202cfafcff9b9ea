"""FIR up/down-sampling against a NumPy upfirdn2d."""

import numpy as np
import pytest
import tensorflow as tf

from tfface import layers
from tests.layers import torch_reference as ref


def test_make_kernel_is_normalized_outer_product():
  k = layers.make_kernel([1, 3, 3, 1])
  np.testing.assert_allclose(k, np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0)


@pytest.mark.parametrize("up,down,pad,gain", [(1, 1, (1, 1), 1), (2, 1, (2, 1), 4),
                                              (1, 2, (1, 1), 1), (1, 1, (-1, 2), 1)])
def test_upfirdn2d_matches_reference(up, down, pad, gain):
  rng = np.random.default_rng(0)
  x = rng.standard_normal([2, 6, 6, 3]).astype(np.float32)
  kernel = rng.uniform(size=[4, 4]).astype(np.float32) * gain  # asymmetric
  got = layers.upfirdn2d(tf.constant(x), kernel, up=up, down=down, pad=pad)
  want = ref.upfirdn2d(x.transpose(0, 3, 1, 2).astype(np.float64),
                       kernel.astype(np.float64), up, down, pad)
  if min(pad) < 0:  # the reference pads only; crop like upfirdn2d does
    c = -min(pad)
    want = ref.upfirdn2d(x.transpose(0, 3, 1, 2), kernel, up, down,
                         (max(pad[0], 0), max(pad[1], 0)))[:, :, c:, c:]
  np.testing.assert_allclose(got.numpy(), want.transpose(0, 2, 3, 1),
                             rtol=1e-5, atol=1e-5)


def test_resampling_shapes_and_constant_gain():
  x = tf.ones([1, 8, 8, 2])
  up = layers.upsample_2x(x).numpy()
  down = layers.downsample_2x(x).numpy()
  assert up.shape == (1, 16, 16, 2) and down.shape == (1, 4, 4, 2)
  # A constant stays constant away from the zero-padded border.
  np.testing.assert_allclose(up[:, 2:-2, 2:-2], 1.0, rtol=1e-6)
  np.testing.assert_allclose(down[:, 1:-1, 1:-1], 1.0, rtol=1e-6)
  assert layers.Blur(pad=(1, 1))(x).shape == (1, 7, 7, 2)
