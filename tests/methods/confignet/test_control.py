"""Control API: factor edits, projected gradient descent, one-shot tuning."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.losses import perceptual
from tfface.methods.confignet import control
from tfface.methods.confignet import factors
from tfface.methods.confignet import model

TABLE = factors.FactorTable({"expression": (3, 3), "identity": (5, 2),
                             "hair": (3, 2)})
SMALL_G = dict(const_channels=8, channels_3d=(8, 4), channels_3d_post=(4, 4),
               projection_channels=8, channels_2d=(8,), mlp_units=8)


@pytest.fixture(scope="module")
def controller():
  tf.keras.utils.set_random_seed(0)
  g = model.Generator(TABLE.latent_dim, 32, **SMALL_G)
  e_s = model.SyntheticEncoder(TABLE)
  e_r = model.RealEncoder(TABLE.latent_dim, 32, "small", small_widths=(4, 8))
  model.build_networks({"g": g, "e_s": e_s, "e_r": e_r}, TABLE, 32)
  # A well-conditioned, invertible E_S for the expression factor (θ 3 -> z 3).
  mlp = e_s.encoders["expression"]
  rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
  mlp.dense[0].set_weights([np.eye(3, dtype=np.float32) * 2.0,
                            np.full(3, -0.5, np.float32)])
  mlp.final.set_weights([rotation.astype(np.float32), np.zeros(3, np.float32)])
  return control.ConfigNetController(g, e_s, TABLE, e_r)


def test_swap_changes_only_its_latent_slice(controller):
  za = tf.random.normal([2, TABLE.latent_dim], seed=1)
  zb = tf.random.normal([2, TABLE.latent_dim], seed=2)
  swapped = controller.swap_factor(za, zb, "identity").numpy()
  start, stop = TABLE.latent_slice("identity")
  np.testing.assert_array_equal(swapped[:, start:stop], zb.numpy()[:, start:stop])
  outside = np.ones(TABLE.latent_dim, bool)
  outside[start:stop] = False
  np.testing.assert_array_equal(swapped[:, outside], za.numpy()[:, outside])


def test_set_factor_uses_the_factor_encoder(controller):
  z = tf.random.normal([2, TABLE.latent_dim], seed=3)
  theta = tf.constant([0.1, 0.5, 0.9])
  edited = controller.set_factor(z, "expression", theta).numpy()
  start, stop = TABLE.latent_slice("expression")
  expected = controller.synthetic_encoder.encode_factor(
      "expression", tf.tile(theta[None], [2, 1])).numpy()
  np.testing.assert_allclose(edited[:, start:stop], expected, rtol=1e-6)
  np.testing.assert_array_equal(edited[:, stop:], z.numpy()[:, stop:])
  with pytest.raises(ValueError, match=r"\[B, 3\]"):
    controller.set_factor(z, "expression", tf.zeros([2, 4]))
  with pytest.raises(KeyError, match="unknown factor"):
    controller.set_factor(z, "beard", tf.zeros([2, 3]))


def test_pgd_recovers_theta_of_a_known_encoder(controller):
  truth = tf.constant([[0.2, 0.7, 0.45], [0.9, 0.1, 0.6]])
  z_i = controller.synthetic_encoder.encode_factor("expression", truth)
  fitted = controller.fit_factor("expression", z_i, steps=2000)
  np.testing.assert_allclose(fitted.numpy(), truth.numpy(), atol=0.02)


def test_pgd_respects_its_box_and_frozen_entries(controller):
  outside = tf.constant([[1.6, -0.4, 0.5]])
  z_i = controller.synthetic_encoder.encode_factor("expression", outside)
  fitted = controller.fit_factor("expression", z_i, steps=300).numpy()
  assert np.all(fitted >= 0.0) and np.all(fitted <= 1.0)
  assert fitted[0, 0] == pytest.approx(1.0) and fitted[0, 1] == 0.0
  frozen = controller.fit_factor("expression", z_i, steps=50,
                                 frozen=[2]).numpy()
  assert frozen[0, 2] == 0.0
  boxed = controller.fit_factor("expression", z_i, lower=0.2, upper=0.3,
                                steps=50).numpy()
  assert np.all((boxed >= 0.2 - 1e-7) & (boxed <= 0.3 + 1e-7))


def test_fine_tuning_lowers_its_loss_and_keeps_g(controller):
  image = tf.random.stateless_uniform([1, 32, 32, 3], [5, 0], -1, 1)
  before = [w.numpy().copy() for w in controller.generator.weights]
  loss = perceptual.PerceptualLoss(width=0.0625)
  face = perceptual.PerceptualLoss(width=0.0625, network="vggface")
  result = controller.fine_tune(image, n_iters=20, learning_rate=1e-3,
                                perceptual=loss, face_perceptual=face,
                                image_loss_weight=1e-3, pixel_l1_weight=1.0)
  assert len(result["losses"]) == 20
  assert result["losses"][-1] < 0.9 * result["losses"][0]
  for a, b in zip(before, controller.generator.weights):
    np.testing.assert_array_equal(a, b.numpy())
  tuned = result["generator"](result["z"], result["rotation"])
  assert tuned.shape == (1, 32, 32, 3)
  with pytest.raises(ValueError, match="perceptual"):
    controller.fine_tune(image)


def test_sample_and_generate_shapes(controller):
  z = controller.sample(3, truncation=0.5, seed=1)
  assert z.shape == (3, TABLE.latent_dim)
  assert float(tf.math.reduce_std(z)) < 0.8  # truncated N(0, I) without G_lat
  assert controller.generate(z).shape == (3, 32, 32, 3)
  z_r, rot = controller.embed(tf.zeros([2, 32, 32, 3]))
  assert z_r.shape == (2, TABLE.latent_dim) and rot.shape == (2, 3)
  with pytest.raises(ValueError, match="z must be"):
    controller.generate(tf.zeros([2, 5]))
