"""Held-out measurements of the face-analysis networks (``tools/evaluate.py analysis``).

Each net's trainer module has its evaluator (``evaluate_<net>(network,
dataset, num_batches)``); this module runs them on held-out labeled faces
(``tools/make_synthetic.py --mode=labeled`` with another seed, so other
identities) for any set of weights files, and writes the numbers as JSON:

* reconstruction: per-group coefficient error (pose in degrees) and the
  landmark error of the projected mesh;
* landmarks: NME normalised by the inter-ocular distance;
* identity: verification of same / different identity pairs across yaw
  differences up to 60° (ROC AUC, TAR at FAR 1e-2);
* parser: IoU per class and their mean;

each overall and per render style (plain synthetic / pseudo-real).
"""

import importlib
import json
import math
import os
from typing import Any, Dict, Mapping

import numpy as np
import tensorflow as tf

EVALUATORS = {
    "reconstruction": ("tfface.methods.analysis.reconstruction",
                       "evaluate_reconstruction"),
    "landmarks": ("tfface.methods.analysis.landmarks", "evaluate_landmarks"),
    "identity": ("tfface.methods.analysis.identity", "evaluate_identity"),
    "parser": ("tfface.methods.analysis.parser", "evaluate_parser"),
}
BATCH_SIZE = 25


def heldout_dataset(pattern: str, image_size: int,
                    batch_size: int = BATCH_SIZE) -> tf.data.Dataset:
  """The held-out labeled faces, in order, once (for measuring)."""
  from tfface.data import datasets  # pylint: disable=g-import-not-at-top
  return datasets.synthetic_dataset(pattern, image_size, batch_size=batch_size,
                                    shuffle=False, repeat=False,
                                    analysis_labels=True)


def jsonable(value):
  """Nested numbers, arrays and tensors as plain JSON types.

  NaN and infinities (a metric with no pairs to measure) become None: strict
  JSON has no NaN.
  """
  if isinstance(value, Mapping):
    return {str(k): jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [jsonable(v) for v in value]
  if isinstance(value, tf.Tensor):
    value = value.numpy()
  if isinstance(value, np.ndarray):
    return jsonable(value.tolist())
  if isinstance(value, np.generic):
    value = value.item()
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def evaluate_net(name: str, network, heldout_pattern: str, image_size: int,
                 num_batches: int) -> Dict[str, Any]:
  """The held-out measurements of one analysis net (its method's evaluator)."""
  module, function = EVALUATORS[name]
  evaluate = getattr(importlib.import_module(module), function)
  dataset = heldout_dataset(heldout_pattern, image_size)
  return jsonable(evaluate(network, dataset, num_batches))


def evaluate_weights(paths: Mapping[str, str], heldout_pattern: str,
                     image_size: int = 64, num_faces: int = 1000,
                     output_json: str = "") -> Dict[str, Any]:
  """Measures weights files (net name -> path) on held-out labeled faces.

  Args:
    paths: e.g. ``{"landmarks": "pretrained/landmarks.npz"}``; names are
      keys of :data:`EVALUATORS`.
    heldout_pattern: glob of held-out ``labeled-*.tfrecord`` shards.
    image_size: the size the faces are read at (each net resizes to its own).
    num_faces: faces to measure (rounded down to batches of 25, at least 1).
    output_json: where to write the result ("" = nowhere).

  Returns:
    name -> that net's measurements, plus ``"faces"``.
  """
  from tfface.analysis import weights  # pylint: disable=g-import-not-at-top
  unknown = sorted(set(paths) - set(EVALUATORS))
  if unknown:
    raise ValueError(f"unknown analysis nets {unknown}; expected some of "
                     f"{sorted(EVALUATORS)}")
  if not paths:
    raise ValueError("no analysis weights files to evaluate")
  num_batches = max(1, int(num_faces) // BATCH_SIZE)
  result: Dict[str, Any] = {"faces": num_batches * BATCH_SIZE,
                            "heldout_pattern": heldout_pattern}
  for name, path in paths.items():
    network = weights.load_network(path)
    result[name] = evaluate_net(name, network, heldout_pattern, image_size,
                                num_batches)
    result[name]["weights"] = path
  if output_json:
    directory = os.path.dirname(os.path.abspath(output_json))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{output_json}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
      json.dump(result, f, indent=2, sort_keys=True)
    os.replace(tmp, output_json)
  return result


def bundle_paths(bundle_dir: str) -> Dict[str, str]:
  """The analysis weights files present in a bundle directory."""
  return {name: os.path.join(bundle_dir, f"{name}.npz") for name in EVALUATORS
          if os.path.exists(os.path.join(bundle_dir, f"{name}.npz"))}
