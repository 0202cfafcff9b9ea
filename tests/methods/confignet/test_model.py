"""Shapes and behaviour of ConfigNet's networks, blocks and factor tables."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.confignet import blocks
from tfface.methods.confignet import factors
from tfface.methods.confignet import model

TABLE = factors.FactorTable({"expression": (4, 3), "identity": (5, 2),
                             "hair": (3, 2)})
SMALL_G = dict(const_channels=8, channels_3d=(8, 4), channels_3d_post=(4, 4),
               projection_channels=8, channels_2d=(8, 4), mlp_units=8)


def test_paper_table_has_12_factors_and_145_latents():
  table = factors.paper_factor_table()
  assert len(table) == 12 and table.latent_dim == 145
  assert table.theta_dim == 304
  # Alphabetical layout as in the reference: blendshapes occupy 7..36.
  assert table.latent_slice("blendshape_values") == (7, 37)
  assert table.latent_slice("upper_eyelash_style") == (143, 145)


def test_table_from_sizes_drops_pose_and_sorts():
  table = factors.table_from_sizes(
      {"pose": 3, "sh": 27, "expression": 24, "gaze": 2},
      z_dims={"gaze": 2})
  assert table.names == ("expression", "gaze", "sh")
  assert table["sh"].z_dim == 14 and table["expression"].z_dim == 12
  # A colour keeps its three channels (the reference's hair colour: 3 -> 3).
  assert [factors.default_z_dim(n) for n in (1, 2, 3, 4, 62, 100)] == [
      1, 2, 3, 2, 30, 30]
  with pytest.raises(ValueError, match="unknown factors"):
    factors.table_from_sizes({"sh": 27}, z_dims={"nope": 2})
  with pytest.raises(ValueError, match="preset"):
    factors.make_factor_table("nonsense")


def test_synthetic_preset_follows_dataset_sizes():
  from tfface.data import synthetic
  sizes = synthetic.synthetic_factor_sizes()
  table = factors.synthetic_factor_table()
  assert "pose" not in table.names
  assert set(table.names) == set(sizes) - {"pose"}
  for f in table.factors:
    assert f.theta_dim == sizes[f.name]


@pytest.mark.parametrize("resolution", [32, 64])
def test_generator_shapes_and_range(resolution):
  g = model.Generator(TABLE.latent_dim, resolution, **SMALL_G)
  z = tf.random.normal([2, TABLE.latent_dim])
  out = g(z, tf.constant([[0.1, 0.3, 0.0], [0.0, -0.5, 0.0]]))
  assert out.shape == (2, resolution, resolution, 3)
  assert float(tf.reduce_max(tf.abs(out))) <= 1.0
  # The rotation input changes the image (it is used, not ignored).
  other = g(z, tf.zeros([2, 3]))
  assert float(tf.reduce_mean(tf.abs(out - other))) > 0


@pytest.mark.parametrize("constant_size", [8, 16])
def test_finer_constant_keeps_the_volume_at_16_and_differs_per_voxel(
    constant_size):
  g = model.Generator(TABLE.latent_dim, 32, constant_size=constant_size,
                      **SMALL_G)
  out = g(tf.zeros([1, TABLE.latent_dim]), tf.zeros([1, 3]))
  assert out.shape == (1, 32, 32, 3)
  assert g.constant.shape == (constant_size,) * 3 + (SMALL_G["const_channels"],)
  assert sum(g.upsample_3d) == {8: 1, 16: 0}[constant_size]
  assert float(tf.math.reduce_std(g.constant)) > 0.01
  assert g.config_kwargs["constant_size"] == constant_size
  with pytest.raises(ValueError, match="constant_size"):
    model.Generator(4, 32, constant_size=32, **SMALL_G)


def test_generator_rejects_bad_resolution():
  with pytest.raises(ValueError, match="power of two"):
    model.Generator(4, 48, **SMALL_G)


def test_reference_256_configuration_builds():
  table = factors.paper_factor_table()
  g = model.Generator(table.latent_dim, 256)
  g(tf.zeros([1, table.latent_dim]), tf.zeros([1, 3]))
  names = [w.path for w in g.weights]
  assert any("constant" in n for n in names)
  assert g.constant.shape == (4, 4, 4, 512)
  assert g.upsample_3d == [True, True]
  # 4 upsampling 2D blocks at 256 px (256, 64, 32, 32 channels).
  assert [b.conv.filters for b in g.blocks_2d] == [256, 64, 32, 32]
  d = model.ImageDiscriminator(256)
  logits = d(tf.zeros([1, 256, 256, 3]))
  assert sorted(logits) == ["final"] + [f"style_{i}" for i in range(5)]
  assert [b.filters for b in d.trunk.blocks] == [48, 96, 192, 384, 512]


def test_rotate_volume_moves_a_voxel_as_the_pose_says():
  volume = np.zeros([1, 16, 16, 16, 1], np.float32)
  volume[0, 7, 12, 7, 0] = 1.0  # x = +4.5 (image right), y = +0.5, z = -0.5
  out = blocks.rotate_volume(tf.constant(volume),
                             tf.constant([[0.0, math.pi / 2, 0.0]]))
  # Yaw +90° about +y takes +x to -z (away from the camera): depth index 3.
  i, j, k, _ = np.unravel_index(np.argmax(out[0].numpy()), out.shape[1:])
  assert (i, k) == (7, 3) and j in (7, 8)
  same = blocks.rotate_volume(tf.constant(volume), tf.zeros([1, 3]))
  np.testing.assert_allclose(same.numpy(), volume, atol=1e-6)


def test_rotate_volume_is_differentiable_in_angles():
  volume = tf.random.normal([1, 4, 4, 4, 2], seed=1)
  angles = tf.constant([[0.1, 0.2, 0.05]])
  with tf.GradientTape() as tape:
    tape.watch(angles)
    out = tf.reduce_sum(tf.square(blocks.rotate_volume(volume, angles)))
  assert float(tf.reduce_sum(tf.abs(tape.gradient(out, angles)))) > 0


def test_euler_matrix_is_rz_ry_rx():
  angles = tf.constant([[0.3, -0.4, 0.2]])
  r = blocks.euler_to_matrix(angles)[0].numpy()
  np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-6)
  p, y, ro = 0.3, -0.4, 0.2
  rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
  ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
  rz = np.array([[np.cos(ro), -np.sin(ro), 0], [np.sin(ro), np.cos(ro), 0], [0, 0, 1]])
  np.testing.assert_allclose(r, rz @ ry @ rx, atol=1e-6)
  with pytest.raises(ValueError, match="pitch, yaw, roll"):
    blocks.euler_to_matrix(tf.zeros([2, 2]))


def test_synthetic_encoder_concatenates_in_sorted_order():
  enc = model.SyntheticEncoder(TABLE)
  theta = {"expression": tf.ones([2, 4]), "identity": tf.zeros([2, 5]),
           "hair": tf.zeros([2, 3]), "pose": tf.zeros([2, 3])}
  z = enc(theta)
  assert z.shape == (2, TABLE.latent_dim)
  start, stop = TABLE.latent_slice("expression")
  np.testing.assert_allclose(
      z[:, start:stop], enc.encode_factor("expression", theta["expression"]))
  with pytest.raises(ValueError, match="missing factors"):
    enc({"expression": tf.ones([2, 4])})
  with pytest.raises(ValueError, match=r"\[B, 5\]"):
    enc.encode_factor("identity", tf.zeros([2, 4]))


@pytest.mark.parametrize("backbone", ["small", "resnet50"])
def test_real_encoder_bounds_rotation(backbone):
  enc = model.RealEncoder(TABLE.latent_dim, 32, backbone,
                          small_widths=(4, 8))
  z, rot = enc(tf.random.uniform([2, 32, 32, 3], -1, 1))
  assert z.shape == (2, TABLE.latent_dim) and rot.shape == (2, 3)
  bounds = np.array(model.ROTATION_BOUNDS)
  assert np.all(np.abs(rot.numpy()) <= bounds + 1e-6)
  assert np.all(rot.numpy()[:, 2] == 0)  # roll is always 0


def test_real_encoder_rejects_unknown_backbone():
  with pytest.raises(ValueError, match="backbone"):
    model.RealEncoder(4, 32, "vgg")


def test_discriminators_regressor_and_mlps():
  d = model.ImageDiscriminator(32, num_blocks=3, base_filters=4, max_filters=8)
  logits = d(tf.zeros([3, 32, 32, 3]))
  assert len(logits) == 4 and all(v.shape == (3, 1) for v in logits.values())
  reg = model.LatentRegressor(TABLE.latent_dim, 32, num_blocks=3,
                              base_filters=4, max_filters=8)
  assert reg(tf.zeros([3, 32, 32, 3])).shape == (3, TABLE.latent_dim + 3)
  dda = model.DomainDiscriminator(TABLE.latent_dim)
  assert dda(tf.zeros([3, TABLE.latent_dim])).shape == (3, 1)
  assert len(dda.mlp.dense) == 3  # 4 Dense layers in all
  glat = model.LatentGenerator(TABLE.latent_dim)
  assert glat(tf.zeros([3, TABLE.latent_dim])).shape == (3, TABLE.latent_dim)


def test_checkpoints_hold_every_generator_weight(tmp_path):
  g = model.Generator(TABLE.latent_dim, 32, **SMALL_G)
  g(tf.zeros([1, TABLE.latent_dim]), tf.zeros([1, 3]))
  path = tf.train.Checkpoint(g=g).save(str(tmp_path / "ck"))
  stored = [n for n, _ in tf.train.list_variables(path) if n.startswith("g/")]
  assert len(stored) == len(g.weights)
