"""LiftedGAN losses, each against a value computed by hand on a tiny case."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.liftedgan import losses
from tfface.methods.liftedgan import method as method_lib
from tests.methods.liftedgan import fixtures


def test_masked_l1_by_hand():
  a = np.zeros([1, 2, 2, 3], np.float32)
  b = np.zeros([1, 2, 2, 3], np.float32)
  b[0, 0, 0] = [1.0, 2.0, 3.0]    # masked in: |diff| sums to 6
  b[0, 1, 1] = [10.0, 10.0, 10.0]  # masked out
  mask = np.array([1, 1, 1, 0], np.float32).reshape(1, 2, 2, 1)
  # sum |a - b| M = 6 over sum(M broadcast to 3 channels) = 9.
  assert float(losses.masked_l1(a, b, mask)) == pytest.approx(6.0 / 9.0)
  assert float(losses.masked_l1(a, b)) == pytest.approx(36.0 / 12.0)
  assert float(losses.masked_l1(a, b, np.zeros_like(mask))) == 0.0


def test_cosine_feature_distance_by_hand():
  # Position 0: (1, 0) vs (0, 2) -> unit vectors orthogonal -> distance 2.
  # Position 1: (3, 0) vs (1, 0) -> the same direction -> 0.
  fa = tf.constant([[[[1.0, 0.0], [3.0, 0.0]]]])
  fb = tf.constant([[[[0.0, 2.0], [1.0, 0.0]]]])
  assert float(losses.cosine_feature_distance(fa, fb)) == pytest.approx(1.0)
  mask = tf.constant([[[[1.0], [0.0]]]])
  assert float(losses.cosine_feature_distance(fa, fb, mask)) == pytest.approx(
      2.0)


def test_multiscale_perceptual_loss_averages_scales_and_layers():
  # "Features" = the image itself and its negation: per scale two equal
  # terms. Images: a = +1 everywhere in channel 0, b = +1 in channel 1 on the
  # left half, the same as a on the right: distance 2 on the left, 0 right.
  a = np.zeros([1, 4, 4, 3], np.float32)
  a[..., 0] = 1.0
  b = a.copy()
  b[:, :, :2] = [0.0, 1.0, 0.0]
  loss = losses.CosinePerceptualLoss(lambda x: [x, -x], num_scales=2)
  # Scale 1: mean = 2 · 8/16 = 1. Scale 2 (2x2 average pool): left column
  # (0.0, 1.0, 0) vs (1, 0, 0) -> 2, right column 0 -> mean 1. So 1.
  assert float(loss(a, b)) == pytest.approx(1.0, rel=1e-5)
  # Masked to the right half: 0 at both scales.
  mask = np.zeros([1, 4, 4, 1], np.float32)
  mask[:, :, 2:] = 1.0
  assert float(loss(a, b, mask)) == pytest.approx(0.0, abs=1e-6)


def test_cycle_and_latent_prior_by_hand():
  light_e = tf.constant([[1.0, 0.0, 0.0, 0.0]])
  light_t = tf.zeros([1, 4])
  view_e = tf.constant([[0.0, 2.0, 0.0, 5.0, 5.0, 5.0]])  # translation ignored
  view_t = tf.zeros([1, 6])
  # mean over 4 of 1 + mean over 3 of 4.
  assert float(losses.cycle_loss(light_e, light_t, view_e, view_t)) == \
      pytest.approx(0.25 + 4.0 / 3.0)
  w = tf.constant([[1.0, 3.0]])
  assert float(losses.latent_prior_loss(w, tf.constant([1.0, 1.0]), 0.5)) == \
      pytest.approx((0.0 + 4.0) / 2 * 0.5)


def test_identity_loss_window_and_empty_window():
  a = tf.Variable([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
  b = tf.constant([[0.0, 1.0], [0.0, 1.0], [-1.0, 0.0]])
  view = np.zeros([3, 6], np.float32)
  view[:, 1] = np.array([10.0, -24.0, 25.0]) / 60.0  # 25° is outside (open)
  window = losses.yaw_window(tf.constant(view))
  np.testing.assert_array_equal(window.numpy(), [1.0, 1.0, 0.0])
  # ||a - b||^2 = 2, 0 (and 4, outside) -> mean over the window 1.
  assert float(losses.identity_loss(a, b, window)) == pytest.approx(1.0)
  # No sample in the window: zero loss, finite (zero) gradients.
  empty = losses.yaw_window(tf.constant(view * 0 + 0.9))
  with tf.GradientTape() as tape:
    loss = losses.identity_loss(a, b, empty)
  grad = tape.gradient(loss, a)
  assert float(loss) == 0.0
  assert np.all(np.isfinite(grad.numpy())) and not np.any(grad.numpy())


def test_albedo_rank_is_the_nuclear_norm_with_finite_gradients():
  rng = np.random.default_rng(0)
  albedo = tf.Variable(rng.uniform(-1, 1, [3, 8, 8, 3]).astype(np.float32))
  mask = np.ones([3, 8, 8, 1], np.float32)
  mask[:, :, :2] = 0.0
  with tf.GradientTape() as tape:
    loss = losses.albedo_rank_loss(albedo, mask, downsample=2, blur_size=2,
                                   blur_sigma=1.0)
  # By hand: grey, high-pass against the same blur, mask, 2x2 pool, SVD.
  from tfface.rendering import depth_renderer as dr
  grey = albedo.numpy().mean(-1, keepdims=True)
  residual = (grey - dr.gaussian_blur(grey, 2, 1.0).numpy()) * mask
  pooled = residual.reshape(3, 4, 2, 4, 2).mean((2, 4))
  expected = np.linalg.svd(pooled.reshape(3, -1), compute_uv=False).sum()
  assert float(loss) == pytest.approx(expected, rel=1e-4)
  grad = tape.gradient(loss, albedo).numpy()
  assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
  # Rank one (every image the same) has a smaller norm than distinct ones.
  same = tf.tile(albedo[:1], [3, 1, 1, 1])
  assert float(losses.albedo_rank_loss(same, mask, 2, 2, 1.0)) < float(loss)


def test_coupled_weight_decay_adds_to_the_gradient():
  v = tf.Variable([2.0, -4.0])
  out = losses.coupled_weight_decay([tf.constant([1.0, 1.0]), None],
                                    [v, v], 0.5, scale=0.5)
  np.testing.assert_allclose(out[0].numpy(), [1.5, 0.0])
  np.testing.assert_allclose(out[1].numpy(), [0.5, -1.0])


def test_perturbation_sampling_ranges_and_shuffle():
  light = tf.constant(np.arange(32, dtype=np.float32).reshape(8, 4))
  new_light, view = losses.sample_perturbation(light, tf.constant([3, 4]))
  new_light, view = new_light.numpy(), view.numpy()
  # Strengths and direction are shuffled as pairs from the batch.
  assert sorted(map(tuple, new_light[:, :2])) == sorted(
      map(tuple, light.numpy()[:, :2]))
  assert sorted(map(tuple, new_light[:, 2:])) == sorted(
      map(tuple, light.numpy()[:, 2:]))
  assert np.all(np.abs(view[:, 0] * 60) <= 15) and np.all(
      np.abs(view[:, 1] * 60) <= 45)
  np.testing.assert_array_equal(view[:, 2], 0.0)
  np.testing.assert_allclose(view[:, 3], 0.2 * np.sin(np.deg2rad(
      view[:, 1] * 60)), atol=1e-6)
  np.testing.assert_array_equal(view[:, 4:], 0.0)


def test_perturbation_b_gradient_reaches_only_the_composition_net():
  model = fixtures.tiny_model()
  w = model.generator.mapping(tf.random.normal([2, fixtures.Z_DIM]))
  light_p, view_p = losses.sample_perturbation(
      tf.random.uniform([2, 4], -0.5, 0.5), tf.constant([1, 2]))
  with tf.GradientTape(persistent=True) as tape:
    est = model.estimate(w)
    loss = method_lib.perturbation_b_loss(model, w, est, light_p, view_p,
                                          None, 1.0)
  nets = model.trainable_networks
  grads = {name: tape.gradient(loss, net.trainable_variables)
           for name, net in nets.items()}
  assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0
             for g in grads["composition"])
  for name in ("decomposition", "depth_net", "transformation_net"):
    assert all(g is None for g in grads[name]), name
  # (G's own weights are frozen: the optimizer never holds them, see the
  # trainer test, which checks G is unchanged after training.)
