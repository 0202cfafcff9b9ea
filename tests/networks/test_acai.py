"""ACAI's encoder, decoder and critic: shapes at the reference's sizes."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.networks import acai


def test_reference_sizes_give_a_128_d_code_and_64_px_images():
  """64 px, depth 16, 5 scales, 32 channels: 66 -> 33 -> 16 -> 8 -> 4 -> 2."""
  assert acai.code_spatial_size(64, 5, stem_padding=1) == 2
  assert acai.code_spatial_size(64, 5, stem_padding=0) == 2
  assert acai.code_spatial_size(32, 4) == 2
  encoder = acai.ACAIEncoder(5, 16, 32)
  code = encoder(tf.zeros([2, 64, 64, 3]))
  assert code.shape == (2, 2, 2, 32)
  assert np.prod(code.shape[1:]) == 128
  decoder = acai.ACAIDecoder(5, 16, 32)
  assert decoder(code).shape == (2, 64, 64, 3)
  critic = acai.ACAICritic(5, 16, 32)
  assert critic(tf.zeros([3, 64, 64, 3])).shape == (3, 1)
  # Channel widths depth * 2**s per scale, then depth * 2**scales.
  widths = [c.filters for c in encoder.stack.convs]
  assert widths == [16, 32, 64, 128, 256]
  assert encoder.stack.top.filters == 512
  assert [c.filters for c in decoder.convs] == [256, 128, 64, 32, 16]


def test_stem_padding_grows_the_input_by_its_bias_border():
  """The padded 1x1 stem: the border of the stem output is its bias alone."""
  encoder = acai.ACAIEncoder(1, 2, 1)
  encoder(tf.zeros([1, 4, 4, 3]))
  stack = encoder.stack
  x = tf.pad(tf.ones([1, 4, 4, 3]), [[0, 0], [1, 1], [1, 1], [0, 0]])
  stem = stack.stem(x)
  assert stem.shape == (1, 6, 6, 2)
  np.testing.assert_allclose(stem[0, 0, 0], stack.stem.bias.numpy(), atol=1e-6)


def test_two_convs_per_scale_and_flat_codes():
  encoder = acai.ACAIEncoder(3, 4, 2, convs_per_scale=2)
  code = encoder(tf.zeros([2, 16, 16, 3]))
  assert len(encoder.stack.convs) == 6 and code.shape == (2, 2, 2, 2)
  z = acai.flatten_code(code)
  assert z.shape == (2, 8)
  np.testing.assert_array_equal(acai.unflatten_code(z, (2, 2, 2)), code)


def test_bad_sizes_are_one_clear_error():
  with pytest.raises(ValueError, match="no code map"):
    acai.code_spatial_size(8, 5, stem_padding=0)
  with pytest.raises(ValueError, match="scales"):
    acai.ACAIEncoder(0, 4, 2)
