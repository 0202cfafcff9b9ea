"""ArcFace margin logits, cosine identity losses, supervised contrastive."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfface.losses import identity


def _unit(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _setup(seed=0, batch=5, classes=7, dim=6):
  rng = np.random.default_rng(seed)
  emb = rng.standard_normal([batch, dim]).astype(np.float32)
  weights = rng.standard_normal([classes, dim]).astype(np.float32)
  labels = rng.integers(0, classes, batch).astype(np.int32)
  return emb, weights, labels


@pytest.mark.parametrize("scale,margin", [(64.0, 0.5), (30.0, 0.3),
                                          (10.0, 0.0)])
def test_arcface_logits_match_the_definition(scale, margin):
  emb, weights, labels = _setup()
  logits = identity.arcface_logits(emb, weights, labels, scale, margin).numpy()
  cos = _unit(emb) @ _unit(weights).T
  theta = np.arccos(np.clip(cos, -1, 1))
  expected = scale * cos
  for i, y in enumerate(labels):
    if theta[i, y] + margin <= math.pi:  # no fallback needed
      expected[i, y] = scale * math.cos(theta[i, y] + margin)
    else:
      expected[i, y] = scale * (cos[i, y] - math.sin(math.pi - margin) * margin)
  np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-4)
  # Non-target logits are exactly s·cos θ.
  mask = np.ones_like(cos, bool)
  mask[np.arange(len(labels)), labels] = False
  np.testing.assert_allclose(logits[mask], scale * cos[mask], rtol=1e-5,
                             atol=1e-5)
  # The target logit with a margin is below s·cos θ (harder).
  target = logits[np.arange(len(labels)), labels]
  if margin > 0:
    assert np.all(target < scale * cos[np.arange(len(labels)), labels])


def _pair_at_angle(theta):
  """An embedding and a single class centre at angle theta."""
  emb = np.array([[1.0, 0.0]], np.float32)
  w = np.array([[math.cos(theta), math.sin(theta)]], np.float32)
  return emb, w


def test_theta_plus_margin_beyond_pi_uses_the_monotonic_fallback():
  m, s = 0.5, 1.0
  # theta > pi - m: cos(theta + m) would rise again; the fallback is
  # cos θ − m·sin(π − m), decreasing in θ and a small step down at the switch.
  thetas = np.linspace(math.pi - 1.0, math.pi - 1e-3, 40)
  values = []
  for theta in thetas:
    emb, w = _pair_at_angle(theta)
    values.append(float(identity.arcface_logits(emb, w, [0], s, m)[0, 0]))
    if theta > math.pi - m + 1e-4:
      assert values[-1] == pytest.approx(
          math.cos(theta) - math.sin(math.pi - m) * m, abs=1e-5)
    elif theta < math.pi - m - 1e-4:
      assert values[-1] == pytest.approx(math.cos(theta + m), abs=1e-5)
  assert np.all(np.diff(values) < 0)
  # At theta = pi - m: cos(pi) = -1 on the left, cos(pi - m) - m sin(pi - m)
  # on the right: a step down (monotonic), not up.
  step = (-1.0) - (math.cos(math.pi - m) - math.sin(math.pi - m) * m)
  assert 0 < step < 0.15


def test_easy_margin_applies_only_where_cos_is_positive():
  m = 0.5
  for theta, with_margin in ((0.3, True), (1.2, True), (2.0, False),
                             (3.0, False)):
    emb, w = _pair_at_angle(theta)
    value = float(identity.arcface_logits(emb, w, [0], 1.0, m,
                                          easy_margin=True)[0, 0])
    expected = math.cos(theta + m) if with_margin else math.cos(theta)
    assert value == pytest.approx(expected, abs=1e-5)


def test_arcface_loss_is_the_softmax_cross_entropy_and_grows_with_margin():
  emb, weights, labels = _setup(1)
  losses = []
  for m in (0.0, 0.2, 0.5):
    logits = identity.arcface_logits(emb, weights, labels, 16.0, m).numpy()
    logits = logits - logits.max(1, keepdims=True)
    ce = -(logits[np.arange(len(labels)), labels] -
           np.log(np.exp(logits).sum(1)))
    loss = float(identity.arcface_loss(emb, weights, labels, 16.0, m))
    assert loss == pytest.approx(ce.mean(), rel=1e-5)
    losses.append(loss)
  assert losses[0] < losses[1] < losses[2]


def test_arcface_gradients_flow_and_stay_finite_at_cos_one():
  emb, weights, labels = _setup(2)
  emb[0] = weights[labels[0]] * 3.0  # cos θ = 1 exactly for the target
  emb = tf.Variable(emb)
  weights = tf.Variable(weights)
  with tf.GradientTape() as tape:
    loss = identity.arcface_loss(emb, weights, labels, 30.0, 0.5)
  g_emb, g_w = tape.gradient(loss, [emb, weights])
  for g in (g_emb, g_w):
    assert np.all(np.isfinite(g.numpy()))
    assert np.abs(g.numpy()).sum() > 0
  # A gradient step on both lowers the loss.
  emb.assign_sub(0.01 * g_emb)
  weights.assign_sub(0.01 * g_w)
  assert float(identity.arcface_loss(emb, weights, labels, 30.0, 0.5)) < float(
      loss)


def test_arcface_rejects_bad_settings():
  emb, weights, labels = _setup()
  with pytest.raises(ValueError, match="scale"):
    identity.arcface_logits(emb, weights, labels, 0.0, 0.5)
  with pytest.raises(ValueError, match="margin"):
    identity.arcface_logits(emb, weights, labels, 30.0, 2.0)


def test_tensor_margin_matches_float_margin():
  emb, weights, labels = _setup(3)
  cos = identity.class_cosines(emb, weights)
  a = identity.arcface_logits_from_cosine(cos, labels, 30.0, tf.constant(0.4))
  b = identity.arcface_logits(emb, weights, labels, 30.0, 0.4)
  np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_cosine_identity_loss_margin_behaviour():
  rng = np.random.default_rng(4)
  a = rng.standard_normal([6, 8]).astype(np.float32)
  b = a + 0.05 * rng.standard_normal([6, 8]).astype(np.float32)  # cos ~ 1
  b[3:] = rng.standard_normal([3, 8])  # far pairs
  cos = np.sum(_unit(a) * _unit(b), 1)
  assert np.all(cos[:3] > 0.9) and np.all(cos[3:] < 0.7)
  plain = float(identity.cosine_identity_loss(a, b))
  assert plain == pytest.approx(np.mean(1 - cos), rel=1e-5)
  with_margin = float(identity.cosine_identity_loss(a, b, margin=0.3))
  assert with_margin == pytest.approx(np.mean(np.maximum(0.3, 1 - cos)),
                                      rel=1e-5)
  assert with_margin > plain
  # Scale invariance: the loss normalises its inputs.
  assert float(identity.cosine_identity_loss(3 * a, 0.5 * b, 0.3)) == (
      pytest.approx(with_margin, rel=1e-5))
  # No gradient from the pairs already closer than cos 0.7.
  av = tf.Variable(a)
  with tf.GradientTape() as tape:
    loss = identity.cosine_identity_loss(av, b, margin=0.3)
  grad = tape.gradient(loss, av).numpy()
  assert np.all(grad[:3] == 0)
  assert np.all(np.abs(grad[3:]).sum(1) > 0)


def test_cosine_identity_loss_rejects_a_bad_margin():
  with pytest.raises(ValueError, match="margin"):
    identity.cosine_identity_loss(tf.ones([1, 2]), tf.ones([1, 2]), -0.1)


def _supcon_reference(emb, labels, tau):
  z = _unit(emb.astype(np.float64))
  total, anchors = 0.0, 0
  for i in range(len(labels)):
    positives = [p for p in range(len(labels))
                 if p != i and labels[p] == labels[i]]
    if not positives:
      continue
    denom = sum(math.exp(z[i] @ z[a] / tau)
                for a in range(len(labels)) if a != i)
    total += -np.mean([math.log(math.exp(z[i] @ z[p] / tau) / denom)
                       for p in positives])
    anchors += 1
  return total / max(anchors, 1)


def test_supervised_contrastive_loss_matches_brute_force():
  rng = np.random.default_rng(5)
  emb = rng.standard_normal([9, 5]).astype(np.float32)
  labels = np.array([0, 0, 1, 1, 1, 2, 3, 3, 4])  # 2 and 4 have no positive
  for tau in (0.1, 0.5):
    value = float(identity.supervised_contrastive_loss(emb, labels, tau))
    assert value == pytest.approx(_supcon_reference(emb, labels, tau),
                                  rel=1e-4)


def test_supervised_contrastive_loss_without_positives_is_zero_and_learns():
  rng = np.random.default_rng(6)
  emb = rng.standard_normal([4, 5]).astype(np.float32)
  assert float(identity.supervised_contrastive_loss(emb, [0, 1, 2, 3])) == 0.0
  labels = np.array([0, 0, 1, 1])
  var = tf.Variable(emb)
  with tf.GradientTape() as tape:
    loss = identity.supervised_contrastive_loss(var, labels, 0.2)
  grad = tape.gradient(loss, var)
  assert np.all(np.isfinite(grad.numpy()))
  var.assign_sub(0.1 * grad)
  assert float(identity.supervised_contrastive_loss(var, labels, 0.2)) < float(
      loss)
  with pytest.raises(ValueError, match="temperature"):
    identity.supervised_contrastive_loss(emb, labels, 0.0)
