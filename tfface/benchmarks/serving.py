"""Serving benchmark: an exported SavedModel vs the eager Keras call.

  python tools/benchmark.py serving --output=bench/serving.json
  python tools/benchmark.py serving --resolution=128 --batches=1,8,32

Builds a ConfigNet with the demo's network sizes (random weights: speed does
not depend on them) at ``--resolution``, exports it with the export
conventions, then times ``generate`` (= ``serving_default``) three ways at
each batch size: the eager Keras call of the generator, the same call under
``tf.function``, and the SavedModel's signature **in a fresh process that
does not import tfface** (what TF Serving runs). Latency is batch 1 in ms;
throughput is images/s at the larger batches. The goal: the SavedModel is
no slower than the eager call.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Dict, List

import numpy as np
import tensorflow as tf

from tfface.benchmarks import common
from tfface.benchmarks import confignet as confignet_bench
from tfface.export import metadata
from tfface.methods.confignet import export as cn_export
from tfface.methods.confignet import factors
from tfface.methods.confignet import model

# Timed in the fresh process: loads the export, times serving_default.
_FRESH = r"""
import json, sys, time
import numpy as np
import tensorflow as tf
assert not any(m.startswith("tfface") for m in sys.modules)
path, latent, batches, iters, min_s = sys.argv[1], int(sys.argv[2]), \
    [int(b) for b in sys.argv[3].split(",")], int(sys.argv[4]), float(sys.argv[5])
start = time.perf_counter()
fn = tf.saved_model.load(path).signatures["serving_default"]
load_s = time.perf_counter() - start
out = {"load_seconds": load_s, "seconds_per_call": {},
       "tfface_imported": False}
for b in batches:
  z = tf.constant(np.random.default_rng(0).normal(size=(b, latent)), tf.float32)
  rot = tf.zeros([b, 3])
  for _ in range(2):
    fn(z=z, rotation=rot)["image"].numpy()
  n, t0 = 0, time.perf_counter()
  while n < iters or time.perf_counter() - t0 < min_s:
    fn(z=z, rotation=rot)["image"].numpy()
    n += 1
  out["seconds_per_call"][str(b)] = (time.perf_counter() - t0) / n
out["tfface_imported"] = any(m.startswith("tfface") for m in sys.modules)
print(json.dumps(out))
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--resolution", type=int, default=64)
  parser.add_argument("--batches", default="1,8,32",
                      help="comma-separated batch sizes (the first is the "
                      "latency batch)")
  parser.add_argument("--iters", type=int, default=5)
  parser.add_argument("--min_seconds", type=float, default=1.0)


def _batches(text: str) -> List[int]:
  try:
    batches = [int(b) for b in text.split(",") if b.strip()]
  except ValueError:
    batches = []
  if not batches or min(batches) < 1:
    raise ValueError(f"--batches must be positive integers like 1,8,32, got "
                     f"{text!r}")
  return batches


def _fresh_process(path: str, latent: int, batches: List[int], iters: int,
                   min_seconds: float) -> Dict[str, object]:
  env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run(
      [sys.executable, "-c", _FRESH, path, str(latent),
       ",".join(map(str, batches)), str(iters), str(min_seconds)],
      capture_output=True, text=True, env=env, cwd=tempfile.gettempdir(),
      timeout=1800, check=False)
  if result.returncode != 0:
    raise RuntimeError("the fresh-process SavedModel timing failed: "
                       + result.stderr[-2000:])
  return json.loads(result.stdout.strip().splitlines()[-1])


def run(args) -> Dict[str, object]:
  batches = _batches(args.batches)
  table = factors.synthetic_factor_table()
  g = model.Generator(table.latent_dim, args.resolution,
                      **dict(confignet_bench.DEMO_GENERATOR, constant_size=16))
  e_s = model.SyntheticEncoder(table)
  model.build_networks({"g": g, "e_s": e_s}, table, args.resolution)
  module = cn_export.ConfigNetServing(g, e_s, table)
  graph_fn = tf.function(lambda z, r: g(z, r))
  timings = {"eager_keras": {}, "tf_function": {}}
  rng = np.random.default_rng(0)
  for b in batches:
    z = tf.constant(rng.normal(size=(b, table.latent_dim)), tf.float32)
    rot = tf.zeros([b, 3])
    timings["eager_keras"][str(b)] = common.time_call(
        lambda: g(z, rot), iters=args.iters, min_seconds=args.min_seconds)
    timings["tf_function"][str(b)] = common.time_call(
        lambda: graph_fn(z, rot), iters=args.iters,
        min_seconds=args.min_seconds)
  with tempfile.TemporaryDirectory() as directory:
    path = metadata.export_servable(
        module, os.path.join(directory, "confignet"), module.signatures(),
        module.export_metadata(), module.signature_inputs())
    fresh = _fresh_process(path, table.latent_dim, batches, args.iters,
                           args.min_seconds)
  timings["savedmodel_fresh_process"] = fresh["seconds_per_call"]
  first = str(batches[0])
  result = {
      "resolution": args.resolution, "batches": batches,
      "signature": "serving_default (= generate)",
      "savedmodel_load_seconds": fresh["load_seconds"],
      "savedmodel_process_imported_tfface": fresh["tfface_imported"],
      f"latency_ms_batch{first}": {k: 1000.0 * v[first]
                                   for k, v in timings.items()},
      "images_per_second": {k: {b: int(b) / s for b, s in v.items()}
                            for k, v in timings.items()},
      "savedmodel_over_eager_time": {
          b: timings["savedmodel_fresh_process"][b] / timings["eager_keras"][b]
          for b in timings["eager_keras"]},
  }
  return result
