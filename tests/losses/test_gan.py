"""GAN losses, R1, path length and the lazy-regularization adjustment."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfface.losses import gan


def _softplus(x):
  return np.log1p(np.exp(x))


def _relu(x):
  return np.maximum(0, x)


class _GanLossFamilyTests:
  """Checks shared by every GAN loss family (after TF-GAN's losses_impl_test).

  A concrete class per family sets the family's two functions and numpy
  references for the per-sample terms of its losses:

    generator_loss(fake_logits), discriminator_loss(real, fake);
    g_reference(fake) -> per-sample generator loss;
    d_real_reference(real), d_fake_reference(fake) -> the per-sample terms of
      the discriminator loss, which is mean(d_real) + mean(d_fake);
    limit_cases: (description, real, fake, generator loss, discriminator
      loss) at the optimum or in a limit, values from the family's formula
      (None: not checked).
  """

  real = np.array([[1.5], [-0.5], [0.2]], np.float32)
  fake = np.array([[-2.0], [0.3], [1.0]], np.float32)
  generator_loss = None
  discriminator_loss = None
  g_reference = None
  d_real_reference = None
  d_fake_reference = None
  limit_cases = ()

  def _expected_g(self, fake):
    return self.g_reference(fake).mean()

  def _expected_d(self, real, fake):
    return self.d_real_reference(real).mean() + self.d_fake_reference(
        fake).mean()

  def test_generator_loss_matches_numpy(self):
    g = self.generator_loss(self.fake).numpy()
    np.testing.assert_allclose(g, self._expected_g(self.fake), rtol=1e-6)

  def test_discriminator_loss_matches_numpy(self):
    d = self.discriminator_loss(self.real, self.fake).numpy()
    np.testing.assert_allclose(d, self._expected_d(self.real, self.fake),
                               rtol=1e-6)

  def test_column_and_flat_logits_give_the_same_loss(self):
    real, fake = self.real, self.fake
    flat_real, flat_fake = real[:, 0], fake[:, 0]
    np.testing.assert_allclose(self.generator_loss(flat_fake),
                               self.generator_loss(fake), rtol=1e-7)
    want = self.discriminator_loss(real, fake).numpy()
    for r, f in ((flat_real, flat_fake), (real, flat_fake),
                 (flat_real, fake)):
      np.testing.assert_allclose(self.discriminator_loss(r, f), want,
                                 rtol=1e-7)

  def test_scalar_float32_output(self):
    for fake in (self.fake, self.fake[:, 0]):
      g = self.generator_loss(tf.constant(fake))
      d = self.discriminator_loss(tf.constant(self.real), tf.constant(fake))
      for loss in (g, d):
        assert loss.shape == () and loss.dtype == tf.float32
    # Also with an unknown batch size in a graph.
    g_fn = tf.function(self.generator_loss,
                       input_signature=[tf.TensorSpec([None, 1])])
    d_fn = tf.function(self.discriminator_loss,
                       input_signature=[tf.TensorSpec([None, 1])] * 2)
    for fn, args in ((g_fn, (self.fake,)), (d_fn, (self.real, self.fake))):
      graph = fn.get_concrete_function()
      assert graph.structured_outputs.shape == ()
      assert graph.structured_outputs.dtype == tf.float32
      np.testing.assert_allclose(fn(*args), fn.python_function(*args),
                                 rtol=1e-6)

  def _numeric_gradient(self, fn, x, h=1e-4):
    """Central differences of a numpy loss w.r.t. each logit (float64)."""
    x = x.astype(np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
      step = np.zeros_like(x)
      step[i] = h
      grad[i] = (fn(x + step) - fn(x - step)) / (2 * h)
    return grad

  def test_gradients_match_the_formula_and_have_the_right_signs(self):
    real, fake = tf.constant(self.real), tf.constant(self.fake)
    with tf.GradientTape(persistent=True) as tape:
      tape.watch([real, fake])
      g = self.generator_loss(fake)
      d = self.discriminator_loss(real, fake)
    dg_fake = tape.gradient(g, fake).numpy()
    dd_real, dd_fake = (t.numpy() for t in tape.gradient(d, [real, fake]))
    want_g = self._numeric_gradient(self._expected_g, self.fake)
    want_real = self._numeric_gradient(
        lambda r: self._expected_d(r, self.fake.astype(np.float64)), self.real)
    want_fake = self._numeric_gradient(
        lambda f: self._expected_d(self.real.astype(np.float64), f), self.fake)
    for ours, want in ((dg_fake, want_g), (dd_real, want_real),
                       (dd_fake, want_fake)):
      np.testing.assert_allclose(ours, want, atol=1e-5)
    # G's loss falls as the fakes look more real; D's loss falls as the
    # reals look more real and the fakes less (strictly, wherever the
    # formula has a slope).
    assert np.all(dg_fake <= 0) and np.all(dg_fake[want_g != 0] < 0)
    assert np.all(dd_real <= 0) and np.all(dd_real[want_real != 0] < 0)
    assert np.all(dd_fake >= 0) and np.all(dd_fake[want_fake != 0] > 0)
    assert np.any(want_g != 0) and np.any(want_real != 0)
    assert np.any(want_fake != 0)

  def test_a_step_of_either_player_lowers_its_loss(self):
    g = lambda f: float(self.generator_loss(f))
    d = lambda r, f: float(self.discriminator_loss(r, f))
    step = np.float32(0.1)
    assert g(self.fake + step) < g(self.fake)
    assert d(self.real + step, self.fake - step) < d(self.real, self.fake)
    # The game: fakes that fool D more raise D's loss.
    assert d(self.real, self.fake + step) > d(self.real, self.fake)

  def test_optimum_and_limits(self):
    assert self.limit_cases
    for name, real, fake, want_g, want_d in self.limit_cases:
      real = np.asarray(real, np.float32).reshape(-1, 1)
      fake = np.asarray(fake, np.float32).reshape(-1, 1)
      if want_g is not None:
        np.testing.assert_allclose(self.generator_loss(fake), want_g,
                                   rtol=1e-6, atol=1e-6, err_msg=name)
      if want_d is not None:
        np.testing.assert_allclose(self.discriminator_loss(real, fake),
                                   want_d, rtol=1e-6, atol=1e-6, err_msg=name)


class TestNonSaturatingLogistic(_GanLossFamilyTests):

  generator_loss = staticmethod(gan.non_saturating_logistic_generator_loss)
  discriminator_loss = staticmethod(
      gan.non_saturating_logistic_discriminator_loss)
  g_reference = staticmethod(lambda fake: _softplus(-fake))
  d_real_reference = staticmethod(lambda real: _softplus(-real))
  d_fake_reference = staticmethod(_softplus)
  limit_cases = (
      # D cannot tell (p = 1/2 everywhere): the GAN equilibrium.
      ("undecided", [0.0, 0.0], [0.0, 0.0], math.log(2.0),
       2.0 * math.log(2.0)),
      # A perfect D: its loss vanishes, G's grows linearly (and stays
      # finite: softplus, not log(sigmoid)).
      ("perfect D", [100.0, 40.0], [-100.0, -40.0], 70.0, 0.0),
      # D completely fooled: G's loss vanishes.
      ("fooled D", [-40.0], [40.0], 0.0, 80.0),
  )

  def test_discriminator_loss_is_binary_cross_entropy(self):
    bce = tf.keras.losses.BinaryCrossentropy(from_logits=True)
    want = (bce(np.ones_like(self.real), self.real) +
            bce(np.zeros_like(self.fake), self.fake))
    np.testing.assert_allclose(
        self.discriminator_loss(self.real, self.fake), want, rtol=1e-5)
    np.testing.assert_allclose(self.generator_loss(self.fake),
                               bce(np.ones_like(self.fake), self.fake),
                               rtol=1e-5)

  def test_generator_gradient_does_not_saturate(self):
    # Where D confidently rejects the fakes the minimax loss log(1 - D)
    # has a vanishing gradient; the non-saturating one keeps -1/B.
    fake = tf.constant([[-30.0], [-25.0]])
    with tf.GradientTape() as tape:
      tape.watch(fake)
      loss = self.generator_loss(fake)
    np.testing.assert_allclose(tape.gradient(loss, fake), [[-0.5], [-0.5]],
                               rtol=1e-6)


class TestHinge(_GanLossFamilyTests):

  generator_loss = staticmethod(gan.hinge_generator_loss)
  discriminator_loss = staticmethod(gan.hinge_discriminator_loss)
  g_reference = staticmethod(lambda fake: -fake)
  d_real_reference = staticmethod(lambda real: _relu(1 - real))
  d_fake_reference = staticmethod(lambda fake: _relu(1 + fake))
  limit_cases = (
      ("undecided", [0.0, 0.0], [0.0, 0.0], 0.0, 2.0),
      # Every margin met: D's loss is exactly zero, however far beyond.
      ("margins met", [1.0, 7.0], [-1.0, -3.0], 2.0, 0.0),
      ("margins missed", [0.5, -1.0], [0.0, 2.0], -1.0, 0.5 * (0.5 + 2.0) +
       0.5 * (1.0 + 3.0)),
  )

  def test_no_discriminator_gradient_beyond_the_margin(self):
    real = tf.constant([[1.2], [0.5], [3.0]])
    fake = tf.constant([[-1.5], [-0.2], [0.7]])
    with tf.GradientTape(persistent=True) as tape:
      tape.watch([real, fake])
      d = self.discriminator_loss(real, fake)
      g = self.generator_loss(fake)
    d_real, d_fake = tape.gradient(d, [real, fake])
    np.testing.assert_allclose(d_real, [[0.0], [-1 / 3], [0.0]], atol=1e-7)
    np.testing.assert_allclose(d_fake, [[0.0], [1 / 3], [1 / 3]], atol=1e-7)
    # G's hinge loss has no margin: every fake keeps the same pull.
    np.testing.assert_allclose(tape.gradient(g, fake), [[-1 / 3]] * 3,
                               atol=1e-7)


class TestWasserstein(_GanLossFamilyTests):

  generator_loss = staticmethod(gan.wasserstein_generator_loss)
  discriminator_loss = staticmethod(gan.wasserstein_discriminator_loss)
  g_reference = staticmethod(lambda fake: -fake)
  d_real_reference = staticmethod(lambda real: -real)
  d_fake_reference = staticmethod(lambda fake: fake)
  limit_cases = (
      # A critic that scores both alike: zero estimated distance.
      ("same scores", [0.3, -1.0, 2.0], [2.0, 0.3, -1.0], -1.3 / 3, 0.0),
      ("separated", [5.0, 7.0], [-5.0, -7.0], 6.0, -12.0),
  )

  def test_critic_loss_is_shift_invariant_and_antisymmetric(self):
    d = lambda r, f: float(self.discriminator_loss(r, f))
    base = d(self.real, self.fake)
    np.testing.assert_allclose(d(self.real + 2.5, self.fake + 2.5), base,
                               atol=1e-6)
    np.testing.assert_allclose(d(self.fake, self.real), -base, atol=1e-7)
    np.testing.assert_allclose(float(self.generator_loss(self.fake + 2.5)),
                               float(self.generator_loss(self.fake)) - 2.5,
                               atol=1e-6)

  def test_gradients_do_not_depend_on_the_logits(self):
    for scale in (0.01, 100.0):
      real = tf.constant(self.real * scale)
      fake = tf.constant(self.fake * scale)
      with tf.GradientTape() as tape:
        tape.watch([real, fake])
        d = self.discriminator_loss(real, fake)
      d_real, d_fake = tape.gradient(d, [real, fake])
      np.testing.assert_allclose(d_real, np.full([3, 1], -1 / 3), atol=1e-7)
      np.testing.assert_allclose(d_fake, np.full([3, 1], 1 / 3), atol=1e-7)


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
