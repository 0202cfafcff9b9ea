"""GAN losses, R1, path length and the lazy-regularization adjustment."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfface.losses import gan


def _softplus(x):
  return np.log1p(np.exp(x))


class TestAdversarialLosses:

  real = np.array([[1.5], [-0.5], [0.2]], np.float32)
  fake = np.array([[-2.0], [0.3], [1.0]], np.float32)

  def test_non_saturating_logistic(self):
    g = gan.non_saturating_logistic_generator_loss(self.fake).numpy()
    d = gan.non_saturating_logistic_discriminator_loss(self.real,
                                                       self.fake).numpy()
    np.testing.assert_allclose(g, _softplus(-self.fake).mean(), rtol=1e-6)
    np.testing.assert_allclose(
        d, _softplus(-self.real).mean() + _softplus(self.fake).mean(),
        rtol=1e-6)

  def test_hinge(self):
    d = gan.hinge_discriminator_loss(self.real, self.fake).numpy()
    want = (np.maximum(0, 1 - self.real).mean() +
            np.maximum(0, 1 + self.fake).mean())
    np.testing.assert_allclose(d, want, rtol=1e-6)
    np.testing.assert_allclose(gan.hinge_generator_loss(self.fake).numpy(),
                               -self.fake.mean(), rtol=1e-6)

  def test_wasserstein(self):
    d = gan.wasserstein_discriminator_loss(self.real, self.fake).numpy()
    np.testing.assert_allclose(d, self.fake.mean() - self.real.mean(),
                               rtol=1e-6)
    np.testing.assert_allclose(gan.wasserstein_generator_loss(self.fake),
                               -self.fake.mean(), rtol=1e-6)


def test_r1_equals_hand_computed_gradient_norm():
  # D(x) = sum(v * x) + 0.5 * c * sum(x^2)  =>  dD/dx = v + c x.
  rng = np.random.default_rng(0)
  x = rng.standard_normal([3, 4, 4, 3]).astype(np.float32)
  v = rng.standard_normal([4, 4, 3]).astype(np.float32)
  c = tf.Variable(0.7)

  def discriminator(images):
    return tf.reduce_sum(v * images + 0.5 * c * images**2,
                         axis=[1, 2, 3])[:, None]

  with tf.GradientTape() as tape:
    penalty, logits = gan.r1_penalty(discriminator, x)
  grad = v + 0.7 * x
  want = np.mean(np.sum(grad.reshape(3, -1)**2, axis=1))
  np.testing.assert_allclose(penalty.numpy(), want, rtol=1e-5)
  assert logits.shape == (3, 1)
  # Differentiable w.r.t. D's weights: d/dc mean_b sum (v + c x)^2
  #   = mean_b sum 2 (v + c x) x.
  want_dc = np.mean(np.sum((2 * grad * x).reshape(3, -1), axis=1))
  np.testing.assert_allclose(tape.gradient(penalty, c).numpy(), want_dc,
                             rtol=1e-4)


def test_path_length_lengths_and_ema():
  # Linear synthesis G(w) = reshape(flat(w) @ A): J^T y = A y, computable.
  rng = np.random.default_rng(1)
  a = rng.standard_normal([2 * 3, 16]).astype(np.float32)

  def synthesis(ws):
    return tf.reshape(tf.reshape(ws, [-1, 6]) @ a, [-1, 4, 4, 1])

  ws = tf.constant(rng.standard_normal([5, 2, 3]), tf.float32)
  seed = tf.constant([3, 4])
  penalty, new_mean, lengths = gan.path_length_penalty(
      synthesis, ws, 1.0, decay=0.01, seed=seed)
  y = tf.random.stateless_normal([5, 4, 4, 1], seed).numpy() / 4.0
  grad = (y.reshape(5, 16) @ a.T).reshape(5, 2, 3)
  want = np.sqrt((grad**2).sum(axis=2).mean(axis=1))
  np.testing.assert_allclose(lengths.numpy(), want, rtol=1e-5)
  mean = 1.0 + 0.01 * (want.mean() - 1.0)
  np.testing.assert_allclose(new_mean.numpy(), mean, rtol=1e-6)
  np.testing.assert_allclose(penalty.numpy(), np.mean((want - mean)**2),
                             rtol=1e-5)


def test_path_length_regularizer_decreases_on_a_toy_problem():
  # A linear "generator" with very uneven singular values; minimizing the
  # penalty should make it closer to a scaled isometry.
  rng = np.random.default_rng(2)
  scales = np.geomspace(0.1, 10.0, 8).astype(np.float32)
  a = tf.Variable(np.diag(scales) @ rng.standard_normal([8, 16]).astype(
      np.float32) / 4.0)

  def synthesis(ws):
    return tf.reshape(tf.reshape(ws, [-1, 8]) @ a, [-1, 4, 4, 1])

  optimizer = tf.keras.optimizers.Adam(0.02)
  mean = tf.Variable(0.0)
  history = []

  @tf.function
  def step(i):
    ws = tf.random.stateless_normal([16, 1, 8], [i, 0])
    with tf.GradientTape() as tape:
      penalty, new_mean, _ = gan.path_length_penalty(
          synthesis, ws, mean, decay=0.1, seed=tf.stack([i, 1]))
    optimizer.apply_gradients([(tape.gradient(penalty, a), a)])
    mean.assign(new_mean)
    return penalty

  for i in range(200):
    history.append(float(step(tf.constant(i))))
  first, last = np.mean(history[10:30]), np.mean(history[-20:])
  assert last < 0.3 * first, (first, last)


def test_lazy_regularization_adjustment_matches_stylegan2():
  lr, b1, b2 = gan.lazy_regularization_adjustment(0.002, 0.0, 0.99, 16)
  assert math.isclose(lr, 0.002 * 16 / 17) and b1 == 0.0
  assert math.isclose(b2, 0.99**(16 / 17))
  lr, _, b2 = gan.lazy_regularization_adjustment(0.002, 0.0, 0.99, 4)
  assert math.isclose(lr, 0.0016) and abs(b2 - 0.99199) < 1e-5
  assert gan.lazy_regularization_adjustment(0.1, 0.5, 0.9, 0) == (0.1, 0.5, 0.9)
  assert gan.r1_weight(10.0, 16) == 80.0
  assert gan.path_length_weight(2.0, 4) == 8.0


@pytest.mark.parametrize("shape", [[4], [4, 1]])
def test_logit_shapes_accepted(shape):
  logits = tf.zeros(shape)
  np.testing.assert_allclose(
      gan.non_saturating_logistic_generator_loss(logits), math.log(2.0),
      rtol=1e-6)
