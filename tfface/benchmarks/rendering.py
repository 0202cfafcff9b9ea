"""Rendering throughput: faces per second for both rasterizer backends.

  python tools/benchmark.py rendering --output=bench/rendering.json
  python tools/benchmark.py rendering --quick

Cases: (a) the procedural face model and (b) a BFM-sized mesh (35k vertices,
70k triangles, random 80/64/80 bases in the BFM front-file format), each
rendered by `FaceRenderer` (model → posed mesh → SH shading → rasterization)
at 64², 128² and 224², forward and forward + backward (gradient of the mean
image w.r.t. every coefficient), with the `"tf"` and `"tfg_cpu"` backends.
A third case times LiftedGAN's depth-map renderer (`DepthMapRenderer`, one
grid vertex per pixel: 2 (S − 1)² triangles). Every case is one
`tf.function`; the time excludes tracing. If the face
renderer cannot be imported, a rasterize + Lambert-shade of the same meshes is
timed instead (the JSON says which).
"""

import argparse
import os
import time
from typing import Callable, Dict, List, Tuple

import numpy as np
import tensorflow as tf

from tfface.benchmarks import common

SIZES = (64, 128, 224)
BACKENDS = ("tf", "tfg_cpu")
MODES = ("forward", "forward_backward")


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--quick", action="store_true",
                      help="tiny smoke run: 64 px, batch 2, short timings")
  parser.add_argument("--batch_size", type=int, default=4)
  parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
  parser.add_argument("--backends", nargs="+", default=list(BACKENDS),
                      choices=BACKENDS)
  parser.add_argument("--models", nargs="+",
                      default=["procedural", "bfm", "depth_map"],
                      choices=["procedural", "bfm", "depth_map"])
  parser.add_argument("--procedural_resolution", type=int, default=2,
                      help="ProceduralFaceModel(resolution=...)")
  parser.add_argument("--min_seconds", type=float, default=1.0,
                      help="minimum timed seconds per case")


def _bfm_sized_model():
  """A BFM-front-format model with 187 x 187 = 34969 vertices, 69192 tris."""
  from tfface.rendering import bfm  # pylint: disable=g-import-not-at-top
  fields = bfm.synthetic_bfm_fields(rows=187, cols=187, seed=0)
  return bfm.BfmFaceModel(fields)


def _procedural_model(resolution: int):
  from tfface.rendering import procedural_model  # pylint: disable=g-import-not-at-top
  return procedural_model.ProceduralFaceModel(resolution=resolution)


def _face_renderer_case(model, size: int, backend: str, batch: int,
                        backward: bool) -> Tuple[Callable[[], object], str]:
  """A `FaceRenderer` render (and gradient) of random coefficients."""
  from tfface.rendering import face_renderer  # pylint: disable=g-import-not-at-top
  renderer = face_renderer.FaceRenderer(model, size, backend=backend)
  rng = np.random.default_rng(0)
  params = {name: tf.Variable(value)
            for name, value in model.default_parameters(batch).items()}
  for name, n in model.parameter_sizes.items():
    if name in ("identity", "albedo") or name.startswith(("id", "tex")):
      params[name].assign(
          tf.constant(rng.normal(0, 0.5, (batch, n)), tf.float32))
  params["pose"] = tf.Variable(
      rng.uniform(-0.3, 0.3, (batch, 3)).astype(np.float32))
  params["translation"] = tf.Variable(np.zeros((batch, 3), np.float32))
  sh = np.zeros((batch, 27), np.float32)
  sh[:, [0, 9, 18]] = 0.3
  params["sh"] = tf.Variable(sh)
  variables = [v for v in params.values() if v.dtype == tf.float32]

  @tf.function
  def forward():
    return renderer.render(params)["image"]

  @tf.function
  def forward_backward():
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(renderer.render(params)["image"])
    return tape.gradient(loss, variables)

  return (forward_backward if backward else forward), "face_renderer"


