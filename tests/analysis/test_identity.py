"""IdentityNet conventions and the verification metrics (vs brute force)."""

import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

from tfface.analysis import backbone
from tfface.analysis import identity
from tfface.analysis import weights

TINY = dict(input_size=32, widths=(4, 8, 16), embedding_size=8)


def _images(batch, size, seed=0):
  rng = np.random.default_rng(seed)
  return tf.constant(rng.uniform(-1, 1, [batch, size, size, 3]), tf.float32)


@pytest.fixture(scope="module")
def net():
  model = identity.IdentityNet(**TINY)
  model(tf.zeros([1, 32, 32, 3]))
  return model


@pytest.mark.parametrize("size", [32, 48, 64, 20])
def test_any_input_size_gives_unit_norm_embeddings(net, size):
  out = net(_images(3, size), training=False)
  assert out.dtype == tf.float32
  assert out.shape == (3, 8)
  np.testing.assert_allclose(np.linalg.norm(out.numpy(), axis=1), 1.0,
                             atol=1e-5)


def test_a_larger_input_is_resized_to_the_working_size(net):
  large = _images(2, 64, seed=1)
  seen = net(large, training=False).numpy()
  # The net sees exactly the antialiased resize to its working size, and not
  # the 64 px input cropped or padded: a different 32 px view gives another
  # embedding.
  expected = net(backbone.resize_to(large, net.input_size),
                 training=False).numpy()
  np.testing.assert_allclose(seen, expected, atol=1e-6)
  cropped = net(large[:, :32, :32], training=False).numpy()
  assert np.max(np.abs(seen - cropped)) > 1e-3


def test_training_mode_and_rejects_bad_input(net):
  out = net(_images(4, 32), training=True)
  np.testing.assert_allclose(np.linalg.norm(out.numpy(), axis=1), 1.0,
                             atol=1e-5)
  with pytest.raises(ValueError, match=r"\[B, H, W, 3\]"):
    net(tf.zeros([32, 32, 3]))
  with pytest.raises(ValueError, match="divisible"):
    identity.IdentityNet(input_size=30, widths=(4, 8, 16))
  with pytest.raises(ValueError, match="stem_stride"):
    identity.IdentityNet(stem_stride=3)


def test_registered_kind_and_weights_file_round_trip(net, tmp_path):
  assert "identity" in weights.registered_kinds()
  assert identity.IdentityNet.network_kind == "identity"
  # Change the BatchNorm statistics so the round trip is not of defaults.
  net(_images(8, 32, seed=3), training=True)
  path = str(tmp_path / "identity.npz")
  weights.save_network(path, net, net.config(), {"note": "test"})
  loaded = weights.load_network(path)
  assert loaded.config() == net.config()
  assert loaded.weights_metadata == {"note": "test"}
  x = _images(3, 32, seed=4)
  np.testing.assert_allclose(loaded(x, training=False).numpy(),
                             net(x, training=False).numpy(), atol=1e-5)


# ------------------------------------------------------------ metrics


def _brute_auc(scores, labels):
  pos = [s for s, l in zip(scores, labels) if l]
  neg = [s for s, l in zip(scores, labels) if not l]
  total = sum(1.0 if p > n else 0.5 if p == n else 0.0
              for p in pos for n in neg)
  return total / (len(pos) * len(neg))


def _brute_tar(scores, labels, far):
  scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
  best = 0.0
  for t in list(np.unique(scores)) + [np.inf]:
    accept = scores >= t
    if np.sum(accept & ~labels) / np.sum(~labels) <= far:
      best = max(best, np.sum(accept & labels) / np.sum(labels))
  return best


@pytest.mark.parametrize("seed", range(6))
def test_roc_auc_and_tar_match_brute_force_with_ties(seed):
  rng = np.random.default_rng(seed)
  n = int(rng.integers(20, 300))
  labels = rng.random(n) < 0.3
  labels[:2] = [True, False]
  # Few distinct values -> many ties across the classes.
  scores = rng.integers(0, 8, n) + labels * rng.integers(0, 3, n)
  scores = scores.astype(float) / 4.0
  assert identity.roc_auc(scores, labels) == pytest.approx(
      _brute_auc(scores, labels), abs=1e-12)
  for far in (0.0, 1e-2, 0.05, 0.2, 0.5, 1.0):
    assert identity.tar_at_far(scores, labels, far) == pytest.approx(
        _brute_tar(scores, labels, far), abs=1e-12), far


def test_metrics_on_separable_and_constant_scores():
  labels = np.array([1, 1, 0, 0, 0], bool)
  assert identity.roc_auc([0.9, 0.8, 0.1, 0.2, 0.3], labels) == 1.0
  assert identity.tar_at_far([0.9, 0.8, 0.1, 0.2, 0.3], labels, 0.0) == 1.0
  # All tied: AUC one half, and no threshold accepts a positive at FAR 0.
  assert identity.roc_auc(np.zeros(5), labels) == 0.5
  assert identity.tar_at_far(np.zeros(5), labels, 0.1) == 0.0
  assert identity.tar_at_far(np.zeros(5), labels, 1.0) == 1.0
  assert math.isnan(identity.roc_auc([0.1, 0.2], [True, True]))
  assert math.isnan(identity.tar_at_far([0.1, 0.2], [False, False]))
  with pytest.raises(ValueError, match="same length"):
    identity.roc_auc([0.1, 0.2], [True])
  with pytest.raises(ValueError, match="far"):
    identity.tar_at_far([0.1, 0.2], [True, False], 1.5)


def test_average_ranks():
  np.testing.assert_allclose(identity.average_ranks([3, 1, 3, 2, 3]),
                             [4, 1, 4, 2, 4])


def test_verification_pairs_match_brute_force():
  rng = np.random.default_rng(7)
  ids = np.repeat(np.arange(6), 3)
  yaws = np.radians(rng.uniform(-45, 45, ids.size))
  pairs = identity.verification_pairs(ids, yaws, 30.0)
  expected = {(i, j) for i, j in itertools.combinations(range(ids.size), 2)
              if abs(math.degrees(yaws[i] - yaws[j])) <= 30.0}
  got = set(zip(pairs["first"].tolist(), pairs["second"].tolist()))
  assert got == expected
  assert len(got) == len(pairs["first"])  # no duplicates
  np.testing.assert_array_equal(
      pairs["same"], ids[pairs["first"]] == ids[pairs["second"]])
  np.testing.assert_allclose(
      pairs["yaw_difference"],
      np.degrees(np.abs(yaws[pairs["first"]] - yaws[pairs["second"]])))
  assert np.all(pairs["yaw_difference"] <= 30.0)
  assert np.all(pairs["first"] < pairs["second"])
  # Same-identity pairs come first.
  num_same = int(pairs["same"].sum())
  assert pairs["same"][:num_same].all() and not pairs["same"][num_same:].any()


def test_verification_pairs_subsample_only_different_pairs():
  ids = np.repeat(np.arange(10), 2)
  yaws = np.zeros(ids.size)
  full = identity.verification_pairs(ids, yaws)
  small = identity.verification_pairs(ids, yaws, max_different_pairs=15,
                                      seed=3)
  assert int(small["same"].sum()) == int(full["same"].sum()) == 10
  assert int((~small["same"]).sum()) == 15
  again = identity.verification_pairs(ids, yaws, max_different_pairs=15,
                                      seed=3)
  np.testing.assert_array_equal(small["first"], again["first"])
  with pytest.raises(ValueError, match="same length"):
    identity.verification_pairs(ids, yaws[:3])
