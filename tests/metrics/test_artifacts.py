"""The stripe meter on patterns with known answers."""

import numpy as np
import pytest

from tfface.metrics import artifacts


def _images(pattern, size=32, count=3):
  return np.repeat(pattern[None, :, :, None], count, 0).repeat(3, -1) * (
      np.ones([count, size, size, 3]))


def test_stripes_score_near_one_noise_near_one_over_window():
  rng = np.random.default_rng(0)
  rows = np.where(np.arange(32) % 2, 1.0, -1.0)[:, None] * np.ones([1, 32])
  stripes = _images(rows) + 0.05 * rng.normal(size=(3, 32, 32, 3))
  noise = rng.normal(size=(3, 32, 32, 3))
  assert artifacts.stripe_score(stripes) > 0.95
  assert artifacts.stripe_score(noise) == pytest.approx(1 / 8, abs=0.04)
  assert artifacts.stripe_score(noise, window=4) == pytest.approx(1 / 4,
                                                                  abs=0.05)
  # Horizontal stripes are not vertical ones, and the other way round.
  assert artifacts.stripe_score(stripes, "vertical") < 0.2
  columns = np.swapaxes(stripes, 1, 2)
  assert artifacts.stripe_score(columns, "vertical") > 0.95
  assert artifacts.stripe_score(columns) == pytest.approx(
      artifacts.stripe_score(stripes, "vertical"))
  # A smooth ramp has no second difference at all.
  ramp = _images(np.linspace(-1, 1, 32)[:, None] * np.ones([1, 32]))
  assert artifacts.stripe_score(ramp) == 0.0


def test_stripe_figures_and_bad_input():
  rng = np.random.default_rng(1)
  noise = rng.normal(size=(2, 16, 16, 3))
  figures = artifacts.stripe_figures(noise, noise)
  assert set(figures) == {"horizontal", "vertical"}
  assert figures["horizontal"]["generated"] == figures["horizontal"]["true"]
  with pytest.raises(ValueError, match="must be \\[B, H, W, C\\]"):
    artifacts.stripe_score(noise[0])
  with pytest.raises(ValueError, match="orientation"):
    artifacts.stripe_score(noise, "diagonal")
  with pytest.raises(ValueError, match="window must be in"):
    artifacts.stripe_score(noise, window=17)