def _mesh_case(model, size: int, backend: str, batch: int,
               backward: bool) -> Tuple[Callable[[], object], str]:
  """Fallback: rasterize + Lambert-shade the model's mean mesh."""
  from tfface.rendering import rasterizer  # pylint: disable=g-import-not-at-top
  params = model.default_parameters(batch)
  vertices = tf.Variable(model.vertices(params))
  colors = tf.Variable(model.albedo(params))
  triangles = tf.constant(model.triangles)
  fov = np.deg2rad(12.6)  # Deep3DFaceRecon: focal 1015 at 224 px.
  f = 1.0 / np.tan(fov / 2)
  near, far = 5.0, 15.0
  proj = np.array([[f, 0, 0, 0], [0, f, 0, 0],
                   [0, 0, (far + near) / (near - far),
                    2 * far * near / (near - far)], [0, 0, -1, 0]])
  view = np.eye(4)
  view[2, 3] = -10.0
  vp = tf.constant(np.tile((proj @ view)[None], [batch, 1, 1]), tf.float32)

  def render():
    out = rasterizer.rasterize(vertices, triangles, {"color": colors}, vp,
                               (size, size), backend=backend)
    return out["color"] * out["mask"]

  @tf.function
  def forward():
    return render()

  @tf.function
  def forward_backward():
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(render())
    return tape.gradient(loss, [vertices, colors])

  return (forward_backward if backward else forward), "rasterize_and_shade"


def _depth_map_case(size: int, backend: str, batch: int,
                    backward: bool) -> Tuple[Callable[[], object], str]:
  """LiftedGAN's depth-map render (and gradient) of a smooth random face."""
  from tfface.rendering import depth_renderer  # pylint: disable=g-import-not-at-top
  renderer = depth_renderer.DepthMapRenderer(size, backend=backend)
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[0:size, 0:size] / (size - 1.0) - 0.5
  bump = np.exp(-(xx**2 + yy**2) / 0.08)
  depth = tf.Variable(np.tile((1.05 - 0.12 * bump)[None, ..., None],
                              [batch, 1, 1, 1]).astype(np.float32))
  albedo = tf.Variable(
      rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32))
  view = tf.Variable(rng.uniform(-0.3, 0.3, (batch, 6)).astype(np.float32))
  light = tf.Variable(rng.uniform(-1, 1, (batch, 4)).astype(np.float32))
  tmap = tf.constant(np.tile(np.clip(3 * bump, 0, 1)[None, ..., None],
                             [batch, 1, 1, 1]).astype(np.float32))
  variables = [depth, albedo, view, light]

  @tf.function
  def forward():
    return renderer.render(depth, albedo, view, light, tmap)["image"]

  @tf.function
  def forward_backward():
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(
          renderer.render(depth, albedo, view, light, tmap)["image"])
    return tape.gradient(loss, variables)

  return (forward_backward if backward else forward), "depth_map_renderer"


def run(args) -> Dict[str, object]:
  """Times every (model, size, backend, mode); returns the JSON dict."""
  if args.quick:
    sizes, batch, min_seconds, iters = [64], 2, 0.2, 2
  else:
    sizes, batch, min_seconds, iters = (args.sizes, args.batch_size,
                                        args.min_seconds, 3)
  load_before = os.getloadavg()
  models = {}
  build_seconds = {}
  for name in args.models:
    if name == "depth_map":
      models[name] = None
      continue
    start = time.perf_counter()
    models[name] = (_procedural_model(args.procedural_resolution)
                    if name == "procedural" else _bfm_sized_model())
    build_seconds[name] = time.perf_counter() - start

  results: List[Dict[str, object]] = []
  for name, model in models.items():
    for size in sizes:
      for backend in args.backends:
        for mode in MODES:
          backward = mode == "forward_backward"
          if model is None:
            fn, pipeline = _depth_map_case(size, backend, batch, backward)
            num_vertices, num_triangles = size * size, 2 * (size - 1)**2
          else:
            num_vertices = int(model.num_vertices)
            num_triangles = int(len(model.triangles))
            try:
              fn, pipeline = _face_renderer_case(model, size, backend, batch,
                                                 backward)
            except ImportError:
              fn, pipeline = _mesh_case(model, size, backend, batch,
                                        backward)
          start = time.perf_counter()
          common.time_call(fn, warmup=1, iters=1, min_seconds=0.0)
          trace_seconds = time.perf_counter() - start
          seconds = common.time_call(fn, warmup=1, iters=iters,
                                     min_seconds=min_seconds)
          row = {
              "model": name,
              "num_vertices": num_vertices,
              "num_triangles": num_triangles,
              "image_size": size,
              "backend": backend,
              "mode": mode,
              "pipeline": pipeline,
              "batch_size": batch,
              "seconds_per_batch": seconds,
              "faces_per_second": batch / seconds,
              "first_call_seconds": trace_seconds,
          }
          results.append(row)
          print(f"{name:10s} {size:4d}px {backend:8s} {mode:17s} "
                f"{row['faces_per_second']:8.1f} faces/s", flush=True)
  return {
      # 1-minute load averages: other processes on the machine slow the run.
      "load_average_before_after": [load_before[0], os.getloadavg()[0]],
      "quick": bool(args.quick),
      "model_build_seconds": build_seconds,
      "results": results,
  }
