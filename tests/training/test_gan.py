"""The GAN step skeleton: D main / D reg, G main with extra terms, optimizers."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.losses import gan as gan_losses
from tfface.training import gan as gan_training
from tfface.training import optimizers


class _LinearD(tf.keras.Model):
  """D(x) = x·k + b, or a dict of such heads."""

  def __init__(self, outputs=None):
    super().__init__()
    self.names = outputs
    if outputs is None:
      self.head = tf.keras.layers.Dense(1)
    else:
      self.heads = {k: tf.keras.layers.Dense(1, name=k) for k in outputs}
      for k, layer in self.heads.items():
        setattr(self, "head_" + k, layer)

  def call(self, x):
    if self.names is None:
      return self.head(x)
    return {k: layer(x) for k, layer in self.heads.items()}


def _linear_d(dim=3, outputs=None):
  d = _LinearD(outputs)
  d(tf.zeros([1, dim]))
  return d


def _sgd(net, lr=0.1):
  opt = tf.keras.optimizers.SGD(lr)
  opt.build(net.trainable_variables)
  return opt


def _data(seed=0):
  rng = np.random.default_rng(seed)
  return (tf.constant(rng.normal(1.0, 1.0, [4, 3]), tf.float32),
          tf.constant(rng.normal(-1.0, 1.0, [4, 3]), tf.float32))


def _expected_sgd_update(d, real, fake, gamma, lr=0.1):
  """The weights after one SGD step on softplus losses + γ/2·R1 (numpy)."""
  clone = _linear_d()
  clone.set_weights(d.get_weights())
  with tf.GradientTape() as tape:
    x = tf.convert_to_tensor(real)
    with tf.GradientTape() as inner:
      inner.watch(x)
      real_logits = clone(x)
      total = tf.reduce_sum(real_logits)
    grad_x = inner.gradient(total, x)
    r1 = tf.reduce_mean(tf.reduce_sum(tf.square(grad_x), 1))
    loss = (tf.reduce_mean(tf.nn.softplus(-real_logits)) +
            tf.reduce_mean(tf.nn.softplus(clone(fake))) + 0.5 * gamma * r1)
  grads = tape.gradient(loss, clone.trainable_variables)
  return [w.numpy() - lr * g.numpy()
          for w, g in zip(clone.trainable_variables, grads)]


def test_eager_r1_step_equals_the_hand_written_update():
  real, fake = _data()
  d = _linear_d()
  expected = _expected_sgd_update(d, real, fake, gamma=10.0)
  step = gan_training.DiscriminatorStep(d, _sgd(d), r1_gamma=10.0,
                                        r1_every=0, prefix="d")
  out = step(real, fake)
  for w, e in zip(d.trainable_variables, expected):
    np.testing.assert_allclose(w.numpy(), e, rtol=1e-5, atol=1e-6)
  assert sorted(out) == ["d_fake_score", "d_gan", "d_r1", "d_real_score"]
  # The reported R1 is the raw penalty: for a linear D it is ||kernel||^2.
  assert float(out["d_r1"]) > 0


def test_lazy_r1_runs_only_every_k_steps_with_weight_half_gamma_k():
  real, fake = _data(1)
  d = _linear_d()
  no_r1 = _linear_d()
  no_r1.set_weights(d.get_weights())
  lazy = gan_training.DiscriminatorStep(d, _sgd(d), r1_gamma=10.0,
                                        r1_every=4, prefix="d")
  plain = gan_training.DiscriminatorStep(no_r1, _sgd(no_r1), r1_gamma=0.0)
  # Step 1: no R1 -> the same update as without R1.
  out = lazy(real, fake, tf.constant(1, tf.int64))
  plain(real, fake)
  assert float(out["d_r1"]) == 0.0
  for a, b in zip(d.get_weights(), no_r1.get_weights()):
    np.testing.assert_allclose(a, b, rtol=1e-6)
  # Step 4: an extra step on γ/2·4·penalty.
  out = lazy(real, fake, tf.constant(4, tf.int64))
  plain(real, fake)
  assert float(out["d_r1"]) > 0
  # The R1 step follows the main step (from the same weights as `plain`'s).
  # The penalty of a linear D is ||kernel||^2, its gradient 2·kernel.
  after_main = no_r1.get_weights()[0]
  r1_delta = d.get_weights()[0] - after_main
  np.testing.assert_allclose(r1_delta, -0.1 * 20.0 * 2 * after_main,
                             rtol=1e-3, atol=1e-5)
  with pytest.raises(ValueError, match="global step"):
    lazy(real, fake)


def test_joint_batch_gives_the_same_losses_as_two_passes():
  real, fake = _data(2)
  d1 = _linear_d()
  d2 = _linear_d()
  d2.set_weights(d1.get_weights())
  a = gan_training.DiscriminatorStep(d1, _sgd(d1), r1_gamma=0.0,
                                     joint_batch=True)(real, fake)
  b = gan_training.DiscriminatorStep(d2, _sgd(d2), r1_gamma=0.0)(real, fake)
  assert float(a["d_gan"]) == pytest.approx(float(b["d_gan"]), rel=1e-6)
  np.testing.assert_allclose(d1.get_weights()[0], d2.get_weights()[0],
                             rtol=1e-6)


def test_multi_output_discriminator_sums_outputs_and_skips_scores():
  real, fake = _data(3)
  d = _linear_d(outputs=("final", "style_0"))
  out = gan_training.DiscriminatorStep(d, _sgd(d), r1_gamma=10.0,
                                       r1_per_output=True,
                                       prefix="d_real")(real, fake)
  assert sorted(out) == ["d_real_gan", "d_real_r1"]
  assert float(out["d_real_gan"]) > 0
  # Two heads, each penalized: the raw penalty is the sum of ||k_i||^2.
  assert float(out["d_real_r1"]) > 0
  with pytest.raises(ValueError, match="r1_every"):
    gan_training.DiscriminatorStep(d, None, r1_every=-1)
  with pytest.raises(ValueError, match="unknown GAN loss"):
    gan_training.DiscriminatorStep(d, None, loss="lsgan")


def test_generator_step_sums_terms_and_reports_total():
  w = tf.Variable([1.0, -2.0])
  opt = tf.keras.optimizers.SGD(0.5)
  opt.build([w])
  out = gan_training.generator_step(
      opt, [w], lambda: {"a": tf.reduce_sum(w * w), "b": 3.0 * w[0]})
  assert sorted(out) == ["a", "b", "g_total"]
  assert float(out["g_total"]) == pytest.approx(5.0 + 3.0)
  # d/dw (w·w + 3 w0) = 2w + (3, 0) -> w - 0.5 (2w + (3, 0)) = (-1.5, 0).
  np.testing.assert_allclose(w.numpy(), [-1.5, 0.0], atol=1e-6)
  with pytest.raises(ValueError, match="no loss terms"):
    gan_training.generator_step(opt, [w], dict)


def test_gan_method_updates_every_ema_after_a_step():
  method = gan_training.GANMethod()
  src = tf.keras.Sequential([tf.keras.layers.Dense(2)])
  dst = tf.keras.Sequential([tf.keras.layers.Dense(2)])
  src.build([None, 3])
  dst.build([None, 3])
  method.make_ema(src, dst, 0.5)
  src.layers[0].kernel.assign(src.layers[0].kernel + 2.0)
  before = dst.layers[0].kernel.numpy()
  method.after_step()
  np.testing.assert_allclose(dst.layers[0].kernel.numpy(),
                             0.5 * before + 0.5 * src.layers[0].kernel.numpy(),
                             rtol=1e-6)
  assert method.extra_generator_losses({}, {}) == {}


def test_make_optimizer_default_adam_with_lazy_adjustment():
  v = [tf.Variable(tf.zeros([2]))]
  plain = optimizers.make_optimizer(name="g", learning_rate=0.002,
                                    beta_1=0.0, beta_2=0.99, epsilon=1e-8,
                                    variables=v)
  assert isinstance(plain, tf.keras.optimizers.Adam) and plain.name == "g"
  assert float(plain.learning_rate) == pytest.approx(0.002)
  assert plain.built
  lazy = optimizers.make_optimizer(name="d", learning_rate=0.002, beta_1=0.0,
                                   beta_2=0.99, lazy_reg_every=16)
  lr, b1, b2 = gan_losses.lazy_regularization_adjustment(0.002, 0.0, 0.99, 16)
  assert float(lazy.learning_rate) == pytest.approx(lr)
  assert lazy.beta_2 == pytest.approx(b2) and lazy.beta_1 == b1


def test_make_optimizer_from_a_factory_is_adjusted_too():

  def factory(name):
    return tf.keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9, name=name)

  opt = optimizers.make_optimizer(factory, name="x", learning_rate=123.0,
                                  lazy_reg_every=4)
  c = 4 / 5
  assert opt.name == "x"
  assert float(opt.learning_rate) == pytest.approx(1e-3 * c, rel=1e-5)
  assert opt.beta_1 == pytest.approx(0.5**c) and opt.beta_2 == pytest.approx(
      0.9**c)
  sgd = optimizers.make_optimizer(
      lambda name: tf.keras.optimizers.SGD(0.1, name=name), name="s",
      learning_rate=1.0, lazy_reg_every=1)
  assert float(sgd.learning_rate) == pytest.approx(0.05)
  with pytest.raises(ValueError, match="expected a Keras optimizer"):
    optimizers.make_optimizer(lambda name: object(), name="bad",
                              learning_rate=1.0)
