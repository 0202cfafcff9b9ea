"""Tiny on-disk ConfigNet datasets for tests: blobs whose size follows θ."""

import collections
import os

import numpy as np

from tfface.data import schema
from tfface.data import sharded_writer

# A small factor table: θ sizes of the toy synthetic data (pose separately).
FACTOR_SIZES = collections.OrderedDict(
    [("expression", 4), ("identity", 3), ("sh", 2), ("pose", 3)])
TABLE = {"expression": (4, 3), "identity": (3, 2), "sh": (2, 2)}


def toy_face(theta, size):
  """A disc whose radius follows identity[0] and brightness sh[0]."""
  yy, xx = np.mgrid[:size, :size] / (size - 1.0) * 2 - 1
  radius = 0.4 + 0.3 * theta["identity"][0]
  disc = (xx ** 2 + yy ** 2 < radius ** 2).astype(np.float32)
  color = np.array([0.5 + 0.4 * theta["sh"][0], 0.4, 0.3 + 0.5 *
                    theta["expression"][0]])
  image = disc[..., None] * color
  iris = ((xx - 0.2) ** 2 + yy ** 2 < 0.01).astype(np.uint8)[..., None] * 255
  return (image * 255).astype(np.uint8), iris


def write_toy_data(directory, size=32, count=8, seed=0):
  """Writes labeled synthetic and pseudo-real shards; returns their globs."""
  rng = np.random.default_rng(seed)
  os.makedirs(directory, exist_ok=True)
  syn, real = [], []
  for _ in range(count):
    theta = collections.OrderedDict(
        (name, rng.uniform(0, 1, n).astype(np.float32))
        for name, n in FACTOR_SIZES.items())
    theta["pose"] = rng.uniform(-0.3, 0.3, 3).astype(np.float32)
    image, iris = toy_face(theta, size)
    syn.append(schema.make_example(image, schema.SYNTHETIC, theta, iris,
                                   np.zeros([68, 2], np.float32)))
    real.append(schema.make_example(image[:, ::-1].copy(),
                                    schema.PSEUDO_REAL))
  sharded_writer.write_records_atomically(
      sharded_writer.shard_path(directory, "synthetic", 0, 1), syn)
  sharded_writer.write_records_atomically(
      sharded_writer.shard_path(directory, "pseudo_real", 0, 1), real)
  return (sharded_writer.shard_pattern(directory, "synthetic"),
          sharded_writer.shard_pattern(directory, "pseudo_real"))
