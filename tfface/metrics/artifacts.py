"""Image artifacts a generator adds and its training images lack: stripes.

:func:`stripe_score` is the share of an image's high-frequency energy across
one axis that repeats along the other: horizontal stripes (rows alternating
in brightness over a stretch of the row) score near 1, iid pixel noise
scores about ``1 / window``, vertical stripes 0 on the horizontal score.
Compared between G's images and the renders it was trained on, it says
whether G striped its faces (``make demo``'s ``control.json``,
``tools/evaluate.py confignet``). It is a share, so an image with little
fine detail (a blurry G) scores high on its few edges; :func:`grid_figures`
adds the two figures that tell those apart: how much cross-row detail there
is at all, and whether it sits on a fixed pixel grid (rows repeating every
``period``), the mark of an upsampling or a coarse feature map.
"""

from typing import Dict

import numpy as np


def stripe_score(images, orientation: str = "horizontal",
                 window: int = 8) -> float:
  """Mean over images of the coherent share of the cross-stripe energy.

  For horizontal stripes: the second difference along y of the grey image,
  ``s[y, x] = g[y−1, x] − 2 g[y, x] + g[y+1, x]``; averaged over runs of
  ``window`` pixels along x, ``c = mean_x∈run s``; the score is
  ``Σ c² · window / Σ s²`` (0 for an image without vertical detail).

  Args:
    images: `[B, H, W, C]` (any range), H and W ≥ 3.
    orientation: ``"horizontal"`` (rows) or ``"vertical"`` (columns).
    window: run length in pixels (the width of ``images`` is cut to a
      multiple of it).

  Returns:
    The score in [0, 1].
  """
  x = np.asarray(images, np.float64)
  if x.ndim != 4 or min(x.shape[1:3]) < 3:
    raise ValueError(f"images must be [B, H, W, C] with H, W >= 3, got "
                     f"shape {x.shape}")
  grey = _grey(x, orientation)
  window = int(window)
  runs = grey.shape[2] // window
  if window < 1 or runs < 1:
    raise ValueError(f"window must be in [1, {grey.shape[2]}] (the image's "
                     f"extent along the stripes), got {window}")
  s = _second_difference(grey)
  s = s[:, :, :runs * window].reshape(s.shape[0], s.shape[1], runs, window)
  total = (s * s).sum(axis=(1, 2, 3))
  coherent = (s.mean(-1) ** 2).sum(axis=(1, 2)) * window
  scores = np.where(total > 1e-12, coherent / np.maximum(total, 1e-12), 0.0)
  return float(scores.mean())


def _grey(x: np.ndarray, orientation: str) -> np.ndarray:
  """`[B, H, W]` grey image, transposed for ``"vertical"``."""
  if orientation not in ("horizontal", "vertical"):
    raise ValueError(f"orientation must be 'horizontal' or 'vertical', got "
                     f"{orientation!r}")
  grey = x.mean(-1)
  return np.swapaxes(grey, 1, 2) if orientation == "vertical" else grey


def _second_difference(grey: np.ndarray) -> np.ndarray:
  """`[B, H − 2, W]`: g[y−1] − 2 g[y] + g[y+1] for rows y = 1 .. H − 2."""
  return grey[:, :-2] - 2.0 * grey[:, 1:-1] + grey[:, 2:]


def grid_contrast(images, orientation: str = "horizontal",
                  period: int = 4) -> float:
  """Largest over smallest mean cross-row detail by row index mod ``period``.

  The cross-row detail of row y is the mean of ``s[y, x]²`` (the second
  difference of :func:`stripe_score`); rows are grouped by ``y mod period``.
  Content at random positions gives about 1 for every phase (1.1–1.3 on
  64 px renders); detail that lands on the same rows of every image — the
  block edges of a nearest-neighbour ×``period`` upsampling — gives far
  more.

  Args:
    images: `[B, H, W, C]`, H ≥ period + 2.
    orientation: ``"horizontal"`` (rows) or ``"vertical"`` (columns).
    period: the grid's spacing in pixels (4: a 16 px map at 64 px).

  Returns:
    The contrast, ≥ 1 (1 also for an image without cross-row detail).
  """
  x = np.asarray(images, np.float64)
  if x.ndim != 4 or x.shape[1] < int(period) + 2 or x.shape[2] < 3:
    raise ValueError(f"images must be [B, H, W, C] with H >= period + 2 = "
                     f"{int(period) + 2}, got shape {x.shape}")
  energy = (_second_difference(_grey(x, orientation))**2).mean(axis=(0, 2))
  rows = np.arange(1, len(energy) + 1)
  by_phase = np.array([energy[rows % int(period) == p].mean()
                       for p in range(int(period))])
  if by_phase.min() <= 1e-12:
    return 1.0 if by_phase.max() <= 1e-12 else float("inf")
  return float(by_phase.max() / by_phase.min())


def detail_energy(images, orientation: str = "horizontal") -> float:
  """Mean squared cross-row second difference (a blurry image: small)."""
  x = np.asarray(images, np.float64)
  return float((_second_difference(_grey(x, orientation))**2).mean())


def side_strips(images, fraction: float = 0.15) -> np.ndarray:
  """The left and right ``fraction`` of the columns, stacked as images
  `[2B, H, w, C]` (background for a centred face at the demo's framing, so
  aligned facial features cannot pose as a grid)."""
  x = np.asarray(images, np.float64)
  width = max(3, int(round(fraction * x.shape[2])))
  return np.concatenate([x[:, :, :width], x[:, :, -width:]], 0)


def grid_figures(generated, true, period: int = 4, fraction: float = 0.15
                 ) -> Dict[str, object]:
  """G's and the renders' :func:`grid_contrast` (horizontal lines) on the
  :func:`side_strips`, and their :func:`detail_energy` over the whole image,
  JSON-ready: ``{"grid_generated", "grid_true", "detail_generated",
  "detail_true", "period", "strip_fraction"}``.

  On a whole aligned face the grid contrast also counts the brows, eyes and
  mouth, which sit on the same rows of every image; the strips hold
  background only.
  """
  return {"grid_generated": grid_contrast(side_strips(generated, fraction),
                                          "horizontal", period),
          "grid_true": grid_contrast(side_strips(true, fraction),
                                     "horizontal", period),
          "detail_generated": detail_energy(generated),
          "detail_true": detail_energy(true),
          "period": int(period), "strip_fraction": float(fraction)}


def stripe_figures(generated, true) -> Dict[str, Dict[str, float]]:
  """Horizontal and vertical :func:`stripe_score` of G's images and of the
  true renders, JSON-ready: ``{"horizontal": {"generated", "true"},
  "vertical": {...}}``."""
  return {o: {"generated": stripe_score(generated, o),
              "true": stripe_score(true, o)}
          for o in ("horizontal", "vertical")}
