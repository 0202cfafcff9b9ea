"""GAN losses over discriminators with several outputs, and the R1 convention."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.losses import gan


def test_r1_per_output_sums_each_outputs_penalty():
  from tfface.methods.confignet import model  # pylint: disable=g-import-not-at-top
  d = model.ImageDiscriminator(16, num_blocks=2, base_filters=4, max_filters=4)
  x = tf.random.normal([2, 16, 16, 3], seed=4)
  per, logits = gan.r1_penalty(d, x, per_output=True)
  per = gan.r1_weight(10.0, 0) * per
  summed, _ = gan.r1_penalty(d, x, per_output=False)
  summed = gan.r1_weight(10.0, 0) * summed
  manual = 0.0
  for key in logits:
    with tf.GradientTape() as tape:
      tape.watch(x)
      out = tf.reduce_sum(d(x)[key])
    g = tape.gradient(out, x)
    manual += 5.0 * float(tf.reduce_mean(tf.reduce_sum(tf.square(g), [1, 2, 3])))
  assert float(per) == pytest.approx(manual, rel=1e-4)
  assert float(per) != pytest.approx(float(summed), rel=1e-3)
  named, _ = gan.r1_penalty(d, x, True, d.output_names_)
  named = gan.r1_weight(10.0, 0) * named
  assert float(named) == pytest.approx(manual, rel=1e-4)


def test_r1_weight_is_half_gamma_times_interval():
  assert gan.r1_weight(10.0, 0) == 5.0     # eager
  assert gan.r1_weight(10.0, 1) == 5.0
  assert gan.r1_weight(10.0, 16) == 80.0   # lazy, every 16 steps


def test_named_losses_sum_over_outputs_in_key_order():
  real = {"b": tf.constant([[1.0], [2.0]]), "a": tf.constant([[-1.0], [0.5]])}
  fake = {"b": tf.constant([[0.0], [1.0]]), "a": tf.constant([[0.3], [-2.0]])}
  for kind in ("non_saturating", "hinge", "wasserstein"):
    g, d = gan.GENERATOR_LOSSES[kind], gan.DISCRIMINATOR_LOSSES[kind]
    assert float(gan.generator_loss(kind, fake)) == pytest.approx(
        float(g(fake["a"]) + g(fake["b"])), rel=1e-6)
    assert float(gan.discriminator_loss(kind, real, fake)) == pytest.approx(
        float(d(real["a"], fake["a"]) + d(real["b"], fake["b"])), rel=1e-6)
    # One tensor is one output.
    assert float(gan.generator_loss(kind, fake["a"])) == pytest.approx(
        float(g(fake["a"])), rel=1e-6)
  assert [float(t[0, 0]) for t in gan.outputs(real)] == [-1.0, 1.0]
  with pytest.raises(ValueError, match="unknown GAN loss"):
    gan.generator_loss("lsgan", fake)
  with pytest.raises(ValueError, match="differ in count"):
    gan.discriminator_loss("hinge", real, {"a": fake["a"]})


def test_r1_penalty_of_a_quadratic_discriminator():
  # D(x) = sum(w * x^2) per sample: grad = 2 w x, penalty = mean ||2 w x||^2.
  w = np.array([0.5, -1.0, 2.0], np.float32)
  x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]], np.float32)
  penalty, logits = gan.r1_penalty(
      lambda v: tf.reduce_sum(w * v * v, axis=1, keepdims=True), x)
  expected = np.mean(np.sum((2 * w * x)**2, axis=1))
  assert float(penalty) == pytest.approx(expected, rel=1e-5)
  assert logits.shape == (2, 1)
