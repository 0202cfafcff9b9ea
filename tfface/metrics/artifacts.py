"""Image artifacts a generator adds and its training images lack: stripes.

:func:`stripe_score` is the share of an image's high-frequency energy across
one axis that repeats along the other: horizontal stripes (rows alternating
in brightness over a stretch of the row) score near 1, iid pixel noise
scores about ``1 / window``, vertical stripes 0 on the horizontal score.
Compared between G's images and the renders it was trained on, it says
whether G striped its faces (``make demo``'s ``control.json``,
``tools/evaluate.py confignet``).
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
  if orientation not in ("horizontal", "vertical"):
    raise ValueError(f"orientation must be 'horizontal' or 'vertical', got "
                     f"{orientation!r}")
  grey = x.mean(-1)
  if orientation == "vertical":
    grey = np.swapaxes(grey, 1, 2)
  window = int(window)
  runs = grey.shape[2] // window
  if window < 1 or runs < 1:
    raise ValueError(f"window must be in [1, {grey.shape[2]}] (the image's "
                     f"extent along the stripes), got {window}")
  s = grey[:, :-2] - 2.0 * grey[:, 1:-1] + grey[:, 2:]
  s = s[:, :, :runs * window].reshape(s.shape[0], s.shape[1], runs, window)
  total = (s * s).sum(axis=(1, 2, 3))
  coherent = (s.mean(-1) ** 2).sum(axis=(1, 2)) * window
  scores = np.where(total > 1e-12, coherent / np.maximum(total, 1e-12), 0.0)
  return float(scores.mean())


def stripe_figures(generated, true) -> Dict[str, Dict[str, float]]:
  """Horizontal and vertical :func:`stripe_score` of G's images and of the
  true renders, JSON-ready: ``{"horizontal": {"generated", "true"},
  "vertical": {...}}``."""
  return {o: {"generated": stripe_score(generated, o),
              "true": stripe_score(true, o)}
          for o in ("horizontal", "vertical")}
