"""Networks over latent codes: shapes, spectral norm, the projection
discriminator's inner product, the signed-output fix, per-example critics."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.networks import latent_conditional as nets

Z, C, B = 8, 3, 5


def _inputs(seed=0):
  rng = np.random.default_rng(seed)
  z = rng.standard_normal([B, Z]).astype(np.float32)
  c = np.eye(C, dtype=np.float32)[rng.integers(0, C, B)]
  return tf.constant(z), tf.constant(c)


@pytest.mark.parametrize("make", [
    lambda: nets.CBNGenerator(Z, C, hidden=16),
    lambda: nets.ConcatGenerator(Z, C, embed_dim=6, hidden=(16,)),
    lambda: nets.ConcatGenerator(Z, C, embed_dim=4, embed_relu=False,
                                 embed_bias=False, input_dropout=0.8,
                                 hidden=(12, 8), hidden_dropout=0.5,
                                 init="torch")])
def test_generators_map_codes_to_codes(make):
  z, c = _inputs()
  g = make()
  for training in (True, False):
    assert g(z, c, training=training).shape == (B, Z)


def test_every_other_network_shape():
  z, c = _inputs()
  assert nets.ProjectionDiscriminator(Z, C, 16)(z, c).shape == (B, 1)
  logits, classes = nets.ACGANDiscriminator(Z, C, 16, 8)(z)
  assert logits.shape == (B, 1) and classes.shape == (B, C)
  kp = tf.zeros([B, 136])
  assert nets.KeypointMapper(Z, 136, 3)(z, kp).shape == (B, Z)
  for norm in ("layer", "batch", "none"):
    assert nets.KeypointCritic(Z, 136, 2, norm=norm)(z, kp).shape == (B, 1)
  encoder = nets.BaselineEncoder((8, 8, 8, 8), 4)
  code = encoder(tf.zeros([2, 64, 64, 3]))
  assert code.shape == (2, 4, 4, 4)
  decoder = nets.BaselineDecoder(4, (8, 8, 8))
  images = decoder(code, training=True)
  assert images.shape == (2, 64, 64, 3)
  assert float(tf.reduce_max(tf.abs(images))) <= 1.0
  head = nets.LandmarkHead(64, 272)
  points = head(tf.reshape(code, [2, -1]))
  assert points.shape == (2, 136)
  assert 0.0 <= float(tf.reduce_min(points)) <= float(tf.reduce_max(points)) <= 1


def test_outputs_are_signed_unless_the_reference_relu_is_asked_for():
  z, c = _inputs()
  kp = tf.random.normal([B, 136])
  fixed = [nets.CBNGenerator(Z, C, 16, output_dropout=0.0)(z, c),
           nets.ConcatGenerator(Z, C, 6, hidden=(16,))(z, c),
           nets.KeypointMapper(Z, 136, 2)(z, kp)]
  assert all(float(tf.reduce_min(x)) < 0 for x in fixed)
  reference = [
      nets.CBNGenerator(Z, C, 16, output_dropout=0.0, relu_output=True)(z, c),
      nets.ConcatGenerator(Z, C, 6, hidden=(16,), relu_output=True)(z, c),
      nets.KeypointMapper(Z, 136, 2, relu_output=True)(z, kp)]
  assert all(float(tf.reduce_min(x)) >= 0 for x in reference)


def test_conditional_batch_norm_starts_as_plain_batch_norm():
  z, c = _inputs()
  cbn = nets.ConditionalBatchNorm(Z)
  out = cbn(z, c, training=True)
  mean, var = tf.nn.moments(z, axes=[0])
  np.testing.assert_allclose(out, (z - mean) / tf.sqrt(var + 1e-5), atol=1e-4)
  # Per-class gamma/beta: rows of the one-hot condition select them.
  cbn.gamma.kernel.assign(tf.fill([C, Z], 1.0))
  cbn.beta.kernel.assign(tf.reshape(tf.range(C * Z, dtype=tf.float32), [C, Z]))
  out = cbn(z, c, training=True).numpy()
  k = int(np.argmax(c[0]))
  normed = ((z - mean) / tf.sqrt(var + 1e-5)).numpy()
  np.testing.assert_allclose(out[0], 2 * normed[0] + np.arange(Z) + k * Z,
                             atol=1e-4)


def _top_singular(w):
  u, s, vt = np.linalg.svd(w)
  return s[0], u[:, 0], vt[0]


def test_spectral_dense_power_iteration_finds_sigma_and_its_gradient():
  layer = nets.SpectralDense(4)
  x = tf.random.normal([3, 6], seed=1)
  layer(x)
  w = layer.kernel.numpy()
  sigma, left, right = _top_singular(w)   # w = U S V^T, w: [in, out]
  for _ in range(50):
    layer(x, training=True)
  np.testing.assert_allclose(float(layer.sigma()), sigma, rtol=1e-4)
  np.testing.assert_allclose(np.linalg.svd(layer.normalized_kernel().numpy(),
                                           compute_uv=False)[0], 1.0,
                             rtol=1e-4)
  # The gradient goes through sigma (u, v held constant):
  # d sum(x W / s) / dW = (x^T 1) / s - sum(x W) / s^2 * v u^T.
  layer.u.assign(right)
  layer.v.assign(left)
  with tf.GradientTape() as tape:
    y = tf.reduce_sum(layer(x) - layer.bias)
  grad = tape.gradient(y, layer.kernel).numpy()
  ones = np.ones([3, 4], np.float32)
  expected = (x.numpy().T @ ones) / sigma - (
      np.sum(x.numpy() @ w) / sigma**2) * np.outer(left, right)
  np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-5)


def test_projection_discriminator_inner_product_by_hand():
  """D(x, c) = psi(phi(x)) + <V c, phi(x)> with every kernel divided by its
  largest singular value (u, v set to the true singular vectors)."""
  rng = np.random.default_rng(3)
  d = nets.ProjectionDiscriminator(Z, C, hidden=6, output_dropout=0.5)
  z, c = _inputs(4)
  d(z, c)
  kernels = {}
  for name in ("phi", "psi", "embed"):
    layer = getattr(d, name)
    w = rng.standard_normal(layer.kernel.shape).astype(np.float32)
    layer.kernel.assign(w)
    if layer.bias is not None:
      layer.bias.assign(rng.standard_normal(layer.bias.shape).astype(
          np.float32))
    sigma, left, right = _top_singular(w)
    layer.u.assign(right.astype(np.float32))
    layer.v.assign(left.astype(np.float32))
    kernels[name] = w / sigma
  x, y = z.numpy(), c.numpy()
  phi = np.maximum(x @ kernels["phi"] + d.phi.bias.numpy(), 0.0)
  psi = phi @ kernels["psi"] + d.psi.bias.numpy()
  projection = np.sum((y @ kernels["embed"]) * phi, axis=1, keepdims=True)
  parts = d.parts(z, c, training=False)
  np.testing.assert_allclose(parts["projection"], projection, rtol=1e-4,
                             atol=1e-5)
  np.testing.assert_allclose(d(z, c, training=False), psi + projection,
                             rtol=1e-4, atol=1e-5)
  # One-hot conditions: the projection is the selected embedding row . phi.
  k = int(np.argmax(y[0]))
  np.testing.assert_allclose(parts["projection"][0, 0],
                             kernels["embed"][k] @ phi[0], rtol=1e-4)


def test_layer_norm_critic_scores_each_example_on_its_own():
  """With a gradient penalty the critic must not couple a batch: changing
  another example leaves an example's score alone (BatchNorm would not)."""
  z, _ = _inputs()
  kp = tf.random.normal([B, 136])
  other = tf.concat([z[:1], z[1:] * 3.0 + 1.0], axis=0)
  layer = nets.KeypointCritic(Z, 136, 2, norm="layer")
  np.testing.assert_allclose(layer(z, kp, training=True)[0],
                             layer(other, kp, training=True)[0], rtol=1e-5)
  batch = nets.KeypointCritic(Z, 136, 2, norm="batch")
  assert abs(float(batch(z, kp, training=True)[0, 0] -
                   batch(other, kp, training=True)[0, 0])) > 1e-4


def test_acgan_groups_cover_every_variable_once():
  d = nets.ACGANDiscriminator(Z, C, 16, 8)
  d(tf.zeros([2, Z]))
  groups = d.groups()
  ids = [id(v) for g in groups.values() for v in g]
  assert sorted(ids) == sorted(id(v) for v in d.trainable_variables)
  assert len(set(ids)) == len(ids)


def test_bad_settings_are_one_clear_error():
  with pytest.raises(ValueError, match="norm"):
    nets.KeypointCritic(Z, 136, 2, norm="group")
  with pytest.raises(ValueError, match="init"):
    nets.ConcatGenerator(Z, C, init="he")
  with pytest.raises(ValueError, match="power_iterations"):
    nets.SpectralDense(3, power_iterations=0)
