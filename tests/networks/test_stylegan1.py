"""StyleGAN v1 pieces: shapes, the fade-in blend, fused convs, style ops, the
progressive schedule."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.layers import torch_reference as ref
from tfface.networks import stylegan1 as s1

W_DIM = 6


@pytest.fixture(scope="module")
def generator():
  g = s1.StyleGenerator((8, 8, 4), W_DIM, to_rgb_gain=0.03,
                        fused_min_resolution=16, name="g")
  g.build_all()
  # Non-zero noise weights and biases, so noise and every layer matter.
  rng = np.random.default_rng(0)
  for var in g.weights:
    if "noise_weight" in var.path or var.path.endswith("/bias"):
      var.assign(rng.normal(size=var.shape).astype(np.float32) * 0.5)
  return g


def test_channel_tables_match_the_references():
  assert s1.alae_channels(6, 64, 256) == (256, 256, 256, 256, 128, 64)
  assert s1.stylegan_channels(256) == (512, 512, 512, 512, 256, 128, 64)
  with pytest.raises(ValueError, match="power of two"):
    s1.stylegan_channels(100)


def test_generator_shapes_per_lod(generator):
  w = tf.random.normal([3, W_DIM])
  assert generator.num_layers == 6 and generator.resolution == 16
  for lod in range(3):
    out = generator(w, lod=lod, noise_mode="const")
    assert out.shape == (3, 4 * 2**lod, 4 * 2**lod, 3)
  ws = tf.random.normal([3, 6, W_DIM])
  assert generator(ws).shape == (3, 16, 16, 3)
  with pytest.raises(ValueError, match="lod"):
    generator(w, lod=3)
  with pytest.raises(ValueError, match="styles"):
    generator(tf.zeros([3, 5, W_DIM]))
  # Block 2 is fused (16 px >= fused_min_resolution), block 1 is not.
  assert isinstance(generator.blocks[2].conv_1, s1.FusedUpConv2D)
  assert not isinstance(generator.blocks[1].conv_1, s1.FusedUpConv2D)


@pytest.mark.parametrize("lod", [1, 2])
def test_fade_in_blends_the_two_resolutions_by_alpha(generator, lod):
  w = tf.random.normal([2, generator.num_layers, W_DIM], seed=1)
  old = s1.upsample_nearest(generator(w, lod=lod - 1, noise_mode="const"))
  new = generator(w, lod=lod, noise_mode="const")
  blend = lambda a: generator(w, lod=lod, alpha=tf.constant(a),
                              noise_mode="const").numpy()
  # alpha = 0: exactly the old LOD's output, nearest-upsampled; alpha = 1:
  # exactly the new LOD's.
  np.testing.assert_array_equal(blend(0.0), old.numpy())
  np.testing.assert_array_equal(blend(1.0), new.numpy())
  np.testing.assert_allclose(blend(0.25), 0.75 * old + 0.25 * new, atol=1e-6)
  assert np.abs(old - new).max() > 1e-3  # the two really differ


def test_noise_modes(generator):
  w = tf.random.normal([2, W_DIM])
  const = [generator(w, noise_mode="const").numpy() for _ in range(2)]
  np.testing.assert_array_equal(const[0], const[1])
  seed = tf.constant([3, 4])
  a = generator(w, noise_mode="random", noise_seed=seed).numpy()
  b = generator(w, noise_mode="random", noise_seed=seed).numpy()
  c = generator(w, noise_mode="random", noise_seed=seed + 1).numpy()
  np.testing.assert_array_equal(a, b)
  assert np.abs(a - c).max() > 1e-4
  none = generator(w, noise_mode="none").numpy()
  assert np.abs(none - const[0]).max() > 1e-4
  with pytest.raises(ValueError, match="noise_mode"):
    generator(w, noise_mode="loud")


def test_noise_weights_start_at_zero():
  g = s1.StyleGenerator((4, 4), W_DIM, name="fresh")
  g.build_all()
  weights = [v for v in g.weights if "noise_weight" in v.path]
  assert len(weights) == 4 and all(not np.any(v.numpy()) for v in weights)
  np.testing.assert_array_equal(g.const.numpy(), np.ones([1, 4, 4, 4]))
  w = tf.random.normal([2, W_DIM])
  np.testing.assert_array_equal(g(w, noise_mode="none").numpy(),
                                g(w, noise_mode="random").numpy())


def test_direct_style_mod_starts_like_one_plus():
  """IN·γ + β with γ's bias at 1 is IN·(1 + γ') + β with the same kernels."""
  outs = []
  for mode in ("one_plus", "direct"):
    layer = s1.StyledLayer(5, W_DIM, style_mod=mode, use_noise=False)
    layer(tf.zeros([1, 4, 4, 5]), tf.zeros([1, W_DIM]))
    layer.style.kernel.assign(np.full([W_DIM, 10], 0.3, np.float32))
    outs.append(layer)
  bias = outs[1].style.bias.numpy()
  np.testing.assert_array_equal(bias, [1.0] * 5 + [0.0] * 5)
  x = tf.random.normal([2, 4, 4, 5], seed=2)
  w = tf.random.normal([2, W_DIM], seed=3)
  np.testing.assert_allclose(outs[0](x, w).numpy(), outs[1](x, w).numpy(),
                             atol=1e-5)
  with pytest.raises(ValueError, match="style_mod"):
    s1.StyledLayer(5, W_DIM, style_mod="adain")


def _four_tap(w, scale):
  w = np.pad(w, [(1, 1), (1, 1), (0, 0), (0, 0)])
  return (w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]) * scale


def test_fused_up_conv_is_alaes_transposed_conv():
  layer = s1.FusedUpConv2D(5)
  x = np.random.default_rng(1).normal(size=[2, 6, 6, 3]).astype(np.float32)
  y = layer(x).numpy()
  kernel = _four_tap((layer.kernel * layer.weight_scale).numpy(), 1.0)
  # PyTorch conv_transpose2d(stride 2, padding 1) = full output cropped by 1.
  want = ref.conv_transpose2d(x.transpose(0, 3, 1, 2),
                              kernel.transpose(2, 3, 0, 1), 2)
  want = want[:, :, 1:-1, 1:-1].transpose(0, 2, 3, 1)
  assert y.shape == (2, 12, 12, 5)
  np.testing.assert_allclose(y, want, atol=1e-5)
  # The run-time scale is gain / sqrt(9 · C_in).
  assert math.isclose(layer.weight_scale, math.sqrt(2) / math.sqrt(27))


def test_fused_down_conv_is_conv_then_average_pool():
  layer = s1.FusedDownConv2D(4)
  x = np.random.default_rng(2).normal(size=[2, 8, 8, 3]).astype(np.float32)
  y = layer(x).numpy()
  kernel = _four_tap((layer.kernel * layer.weight_scale).numpy(), 0.25)
  want = ref.conv2d(x.transpose(0, 3, 1, 2), kernel.transpose(3, 2, 0, 1),
                    padding=1, stride=2).transpose(0, 2, 3, 1)
  np.testing.assert_allclose(y, want, atol=1e-5)
  # Equivalently: the 3x3 conv (zero pad 1) followed by 2x2 average pooling.
  conv = ref.conv2d(x.transpose(0, 3, 1, 2),
                    (layer.kernel * layer.weight_scale).numpy().transpose(
                        3, 2, 0, 1), padding=1)
  n, c, h, w = conv.shape
  pooled = np.pad(conv, [(0, 0), (0, 0), (0, 1), (0, 1)])
  pooled = sum(pooled[:, :, i:i + h:2, j:j + w:2]
               for i in (0, 1) for j in (0, 1)) / 4.0
  np.testing.assert_allclose(y, pooled.transpose(0, 2, 3, 1), atol=1e-5)


def test_wscale_layers_apply_the_gain():
  dense = s1.WScaleDense(3, gain=0.5, lr_multiplier=0.1)
  x = np.ones([1, 4], np.float32)
  y = dense(x).numpy()
  want = x @ dense.kernel.numpy() * 0.5 * 0.1 / 2.0
  # atol: an output near 0 (a sum of O(1) terms cancelling) carries float32
  # rounding that rtol alone rejects; the kernel is random and unseeded.
  np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
  # Initial run-time weights have std gain / sqrt(fan_in), as ALAE's lreq.
  big = s1.WScaleConv2D(64, 3, gain=math.sqrt(2))
  big.build((None, None, None, 32))
  runtime = (big.kernel * big.weight_scale).numpy()
  assert abs(runtime.std() - math.sqrt(2) / math.sqrt(9 * 32)) < 0.01


def test_mapping_network():
  f = s1.MappingNetwork(5, W_DIM, num_layers=3, lr_multiplier=0.1)
  f.build_all()
  z = tf.random.normal([4, 5], seed=4)
  w = f(z)
  assert w.shape == (4, W_DIM)
  # Pixel norm: z and 3·z map to the same w.
  np.testing.assert_allclose(f(3.0 * z).numpy(), w.numpy(), atol=1e-5)
  raw = s1.MappingNetwork(5, W_DIM, num_layers=3, normalize_input=False)
  raw.build_all()
  assert np.abs(raw(3.0 * z).numpy() - raw(z).numpy()).max() > 1e-4
  f.update_w_avg(w, decay=0.5)
  np.testing.assert_allclose(f.w_avg.numpy(), 0.5 * w.numpy().mean(0),
                             atol=1e-6)
  linear_end = s1.MappingNetwork(5, W_DIM, num_layers=2,
                                 final_activation=False)
  linear_end.build_all()
  assert np.any(linear_end(z).numpy() < -0.05)  # no lrelu at the end


def test_style_mixing_and_truncation():
  w1, w2 = tf.ones([2, 3]), -tf.ones([2, 3])
  mixed = s1.mix_styles(w1, w2, tf.constant(2), 5).numpy()
  np.testing.assert_array_equal(mixed[:, :2], 1.0)
  np.testing.assert_array_equal(mixed[:, 2:], -1.0)
  seeds = [tf.constant([i, 7]) for i in range(40)]
  always = {int(s1.mixing_cutoff(s, 1.0, 4, 10)) for s in seeds}
  assert always <= {1, 2, 3, 4} and len(always) > 1
  assert {int(s1.mixing_cutoff(s, 0.0, 4, 10)) for s in seeds} == {10}
  ws = tf.random.normal([2, 4, 3])
  avg = tf.constant([1.0, 2.0, 3.0])
  out = s1.truncate(ws, avg, 0.0, cutoff=2).numpy()
  np.testing.assert_allclose(out[:, :2], np.broadcast_to(avg, [2, 2, 3]))
  np.testing.assert_array_equal(out[:, 2:], ws.numpy()[:, 2:])


def test_progressive_schedule():
  s = s1.ProgressiveSchedule(3, images_per_lod=100, fade_images=40,
                             batch_sizes=(10, 10, 5))
  assert s.start_steps == (0, 10, 20)
  assert [s.lod_at(t) for t in (0, 9, 10, 19, 20, 500)] == [0, 0, 1, 1, 2, 2]
  assert s.alpha_at(5) == 1.0 and s.alpha_at(10) == 0.0
  # LOD 2: 5 images per step, a 40-image fade = 8 steps, sinusoidal.
  assert math.isclose(s.alpha_at(24), 0.5, abs_tol=1e-9)
  assert s.alpha_at(28) == 1.0
  for step in range(32):
    lod, alpha = s.lod_and_alpha(tf.constant(step, tf.int64))
    assert int(lod) == s.lod_at(step)
    assert math.isclose(float(alpha), s.alpha_at(step), abs_tol=1e-6)
  assert s.total_steps(50) == 30
  linear = s1.ProgressiveSchedule(3, 100, 40, (10,), fade="linear")
  assert linear.batch_sizes == (10, 10, 10)
  assert math.isclose(linear.alpha_at(11), 0.25)
  with pytest.raises(ValueError, match="fade"):
    s1.ProgressiveSchedule(3, 100, 40, (10,), fade="cubic")
  with pytest.raises(ValueError, match="fade_images"):
    s1.ProgressiveSchedule(3, 100, 400, (10,))
