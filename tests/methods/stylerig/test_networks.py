"""F and RigNet: shapes, ranges, per-layer structure, RigNet(w, F(w)) = w."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.stylerig import losses
from tfface.methods.stylerig import networks

L, D = 6, 8


def _estimator():
  tf.keras.utils.set_random_seed(0)
  f = networks.ParameterEstimator(L, D, networks.ParameterLayout.named(
      "procedural").groups, hidden=16)
  f.build_all()
  return f


def test_estimator_shapes_and_sigmoid_groups():
  f = _estimator()
  w = tf.random.normal([3, L, D], seed=1) * 5
  p = f(w)
  assert p.shape == (3, 97)
  expression = p[:, 25:49].numpy()
  assert expression.min() >= 0 and expression.max() <= 1
  # Three dense layers, ELU on the two hidden ones.
  assert f.hidden_0.activation.__name__ == "elu"
  assert f.hidden_1.activation.__name__ == "elu"
  assert f.head.kernel.shape == (16, 97)
  with pytest.raises(ValueError, match=r"\[B, 6, 8\]"):
    f(tf.zeros([3, L * D]))


def test_rignet_shapes_identity_at_start_and_per_layer_structure():
  tf.keras.utils.set_random_seed(0)
  rig = networks.RigNet(L, D, 3, latent_dim=4)
  rig.build_all()
  w = tf.random.normal([2, L, D], seed=2)
  p = tf.random.normal([2, 3], seed=3)
  np.testing.assert_array_equal(rig(w, p).numpy(), w.numpy())  # d = 0
  assert rig.encoder_kernel.shape == (L, D, 4)
  assert rig.decoder_kernel.shape == (L, 4 + 3, D)
  rig.decoder_kernel.assign(tf.random.normal(rig.decoder_kernel.shape,
                                             seed=4))
  out = rig(w, p)
  assert out.shape == (2, L, D)
  # Layer i of ŵ depends on layer i of w only (per-layer encoder/decoder).
  w2 = w.numpy().copy()
  w2[:, 2] += 1.0
  changed = np.abs(rig(w2, p).numpy() - out.numpy()).max(axis=(0, 2))
  assert changed[2] > 0 and np.all(changed[np.arange(L) != 2] == 0)
  # Affine in p.
  d1 = rig(w, p).numpy() - rig(w, 0 * p).numpy()
  d2 = rig(w, 2 * p).numpy() - rig(w, 0 * p).numpy()
  np.testing.assert_allclose(d2, 2 * d1, rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match=r"\[B, 3\]"):
    rig(w, tf.zeros([2, 4]))


def test_trained_reconstruction_term_makes_rignet_return_w():
  f = _estimator()
  layout = networks.ParameterLayout.named("procedural")
  k = layout.mode_indices("pose")
  tf.keras.utils.set_random_seed(1)
  rig = networks.RigNet(L, D, len(k), layout.scale()[k], latent_dim=4)
  rig.build_all()
  rig.decoder_kernel.assign(
      0.3 * tf.random.normal(rig.decoder_kernel.shape, seed=5))
  rig.decoder_bias.assign(0.3 * tf.random.normal(rig.decoder_bias.shape,
                                                 seed=6))
  optimizer = tf.keras.optimizers.Adam(0.02)
  train_w = tf.random.normal([64, L, D], seed=7)
  test_w = tf.random.normal([16, L, D], seed=8)

  def rec_loss(w):
    return losses.latent_reconstruction_loss(
        rig(w, tf.gather(f(w), k, axis=-1)), w)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = rec_loss(train_w)
    variables = rig.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss

  before = float(rec_loss(test_w))
  for _ in range(300):
    step()
  after = float(rec_loss(test_w))
  assert before > 0.01 and after < 0.01 * before, (before, after)
