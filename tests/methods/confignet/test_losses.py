"""ConfigNet's own loss terms: latent regression and the stage-2 domain term."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.confignet import losses


def _regression_inputs():
  rng = np.random.default_rng(0)
  z = rng.normal(0, 2, [4, 3]).astype(np.float32)
  rot = rng.uniform(-0.3, 0.3, [4, 3]).astype(np.float32)
  pred = rng.normal(0, 1, [4, 6]).astype(np.float32)
  return z, rot, pred


def test_regression_target_scales_rotation_by_five():
  z, rot, _ = _regression_inputs()
  target = losses.regression_target(z, rot).numpy()
  np.testing.assert_allclose(target, np.concatenate([z, 5 * rot], -1))
  perfect = losses.latent_regression_loss(tf.constant(target), z, rot)
  assert float(perfect) == pytest.approx(0.0, abs=1e-10)


def test_latent_regression_loss_plain_and_normalized():
  z, rot, pred = _regression_inputs()
  plain = float(losses.latent_regression_loss(pred, z, rot))
  expected = np.mean(np.square(pred - np.concatenate([z, 5 * rot], -1)))
  assert plain == pytest.approx(expected, rel=1e-5)
  normalized = float(losses.latent_regression_loss(pred, z, rot,
                                                   normalize=True))
  std = np.maximum(z.std(axis=0, keepdims=True), 0.1)
  err = np.concatenate([(pred[:, :3] - z) / std, pred[:, 3:] - 5 * rot], -1)
  assert normalized == pytest.approx(np.mean(err**2), rel=1e-4)
  # A dimension without spread is divided by the 0.1 floor, not by ~0.
  flat = np.ones_like(z)
  assert np.isfinite(float(losses.latent_regression_loss(pred, flat, rot,
                                                         normalize=True)))


def test_latent_regression_targets_receive_no_gradient():
  z, rot, pred = _regression_inputs()
  z, rot, pred = tf.constant(z), tf.constant(rot), tf.constant(pred)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([z, rot, pred])
    loss = losses.latent_regression_loss(pred, z, rot)
  assert tape.gradient(loss, z) is None and tape.gradient(loss, rot) is None
  assert float(tf.reduce_sum(tf.abs(tape.gradient(loss, pred)))) > 0


def test_domain_adversarial_term_flips_labels():
  real_domain = tf.constant([[2.0], [-1.0]])
  synthetic_domain = tf.constant([[0.5], [3.0]])
  got = float(losses.domain_adversarial_generator_loss(real_domain,
                                                       synthetic_domain))
  softplus = lambda x: np.log1p(np.exp(x))
  expected = (np.mean(softplus(np.array([2.0, -1.0]))) +
              np.mean(softplus(-np.array([0.5, 3.0]))))
  assert got == pytest.approx(expected, rel=1e-6)
  # Pushing E_R codes toward "synthetic" (lower logit) lowers the loss.
  lower = float(losses.domain_adversarial_generator_loss(real_domain - 1.0,
                                                         synthetic_domain))
  assert lower < got
