"""Pearson r and slope against hand-computed values."""

import numpy as np
import pytest

from tfface.metrics import correlation


def test_pearson_and_slope_by_hand():
  x = np.array([0.0, 1.0, 2.0, 3.0])
  assert correlation.pearson(x, 3.0 * x - 1.0) == pytest.approx(1.0)
  assert correlation.pearson(x, -x) == pytest.approx(-1.0)
  # y = (1, -1, -1, 1) is orthogonal to the centred ramp.
  assert correlation.pearson(x, [1.0, -1.0, -1.0, 1.0]) == pytest.approx(0.0)
  assert correlation.slope(x, 0.5 * x + 2.0) == pytest.approx(0.5)
  # Arrays of any shape are flattened.
  assert correlation.pearson(x.reshape(2, 2), x.reshape(2, 2)) == (
      pytest.approx(1.0))


def test_a_constant_scores_zero():
  x = np.array([0.0, 1.0, 2.0])
  assert correlation.pearson(x, np.full(3, 4.0)) == 0.0
  assert correlation.pearson(np.full(3, 4.0), x) == 0.0
  assert correlation.slope(np.full(3, 4.0), x) == 0.0
