"""Shapes and behaviour of ConfigNet's networks."""


import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.confignet import factors
from tfface.methods.confignet import model

TABLE = factors.FactorTable({"expression": (4, 3), "identity": (5, 2),
                             "hair": (3, 2)})
SMALL_G = dict(const_channels=8, channels_3d=(8, 4), channels_3d_post=(4, 4),
               projection_channels=8, channels_2d=(8, 4), mlp_units=8)


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
