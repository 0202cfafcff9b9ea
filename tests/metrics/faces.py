"""Random procedural faces and their true renders, shared by the metrics
tests."""

import numpy as np

from tfface.data import synthetic
from tfface.metrics import controllability


def rendered_faces(size: int, count: int):
  """(truth renderer, θ dict of `[count, n]`, images `[count, size, size,
  3]`) for faces sampled with seeds 0..count-1."""
  truth = controllability.TruthRenderer(size)
  sampled = [synthetic.sample_factors(np.random.default_rng(i), truth.model)
             for i in range(count)]
  theta = {k: np.stack([f[k] for f in sampled]) for k in sampled[0]}
  return truth, theta, truth(theta)["image"]
