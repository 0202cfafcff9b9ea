"""LiftedGAN networks: shapes, post-processing ranges, the frozen G wrapper,
de-lighting, the VGG16 loader."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.liftedgan import networks
from tfface.rendering import depth_renderer as dr
from tests.methods.liftedgan import fixtures


@pytest.fixture(scope="module")
def model():
  return fixtures.tiny_model()


@pytest.fixture(scope="module")
def components(model):
  w = model.generator.mapping(tf.random.stateless_normal([3, fixtures.Z_DIM],
                                                         [1, 2]))
  return model.estimate(w)


def test_estimate_shapes(model, components):
  s = fixtures.SIZE
  expected = {"light": (3, 4), "view": (3, 6), "w0": (3, fixtures.STYLE_DIM),
              "canonical": (3, s, s, 3), "depth": (3, s, s, 1),
              "normals": (3, s, s, 3), "albedo": (3, s, s, 3),
              "transformation": (3, s, s, 1)}
  assert {k: tuple(v.shape) for k, v in components.items()} == expected
  for name in ("light", "view"):  # tanh outputs
    assert float(tf.reduce_max(tf.abs(components[name]))) < 1.0


def test_depth_range_and_border_columns(components):
  depth = components["depth"].numpy()[..., 0]
  inner = depth[:, :, 2:-2]
  assert inner.min() > 0.9 and inner.max() < 1.1
  assert inner.std() > 0  # not a constant map
  np.testing.assert_allclose(depth[:, :, :2], 1.05)
  np.testing.assert_allclose(depth[:, :, -2:], 1.05)


def test_transformation_map_is_one_on_the_face_zero_on_the_frame(model):
  s = fixtures.SIZE
  # A face (depth 1.0) in the centre, background (1.08) around it, and a raw
  # map that says "do not move" everywhere: T is 1 inside the face, 0 on the
  # frame and small far from the face.
  depth = np.full([1, s, s, 1], 1.08, np.float32)
  depth[:, 4:12, 4:12] = 1.0
  raw = np.full([1, s, s, 1], -30.0, np.float32)
  t = dr.transformation_map_from_network(raw, depth, model.border_depth,
                                         model.blur_size,
                                         model.blur_sigma).numpy()[0, ..., 0]
  assert t[7:9, 7:9].min() > 0.999  # the blur reaches only face pixels
  assert t[6:10, 6:10].min() > 0.9
  assert t[0].max() == 0 and t[-1].max() == 0
  assert t[:, :2].max() == 0 and t[:, -2:].max() == 0
  assert t[1, 2] < 0.05
  assert 0.0 <= t.min() and t.max() <= 1.0


def test_neutral_code_and_light(model):
  light = tf.constant([[0.3, -0.2, 0.5, -0.7]])
  neutral, view = networks.neutral_light_view(light)
  np.testing.assert_allclose(neutral.numpy(), [[0.3, -0.2, 0.0, 0.0]])
  np.testing.assert_allclose(view.numpy(), np.zeros([1, 6]))


def test_scale_shift_starts_as_identity_and_mlp_shapes():
  layer = networks.ScaleShift()
  x = tf.random.normal([2, 5])
  np.testing.assert_allclose(layer(x).numpy(), x.numpy())
  mlp = networks.MLP(3, hidden=8, normalize=True, activation="tanh")
  assert mlp(tf.zeros([4, 6])).shape == (4, 3)
  assert len(mlp.dense) == 4 and len(mlp.norms) == 3
  with pytest.raises(ValueError, match="activation"):
    networks.MLP(3, activation="relu")


def test_decoders_shapes_and_inject_conv():
  depth_net = networks.DepthDecoder(32, z_dim=8, nf=4, max_channels=16)
  w0 = tf.random.normal([2, 8])
  feature = tf.random.normal([2, 32, 32, 5])
  raw = depth_net((w0, feature))
  assert raw.shape == (2, 32, 32, 1)
  # The feature map reaches the output (InjectConv).
  assert float(tf.reduce_max(tf.abs(
      depth_net((w0, feature * 0.0)) - raw))) > 0
  assert [u.filters for u in depth_net.ups] == [8, 4]
  t_net = networks.TransformationDecoder(32, z_dim=8, nf=4, max_channels=16)
  assert t_net(w0).shape == (2, 32, 32, 1)
  with pytest.raises(ValueError, match="power of two"):
    networks.DepthDecoder(24)


def test_short_run_inits_start_m_as_identity_and_depth_flat():
  w = tf.random.normal([3, 8])
  light, view = tf.random.normal([3, 4]), tf.random.normal([3, 6])
  m = networks.StyleComposition(8, hidden=16, num_layers=2, residual=True)
  np.testing.assert_allclose(m((w, light, view)).numpy(), w.numpy())
  plain = networks.StyleComposition(8, hidden=16, num_layers=2)
  assert float(tf.reduce_max(tf.abs(plain((w, light, view)) - w))) > 1e-2
  # Trainable away from the identity: the zero output layer gets gradients.
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.square(m((w, light, view)) - 1.0))
  grad = tape.gradient(loss, m.compose.dense[-1].kernel)
  assert float(tf.reduce_max(tf.abs(grad))) > 0
  flat = networks.DepthDecoder(32, z_dim=8, nf=4, max_channels=16,
                               flat_init=True)
  feature = tf.random.normal([3, 32, 32, 5])
  depth = dr.depth_from_network(flat((w, feature)))
  # Flat in the middle of the range (border columns aside).
  np.testing.assert_allclose(depth.numpy()[:, :, 2:-2], 1.0, atol=1e-6)
  rough = dr.depth_from_network(networks.DepthDecoder(
      32, z_dim=8, nf=4, max_channels=16)((w, feature)))
  assert float(tf.math.reduce_std(rough[:, :, 2:-2])) > 1e-4


def test_reference_channel_table_at_256():
  first, blocks = networks._decoder_channels(256, 16, 512)
  assert (first, blocks) == (512, [256, 128, 64, 32, 16])


def test_frozen_generator_uses_stored_noise_and_returns_last_feature(model):
  g = model.generator
  w = g.mapping(tf.random.normal([2, fixtures.Z_DIM]))
  a, feature = g(w, return_feature=True)
  b = g(w)
  np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
  assert feature.shape == (2, fixtures.SIZE, fixtures.SIZE, 8)
  assert not g.generator.trainable
  assert g.generator.trainable_variables == []
  # w statistics: sigma_inv = 0.5 / sigma^2 of the mapping outputs.
  assert float(g.w_sigma_inv) > 0
  ws = g.generator.mapping(tf.random.normal([4000, fixtures.Z_DIM])).numpy()
  np.testing.assert_allclose(g.w_mu.numpy(), ws.mean(0), atol=0.1)
  # Truncation toward w_mu: psi 0 gives w_mu.
  np.testing.assert_allclose(
      g.mapping(tf.random.normal([1, fixtures.Z_DIM]), 0.0).numpy()[0],
      g.w_mu.numpy(), atol=1e-6)


def test_delight_inverts_frontal_shading(model):
  s = fixtures.SIZE
  rng = np.random.default_rng(0)
  depth = tf.constant(rng.uniform(0.95, 1.05, [2, s, s, 1]), tf.float32)
  albedo = tf.constant(rng.uniform(-0.8, 0.8, [2, s, s, 3]), tf.float32)
  light = tf.constant([[0.2, 0.6, 0.0, 0.0], [-0.5, 0.1, 0.0, 0.0]])
  shaded = model.renderer.shade(depth, albedo, light)
  recovered = networks.delight(shaded["canonical_image"], shaded["normals"],
                               light)
  np.testing.assert_allclose(recovered.numpy(), albedo.numpy(), atol=1e-5)


def test_vgg16_layout_and_torchvision_loader(tmp_path):
  vgg = networks.VGG16Features(width=0.125)
  feats = vgg(tf.zeros([1, 16, 16, 3]))
  assert [tuple(f.shape) for f in feats] == [(1, 8, 8, 16), (1, 4, 4, 32),
                                              (1, 2, 2, 64)]
  # A torchvision-style state dict: features.<i>.weight [O, I, 3, 3].
  rng = np.random.default_rng(0)
  arrays = {}
  torch_index = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21]
  cin = 3
  for i, c in zip(torch_index, (64, 64, 128, 128, 256, 256, 256, 512, 512,
                                512)):
    arrays[f"features.{i}.weight"] = rng.normal(
        size=(c, cin, 3, 3)).astype(np.float32)
    arrays[f"features.{i}.bias"] = rng.normal(size=(c,)).astype(np.float32)
    cin = c
  path = str(tmp_path / "vgg16.npz")
  np.savez(path, **arrays)
  full = networks.VGG16Features(path)
  np.testing.assert_array_equal(
      full.convs[2].kernel.numpy()[1, 2, 5, 7],
      arrays["features.5.weight"][7, 5, 1, 2])
  assert not full.trainable_variables
  with pytest.raises(ValueError, match="width 1"):
    networks.VGG16Features(path, width=0.5)
