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


def test_grid_contrast_finds_block_edges_of_a_nearest_upsampling():
  rng = np.random.default_rng(2)
  coarse = rng.normal(size=(4, 16, 16, 3))
  # Nearest ×4: every block edge falls between rows 4k − 1 and 4k.
  blocky = coarse.repeat(4, axis=1).repeat(4, axis=2)
  assert artifacts.grid_contrast(blocky) > 5.0
  assert artifacts.grid_contrast(blocky, "vertical") > 5.0
  # The same detail at random rows: no phase stands out.
  noise = rng.normal(size=(4, 64, 64, 3))
  assert artifacts.grid_contrast(noise) < 1.1
  # Blocks along y only are a horizontal grid, not a vertical one.
  rows_only = coarse.repeat(4, axis=1)[:, :, :1] * np.ones([1, 1, 64, 1])
  rows_only = rows_only + 0.3 * rng.normal(size=rows_only.shape)
  assert artifacts.grid_contrast(rows_only) > 2.0
  assert artifacts.grid_contrast(rows_only, "vertical") < 1.2
  ramp = np.linspace(0, 1, 64)[None, None, :, None] * np.ones([4, 64, 64, 3])
  assert artifacts.grid_contrast(ramp) == 1.0            # no detail at all
  assert artifacts.detail_energy(ramp, "vertical") == pytest.approx(0.0,
                                                                  abs=1e-20)
  assert artifacts.detail_energy(blocky) > artifacts.detail_energy(
      0.25 * blocky)
  figures = artifacts.grid_figures(blocky, noise)
  assert figures["period"] == 4
  assert figures["grid_generated"] > 5.0 > 1.3 > figures["grid_true"]
  assert figures["detail_generated"] == artifacts.detail_energy(blocky)
  # The strips are the outer columns only: lines drawn inside the middle
  # do not count.
  middle = noise.copy()
  middle[:, ::4, 16:48] += 5.0
  assert artifacts.grid_contrast(middle) > 5.0
  assert artifacts.grid_figures(middle, noise)["grid_generated"] < 1.3
  assert artifacts.side_strips(noise).shape == (8, 64, 10, 3)
  with pytest.raises(ValueError, match="period"):
    artifacts.grid_contrast(noise[:, :5])
  with pytest.raises(ValueError, match="orientation"):
    artifacts.grid_contrast(noise, "diagonal")
