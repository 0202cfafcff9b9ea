"""Pearson correlation and least-squares slope of requested vs achieved values.

The meters of every method ask the same two questions of a control: does
the achieved value move with the requested one (r), and by how much per
unit requested (slope). Both take arrays of any shape, flattened.
"""

import numpy as np


def _centred(values) -> np.ndarray:
  x = np.asarray(values, np.float64).ravel()
  return x - x.mean()


def pearson(a, b) -> float:
  """Pearson r of the flattened arrays; 0 when either is constant."""
  a, b = _centred(a), _centred(b)
  denominator = np.sqrt(float((a * a).sum()) * float((b * b).sum()))
  return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def slope(requested, achieved) -> float:
  """Least-squares slope of ``achieved`` on ``requested``; 0 when
  ``requested`` is constant."""
  x, y = _centred(requested), _centred(achieved)
  sxx = float((x * x).sum())
  return float((x * y).sum()) / sxx if sxx > 0 else 0.0
