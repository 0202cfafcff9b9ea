"""Fréchet distance: closed forms on hand-made Gaussians and feature sets."""

import numpy as np
import pytest

from tfface.metrics import frechet


def test_identical_sets_have_zero_distance():
  rng = np.random.default_rng(0)
  a = rng.normal(size=(200, 4))
  assert frechet.frechet_distance_of_features(a, a) == pytest.approx(
      0.0, abs=1e-8)


def test_closed_form_for_diagonal_gaussians():
  # Diagonal covariances: d = |mu1 - mu2|^2 + sum (s1 - s2)^2 (std devs).
  mu1, mu2 = np.array([0.0, 1.0]), np.array([3.0, -3.0])
  s1, s2 = np.diag([4.0, 1.0]), np.diag([1.0, 9.0])
  expected = (9 + 16) + (2 - 1) ** 2 + (1 - 3) ** 2
  assert frechet.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected)


def test_shifted_features_add_the_squared_shift():
  rng = np.random.default_rng(1)
  a = rng.normal(size=(500, 3))
  shift = np.array([1.0, -2.0, 0.5])
  assert frechet.frechet_distance_of_features(a, a + shift) == pytest.approx(
      float(shift @ shift), rel=1e-6)


def test_bad_input_is_one_clear_error():
  with pytest.raises(ValueError, match="N >= 2"):
    frechet.feature_statistics(np.zeros([1, 3]))
  with pytest.raises(ValueError, match="one D"):
    frechet.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
  with pytest.raises(ValueError, match="neither"):
    frechet.feature_extractor(None, None)
  with pytest.raises(ValueError, match="does not exist"):
    frechet.feature_extractor("/nonexistent/inception.h5")


def test_identity_space_substitute_is_named_as_such():
  fn, name = frechet.feature_extractor(None, lambda x, training: x * 2)
  assert name == "frechet_identity_distance" != frechet.INCEPTION_NAME
  assert float(fn(np.float32(3.0))) == 6.0
