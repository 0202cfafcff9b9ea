"""AdaIN, the Dense stack and layer tracking (tfface.layers)."""

import numpy as np
import pytest
import tensorflow as tf

from tfface import layers


def test_instance_norm_zero_mean_unit_variance_per_sample_and_channel():
  x = tf.random.stateless_normal([2, 5, 6, 3], [1, 2]) * 4.0 + 3.0
  y = layers.instance_norm(x, epsilon=1e-6).numpy()
  np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-5)
  np.testing.assert_allclose(y.std(axis=(1, 2)), 1.0, atol=1e-3)
  v = tf.random.stateless_normal([1, 3, 3, 3, 2], [1, 3]) + 1.0
  np.testing.assert_allclose(
      layers.instance_norm(v, 1e-6).numpy().mean(axis=(1, 2, 3)), 0, atol=1e-5)


def test_adaptive_instance_norm_applies_one_plus_gamma_and_beta():
  x = tf.random.stateless_normal([2, 4, 4, 3], [2, 2])
  gamma = tf.constant([[1.0, 0.0, -0.5], [0.0, 2.0, 0.0]])
  beta = tf.constant([[0.0, 1.0, 0.0], [-1.0, 0.0, 3.0]])
  y = layers.adaptive_instance_norm(x, gamma, beta).numpy()
  normed = layers.instance_norm(x).numpy()
  expected = normed * (1 + gamma.numpy()[:, None, None]) + beta.numpy()[:, None, None]
  np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(y.mean(axis=(1, 2)), beta.numpy(), atol=1e-4)


def test_adain_layer_modulates_with_its_latent():
  adain = layers.AdaIN(3, mlp_units=4)
  x = tf.random.stateless_normal([2, 4, 4, 3], [3, 1])
  z = tf.random.stateless_normal([2, 5], [3, 2])
  y1 = adain(x, z)
  y2 = adain(x, z * 3.0)
  assert y1.shape == x.shape
  assert float(tf.reduce_max(tf.abs(y1 - y2))) > 1e-3  # depends on z
  # With a zero output layer the layer is plain instance normalization.
  adain.out.kernel.assign(tf.zeros_like(adain.out.kernel))
  adain.out.bias.assign(tf.zeros_like(adain.out.bias))
  np.testing.assert_allclose(adain(x, z).numpy(),
                             layers.instance_norm(x).numpy(), atol=1e-6)


def test_conv_adain_ranks():
  assert layers.ConvAdaIN(4, 3, rank=3, mlp_units=4)(
      tf.zeros([1, 4, 4, 4, 2]), tf.zeros([1, 3])).shape == (1, 4, 4, 4, 4)
  assert layers.ConvAdaIN(4, 4, rank=2, mlp_units=4)(
      tf.zeros([1, 8, 8, 2]), tf.zeros([1, 3])).shape == (1, 8, 8, 4)
  with pytest.raises(ValueError, match="rank must be 2 or 3"):
    layers.ConvAdaIN(4, 3, rank=1)


def test_mlp_is_leaky_dense_stack_with_linear_last_layer():
  mlp = layers.MLP(3, hidden=4, out=2, slope=0.2)
  x = tf.random.stateless_normal([5, 3], [4, 1])
  y = mlp(x).numpy()
  h = x.numpy()
  for dense in mlp.dense:
    h = h @ dense.kernel.numpy() + dense.bias.numpy()
    h = np.where(h > 0, h, 0.2 * h)
  expected = h @ mlp.final.kernel.numpy() + mlp.final.bias.numpy()
  np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
  assert len(mlp.dense) == 2
  with pytest.raises(ValueError, match="at least one layer"):
    layers.MLP(0, 4, 2)


def test_track_makes_list_layers_checkpoint_dependencies(tmp_path):

  class Holder(tf.keras.Model):

    def __init__(self):
      super().__init__()
      self.stack = layers.track(self, "dense", [
          tf.keras.layers.Dense(2, name=f"d{i}") for i in range(3)], start=1)

    def call(self, x):
      for layer in self.stack:
        x = layer(x)
      return x

  model = Holder()
  model(tf.zeros([1, 2]))
  assert [l.name for l in layers.tracked(model, "dense", 3, start=1)] == [
      "d0", "d1", "d2"]
  path = tf.train.Checkpoint(m=model).save(str(tmp_path / "ck"))
  stored = [n for n, _ in tf.train.list_variables(path)
            if n.startswith("m/") and "OPTIMIZER" not in n]
  assert len(stored) == len(model.weights) == 6
  assert any(n.startswith("m/dense_3/") for n in stored)
  # A dict gives named attributes.
  holder = tf.Module()
  out = layers.track(holder, "enc", {"a": tf.Variable(1.0)})
  assert holder.enc_a is out["a"]
