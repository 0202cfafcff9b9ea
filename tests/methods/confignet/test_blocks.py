"""ConfigNet's HoloGAN-style blocks: projection, discriminator block, 2D count."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.confignet import blocks


def test_projection_folds_depth_into_channels():
  unit = blocks.ProjectionUnit(5)
  volume = tf.random.stateless_normal([2, 4, 4, 3, 2], [1, 1])
  out = unit(volume)
  assert out.shape == (2, 4, 4, 5)
  assert unit.conv.kernel.shape == (1, 1, 6, 5)
  # It is a 1x1 conv of the depth-folded volume, then LeakyReLU(0.2).
  folded = tf.reshape(volume, [2, 4, 4, 6]).numpy()
  pre = folded @ unit.conv.kernel.numpy()[0, 0] + unit.conv.bias.numpy()
  np.testing.assert_allclose(out.numpy(), np.where(pre > 0, pre, 0.2 * pre),
                             rtol=1e-5, atol=1e-6)


def test_discriminator_block_halves_and_normalizes():
  block = blocks.DiscriminatorBlock(4)
  x = tf.random.stateless_normal([3, 8, 8, 2], [2, 1]) * 3.0
  features, logit = block(x)
  assert features.shape == (3, 4, 4, 4) and logit.shape == (3, 1)
  # Instance-normalized (then gamma=1, beta=0 at init) per sample/channel.
  f = features.numpy()
  np.testing.assert_allclose(f.mean(axis=(1, 2)), 0.0, atol=1e-4)
  assert np.all(f.std(axis=(1, 2)) < 1.0 + 1e-3)
  # The style logit sees the per-channel statistics: it changes with them.
  _, logit2 = block(x * 2.0)
  assert float(tf.reduce_max(tf.abs(logit - logit2))) > 0
  _, none = blocks.DiscriminatorBlock(4, style_output=False)(x)
  assert none is None


@pytest.mark.parametrize("resolution,count", [(32, 1), (64, 2), (256, 4),
                                              (512, 5)])
def test_num_2d_blocks(resolution, count):
  assert blocks.num_2d_blocks(resolution) == count


@pytest.mark.parametrize("resolution", [16, 48, 0, -64])
def test_num_2d_blocks_rejects_other_sizes(resolution):
  with pytest.raises(ValueError, match="power of two >= 32"):
    blocks.num_2d_blocks(resolution)
