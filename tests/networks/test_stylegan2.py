"""StyleGAN2 networks: shapes for every resolution/channel option, truncation,
style mixing, intermediate features, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.networks import stylegan2


def test_channel_tables():
  assert stylegan2.channel_table(256) == {4: 512, 8: 512, 16: 512, 32: 512,
                                          64: 512, 128: 256, 256: 128}
  assert stylegan2.channel_table(1024, channel_multiplier=1)[1024] == 16
  assert stylegan2.channel_table(256, "liftedgan_generator") == {
      4: 512, 8: 512, 16: 256, 32: 128, 64: 64, 128: 32, 256: 16}
  assert stylegan2.channel_table(256, "liftedgan_discriminator")[256] == 32
  assert stylegan2.channel_table(64, divisor=32) == {4: 16, 8: 16, 16: 16,
                                                     32: 16, 64: 16}
  with pytest.raises(ValueError, match="stops at 256"):
    stylegan2.channel_table(512, "liftedgan_generator")
  with pytest.raises(ValueError, match="resolution"):
    stylegan2.channel_table(48)


@pytest.mark.parametrize("resolution,preset,multiplier,divisor", [
    (16, "upstream", 2, 32), (32, "liftedgan_generator", 2, 16),
    (64, "upstream", 1, 32), (64, "liftedgan_discriminator", 2, 32)])
def test_generator_and_discriminator_shapes(resolution, preset, multiplier,
                                            divisor):
  channels = stylegan2.channel_table(resolution, preset, multiplier, divisor)
  g = stylegan2.Generator(resolution, channels, z_dim=12, style_dim=8,
                          mapping_layers=2)
  z = tf.random.normal([2, 12])
  images, features = g(z, return_features=True)
  assert images.shape == (2, resolution, resolution, 3)
  num_ws = 2 * int(np.log2(resolution)) - 2
  assert g.num_ws == num_ws and len(features) == num_ws - 1
  assert features[-1].shape == (2, resolution, resolution,
                                channels[resolution])
  assert len(g.synthesis.noise_buffers) == num_ws - 1
  assert len(g.named_variables()) == len(g.weights)
  d = stylegan2.Discriminator(resolution, channels)
  assert d(images).shape == (2, 1)
  assert len(d.named_variables()) == len(d.weights)


@pytest.fixture(scope="module")
def tiny_generator():
  g = stylegan2.Generator(16, stylegan2.channel_table(16, divisor=64),
                          z_dim=10, style_dim=6, mapping_layers=2)
  g.build_all()
  g.w_avg.assign(np.linspace(-1, 1, 6).astype(np.float32))
  return g


def test_psi_zero_gives_w_avg_for_every_sample(tiny_generator):
  g = tiny_generator
  ws = stylegan2.broadcast_ws(g.mapping(tf.random.normal([4, 10])), g.num_ws)
  truncated = g.truncate(ws, 0.0).numpy()
  np.testing.assert_allclose(truncated, np.broadcast_to(
      g.w_avg.numpy(), truncated.shape), atol=1e-6)
  images = g(tf.random.normal([4, 10]), truncation_psi=0.0,
             noise_mode="const").numpy()
  np.testing.assert_allclose(images, np.broadcast_to(images[:1], images.shape),
                             atol=1e-5)
  # psi = 1 leaves ws alone; cutoff truncates only the first entries.
  np.testing.assert_allclose(g.truncate(ws, 1.0).numpy(), ws.numpy(), atol=1e-6)
  cut = g.truncate(ws, 0.0, cutoff=2).numpy()
  np.testing.assert_allclose(cut[:, :2], truncated[:, :2], atol=1e-6)
  np.testing.assert_allclose(cut[:, 2:], ws.numpy()[:, 2:], atol=1e-6)


def test_w_avg_moving_average(tiny_generator):
  g = stylegan2.Generator(16, stylegan2.channel_table(16, divisor=64),
                          z_dim=10, style_dim=6, mapping_layers=2)
  w = tf.ones([3, 6])
  g.update_w_avg(w, decay=0.9)
  np.testing.assert_allclose(g.w_avg.numpy(), 0.1, rtol=1e-6)
  g.update_w_avg(w, decay=0.9)
  np.testing.assert_allclose(g.w_avg.numpy(), 0.19, rtol=1e-6)


def test_style_mixing_uses_two_ws_at_the_right_layers(tiny_generator):
  g = tiny_generator
  w1, w2 = tf.random.normal([2, 6]), tf.random.normal([2, 6])
  mixed = stylegan2.mix_styles(w1, w2, 3, g.num_ws).numpy()
  assert mixed.shape == (2, g.num_ws, 6)
  np.testing.assert_array_equal(mixed[:, :3], np.repeat(w1.numpy()[:, None], 3, 1))
  np.testing.assert_array_equal(mixed[:, 3:],
                                np.repeat(w2.numpy()[:, None], g.num_ws - 3, 1))
  # The synthesis reads each W+ entry at its own layer: changing entries
  # from the crossover on changes the image, and the mixed image differs
  # from both pure ones.
  pure1 = g.synthesis(stylegan2.broadcast_ws(w1, g.num_ws), noise_mode="const")
  pure2 = g.synthesis(stylegan2.broadcast_ws(w2, g.num_ws), noise_mode="const")
  mixed_img = g.synthesis(mixed, noise_mode="const")
  assert np.abs(mixed_img - pure1).max() > 1e-4
  assert np.abs(mixed_img - pure2).max() > 1e-4
  # Mixing at index num_ws is no mixing at all.
  np.testing.assert_allclose(
      g.synthesis(stylegan2.mix_styles(w1, w2, g.num_ws, g.num_ws),
                  noise_mode="const").numpy(), pure1.numpy(), atol=1e-6)


def test_last_w_feeds_only_the_last_to_rgb(tiny_generator):
  # rosinality's indexing: conv1 <- w[0], to_rgb1 and convs[0] <- w[1], ...,
  # the last to_rgb <- w[num_ws - 1] alone: features ignore that entry.
  g = tiny_generator
  ws = stylegan2.broadcast_ws(tf.random.normal([1, 6]), g.num_ws).numpy()
  other = ws.copy()
  other[:, -1] += 3.0
  _, f1 = g.synthesis(ws, noise_mode="const", return_features=True)
  img2, f2 = g.synthesis(other, noise_mode="const", return_features=True)
  for a, b in zip(f1, f2):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert np.abs(img2 - g.synthesis(ws, noise_mode="const")).max() > 1e-5


def test_noise_modes(tiny_generator):
  g = tiny_generator
  for layer in [g.synthesis.conv1] + g.synthesis.convs:
    layer.noise.strength.assign([0.5])
  z = tf.random.normal([2, 10])
  const_a = g(z, noise_mode="const").numpy()
  np.testing.assert_array_equal(const_a, g(z, noise_mode="const").numpy())
  seed = tf.constant([1, 2])
  r1 = g(z, noise_mode="random", noise_seed=seed).numpy()
  np.testing.assert_array_equal(r1, g(z, noise_mode="random",
                                      noise_seed=seed).numpy())
  assert np.abs(r1 - const_a).max() > 1e-4
  with pytest.raises(ValueError, match="noise mode"):
    g(z, noise_mode="bogus")
  for layer in [g.synthesis.conv1] + g.synthesis.convs:
    layer.noise.strength.assign([0.0])


def test_mapping_takes_any_input_size():
  g = stylegan2.Generator(16, stylegan2.channel_table(16, divisor=64),
                          z_dim=286, style_dim=8, mapping_layers=8)
  assert g(tf.random.normal([2, 286])).shape == (2, 16, 16, 3)
  assert g.mapping.dense[0].kernel.shape == (286, 8)
  assert g.mapping.dense[0].lr_multiplier == 0.01 and len(g.mapping.dense) == 8


def test_bad_inputs_are_clear_errors(tiny_generator):
  with pytest.raises(ValueError, match="W\\+"):
    tiny_generator.synthesis(tf.zeros([1, 3, 6]))
  with pytest.raises(ValueError, match="lacks resolutions"):
    stylegan2.Generator(32, {4: 8, 8: 8})


def test_checkpoints_hold_every_weight(tmp_path):
  # tf.train.Checkpoint must see every variable, noise buffers and w̄ included
  # (Keras 3 models do not expose Python lists of layers to it).
  channels = stylegan2.channel_table(32, divisor=64)
  g = stylegan2.Generator(32, channels, z_dim=8, style_dim=8, mapping_layers=3)
  g.build_all()
  d = stylegan2.Discriminator(32, channels)
  d.build_all()
  path = tf.train.Checkpoint(g=g, d=d).save(str(tmp_path / "ckpt"))
  saved = [n for n, _ in tf.train.list_variables(path)
           if n.endswith("VARIABLE_VALUE") and not n.startswith("save_counter")]
  assert len(saved) == len(g.weights) + len(d.weights)
  g2 = stylegan2.Generator(32, channels, z_dim=8, style_dim=8, mapping_layers=3)
  g2.build_all()
  d2 = stylegan2.Discriminator(32, channels)
  d2.build_all()
  tf.train.Checkpoint(g=g2, d=d2).restore(path).assert_consumed()
  z = tf.random.normal([2, 8])
  np.testing.assert_array_equal(g(z, noise_mode="const").numpy(),
                                g2(z, noise_mode="const").numpy())
  images = tf.random.normal([2, 32, 32, 3])
  np.testing.assert_array_equal(d(images).numpy(), d2(images).numpy())
