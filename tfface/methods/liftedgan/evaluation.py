"""LiftedGAN's evaluation protocol (paper Table 2 and Fig. 6), which the
authors never released (seasonSH/LiftedGAN has FID only).

On ``num_samples`` (1,000 in the paper) random z:

* **Fréchet distance** between StyleGAN2 samples and the 3D generator's
  re-rendered samples (each at its own predicted view and light, no
  truncation, as the reference's ``tools/test_fid.py``): FID with an
  InceptionV3 weights file, else the same distance in the identity net's
  embedding space, reported as ``frechet_identity_distance``
  (:mod:`tfface.metrics.frechet`).
* **Depth error** against pseudo ground truth: the frozen reconstruction net
  predicts face-model coefficients of the StyleGAN2 image (truncation 0.7,
  the 2D face the 3D model lifts); their depth is rendered with
  :class:`~tfface.rendering.face_renderer.FaceRenderer` at the image's
  resolution. The 3D model's depth is its own render at its predicted view.
  On the pixels both call face, each depth map is normalised to zero mean and
  unit standard deviation and the error is the RMS of their difference
  (:func:`normalized_depth_error`; the paper's "ℓ2 distance between
  normalised depth maps on overlapped areas").
* **Template depth error**, a reference in place of the paper's Wu et al.
  row: the face model's mean shape (default identity and expression) posed
  at the pseudo ground truth's own pose and translation, scored the same way
  on the same pixels (the 3D model's overlap, less where the template shows
  no face). It needs no learning and knows each sample's pose, so a lifted
  shape that carries information about the face beats it.
* **Yaw / pitch / roll errors** (degrees) between the 3D model's predicted
  view and the reconstruction net's pose, each centred by its mean over the
  samples first (the paper: "normalised by subtracting average angle");
  :func:`angle_errors`.
* **Identity similarity vs yaw** (Fig. 6): cosine similarity of the identity
  embeddings of the frontal render and renders at yaw 0°..60° (both
  directions averaged); :func:`identity_similarity_curve`.

Angle conventions: the LiftedGAN view rotates (rx, ry, rz) about the axes of
its camera frame (x right, y down, z away from the camera); tfface's pose
(pitch, yaw, roll) is in a frame with y up and z toward the camera, i.e. the
LiftedGAN frame turned 180° about x, so (pitch, yaw, roll) = (rx, −ry, −rz)
(:func:`view_to_pose`).

:func:`evaluate_run` is ``tools/evaluate.py liftedgan``.
"""

import json
import os
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfface.methods.liftedgan import control
from tfface.methods.liftedgan import mesh_io
from tfface.metrics import frechet

DEFAULT_YAWS = (0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0)
# Fewer overlapping pixels than this: no depth error for that sample.
MIN_OVERLAP = 16


def normalized_depth_error(depth_a, depth_b, mask) -> np.ndarray:
  """Per-image RMS difference of mean/std-normalised depth on a mask.

  Args:
    depth_a, depth_b: `[B, H, W]` or `[B, H, W, 1]` depth maps (any units).
    mask: same shape, nonzero where both maps are valid (the overlap).

  Returns:
    `[B]` float64; NaN where the overlap has fewer than ``MIN_OVERLAP``
    pixels or a map is constant there.
  """
  a = np.asarray(depth_a, np.float64).reshape(len(depth_a), -1)
  b = np.asarray(depth_b, np.float64).reshape(len(depth_b), -1)
  m = np.asarray(mask).reshape(len(mask), -1) > 0
  if a.shape != b.shape or a.shape != m.shape:
    raise ValueError(f"depth maps and mask must have one shape, got "
                     f"{np.shape(depth_a)}, {np.shape(depth_b)}, "
                     f"{np.shape(mask)}")
  out = np.full(len(a), np.nan)
  for i in range(len(a)):
    if m[i].sum() < MIN_OVERLAP:
      continue
    x, y = a[i][m[i]], b[i][m[i]]
    if x.std() <= 1e-12 or y.std() <= 1e-12:
      continue
    x = (x - x.mean()) / x.std()
    y = (y - y.mean()) / y.std()
    out[i] = np.sqrt(np.mean((x - y)**2))
  return out


def angle_errors(predicted, target) -> Dict[str, float]:
  """Mean absolute error in degrees per axis after centring each set.

  Args:
    predicted, target: `[N, 3]` (pitch, yaw, roll) radians.

  Returns:
    ``{"pitch": ..., "yaw": ..., "roll": ...}`` degrees.
  """
  p = np.asarray(predicted, np.float64)
  t = np.asarray(target, np.float64)
  if p.shape != t.shape or p.ndim != 2 or p.shape[1] != 3:
    raise ValueError(f"angles must be [N, 3] (pitch, yaw, roll) of one N, "
                     f"got {p.shape} and {t.shape}")
  err = np.abs((p - p.mean(0)) - (t - t.mean(0)))
  deg = np.rad2deg(err.mean(0))
  return {"pitch": float(deg[0]), "yaw": float(deg[1]), "roll": float(deg[2])}


def view_to_pose(model, view) -> tf.Tensor:
  """LiftedGAN view `[B, 6]` -> tfface pose `[B, 3]` (pitch, yaw, roll)."""
  rotation = view[:, :3] * model.renderer.rotation_range
  return rotation * tf.constant([1.0, -1.0, -1.0])


def identity_similarity_curve(frontal, by_yaw: Mapping[float, np.ndarray]
                              ) -> Dict[float, float]:
  """Mean cosine similarity of unit embeddings to the frontal ones.

  Args:
    frontal: `[N, D]` embeddings of the frontal renders.
    by_yaw: yaw (degrees) -> `[N, D]` embeddings at that yaw.
  """
  f = np.asarray(frontal, np.float64)
  f = f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True), 1e-12)
  out = {}
  for yaw, e in by_yaw.items():
    e = np.asarray(e, np.float64)
    e = e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)
    out[float(yaw)] = float(np.mean(np.sum(f * e, -1)))
  return out


class PseudoGroundTruth:
  """The reconstruction net's pose and rendered depth of images.

  Args:
    network: a procedural-layout :class:`~tfface.analysis.reconstruction.
      ReconstructionNet` (e.g. ``load_network("pretrained/
      reconstruction.npz")``).
    image_size: the images' size.
  """

  def __init__(self, network, image_size: int):
    from tfface.analysis import reconstruction as rec  # pylint: disable=g-import-not-at-top
    from tfface.rendering import face_renderer  # pylint: disable=g-import-not-at-top
    if getattr(network, "layout", None) != "procedural":
      raise ValueError("the pseudo ground truth needs a procedural-layout "
                       "reconstruction network (its depth is rendered with "
                       "tfface's face model); got layout "
                       f"{getattr(network, 'layout', None)!r}")
    self.network = network
    self.face_model = rec.procedural_model(network.model_resolution)
    size = (int(image_size), int(image_size))
    self.renderer = face_renderer.FaceRenderer(
        self.face_model, size, camera=rec.dataset_camera(size, network.zoom),
        enable_cull_face=True)
    self._rec = rec

  def __call__(self, images: tf.Tensor) -> Dict[str, tf.Tensor]:
    """``pose`` `[B, 3]`; ``depth``, ``mask`` `[B, H, W, 1]` of the predicted
    face; ``template_depth``, ``template_mask`` `[B, H, W, 1]` of the face
    model's mean shape at the predicted pose and translation."""
    pred = self.network(images, training=False)
    scene = {name: pred[name] for name in ("pose", "sh", "translation")}
    params = self._rec.model_parameters(pred, self.face_model)
    params.update(scene)
    out = self.renderer.render(params)
    template = self._rec.model_parameters(scene, self.face_model)
    template.update(scene)
    mean = self.renderer.render(template)
    return {"pose": pred["pose"], "depth": out["depth"], "mask": out["mask"],
            "template_depth": mean["depth"], "template_mask": mean["mask"]}


def _face_region(model, components, view) -> tf.Tensor:
  """`[B, R, R, 1]` 1 where the posed render shows the canonical face."""
  face = model.face_mask(components["depth"])
  out = model.renderer.warp(face, components["depth"], view,
                            components["transformation"])
  return tf.cast(out["image"] * out["mask"] > 0.5, tf.float32)


def evaluate(model, reconstruction=None, identity_net=None,
             num_samples: int = 1000, batch_size: int = 16,
             inception_weights: Optional[str] = None,
             yaws_degrees: Sequence[float] = DEFAULT_YAWS,
             truncation: float = 0.7, seed: int = 0,
             compile_batches: bool = True) -> Dict[str, object]:
  """The Table-2 figures and the identity-vs-yaw curve of a 3D generator.

  Args:
    model: a :class:`~tfface.methods.liftedgan.model.LiftedGAN`.
    reconstruction: a :class:`PseudoGroundTruth`, or None (no depth / angle
      errors).
    identity_net: the identity embedding (``[B, H, W, 3]`` -> unit `[B, D]`)
      for the curve and the identity-space Fréchet distance, or None.
    num_samples: random z (1,000 in the paper).
    batch_size: z per batch.
    inception_weights: Keras InceptionV3 weights for a real FID, or None.
    yaws_degrees: the curve's yaws.
    truncation: ψ of the 2D faces the 3D errors and the curve are taken on.
    seed: z seed.
    compile_batches: run each batch as a ``tf.function`` (False: eagerly,
      quicker for a handful of samples).

  Returns:
    JSON-ready dict: the Fréchet distance under its name, ``depth_error``,
    ``depth_error_samples``, ``template_depth_error``, ``yaw_error`` /
    ``pitch_error`` / ``roll_error`` (degrees), ``identity_vs_yaw`` {yaw: similarity},
    ``num_samples``.
  """
  if int(num_samples) < 2:
    raise ValueError(f"--num_samples must be >= 2, got {num_samples!r}")
  features, fd_name = (None, None)
  if inception_weights or identity_net is not None:
    features, fd_name = frechet.feature_extractor(inception_weights,
                                                  identity_net)
  yaws = [float(y) for y in yaws_degrees]

  def batch_fn(z):
    out = {}
    # FID pair: no truncation, the 3D sample at its own view and light.
    w1 = model.generator.mapping(z, 1.0)
    comps1 = model.estimate(w1)
    out["fd_2d"] = tf.clip_by_value(model.generator(w1), -1.0, 1.0)
    out["fd_3d"] = tf.clip_by_value(model.render(comps1)["image"], -1.0, 1.0)
    # 3D errors and the curve at the training truncation.
    w = model.generator.mapping(z, truncation)
    comps = model.estimate(w)
    image = tf.clip_by_value(model.generator(w), -1.0, 1.0)
    rendered = model.render(comps)
    out["pose"] = view_to_pose(model, comps["view"])
    out["depth"] = rendered["depth"]
    out["face"] = _face_region(model, comps, comps["view"]) * rendered["mask"]
    if reconstruction is not None:
      gt = reconstruction(image)
      for key in ("pose", "depth", "mask", "template_depth",
                  "template_mask"):
        out[f"gt_{key}"] = gt[key]
    if identity_net is not None:
      for sign in (1.0, -1.0):
        for yaw in yaws:
          if sign < 0 and yaw == 0:
            continue
          im = control.render(model, comps, yaw=sign * np.deg2rad(yaw),
                              pitch=0.0)
          out[f"id_{sign * yaw:+.1f}"] = identity_net(im, training=False)
    return out

  if compile_batches:
    batch_fn = tf.function(batch_fn, reduce_retracing=True)
  collected: Dict[str, list] = {}
  fd_features = {"fd_2d": [], "fd_3d": []}
  done = 0
  while done < num_samples:
    n = min(int(batch_size), int(num_samples) - done)
    z = tf.random.stateless_normal([n, model.z_dim], [int(seed), done])
    out = batch_fn(z)
    for key in ("fd_2d", "fd_3d"):
      if features is not None:
        fd_features[key].append(np.asarray(features(out[key])))
    for key, value in out.items():
      if not key.startswith("fd_"):
        collected.setdefault(key, []).append(value.numpy())
    done += n
  arrays = {k: np.concatenate(v) for k, v in collected.items()}
  result: Dict[str, object] = {"num_samples": int(num_samples),
                               "truncation": float(truncation)}
  if features is not None:
    result[fd_name] = frechet.frechet_distance_of_features(
        np.concatenate(fd_features["fd_2d"]),
        np.concatenate(fd_features["fd_3d"]))
    result["frechet_features"] = fd_name
  if reconstruction is not None:
    overlap = (arrays["face"] > 0) & (arrays["gt_mask"] > 0)
    errors = normalized_depth_error(arrays["depth"], arrays["gt_depth"],
                                    overlap)
    result["depth_error"] = _finite_mean(errors)
    result["depth_error_samples"] = int(np.isfinite(errors).sum())
    result["template_depth_error"] = _finite_mean(normalized_depth_error(
        arrays["gt_template_depth"], arrays["gt_depth"],
        overlap & (arrays["gt_template_mask"] > 0)))
    for axis, value in angle_errors(arrays["pose"],
                                    arrays["gt_pose"]).items():
      result[f"{axis}_error"] = value
  if identity_net is not None:
    frontal = arrays["id_+0.0"]
    curve = {}
    for yaw in yaws:
      sims = [identity_similarity_curve(frontal, {yaw: arrays[
          f"id_{s * yaw:+.1f}"]})[yaw] for s in ((1.0,) if yaw == 0 else
                                                 (1.0, -1.0))]
      curve[yaw] = float(np.mean(sims))
    result["identity_vs_yaw"] = {f"{k:g}": v for k, v in curve.items()}
  return result


def _finite_mean(values: np.ndarray) -> float:
  """Mean of the finite entries; NaN when there are none."""
  valid = np.isfinite(values)
  return float(values[valid].mean()) if valid.any() else float("nan")


def plot_curves(path: str, curves: Mapping[str, Mapping[str, float]],
                title: str = "identity similarity vs yaw") -> None:
  """A line plot PNG (PIL, no matplotlib): one line per curve name, x the
  yaw in degrees, y the similarity (axis from min(0, lowest) to 1)."""
  from PIL import Image, ImageDraw  # pylint: disable=g-import-not-at-top
  width, height, margin = 560, 380, 50
  img = Image.new("RGB", (width, height), "white")
  draw = ImageDraw.Draw(img)
  xs = sorted({float(k) for c in curves.values() for k in c})
  values = [v for c in curves.values() for v in c.values()
            if np.isfinite(v)]
  low = min([0.0] + values)
  x_max = max(xs) if xs and max(xs) > 0 else 1.0
  def point(x, y):
    return (margin + (width - 2 * margin) * x / x_max,
            height - margin - (height - 2 * margin) * (y - low) / (1 - low))
  draw.line([point(0, low), point(x_max, low)], fill="black")
  draw.line([point(0, low), point(0, 1)], fill="black")
  for x in xs:
    px, py = point(x, low)
    draw.text((px - 8, py + 5), f"{x:g}", fill="black")
  for y in np.linspace(low, 1.0, 5):
    px, py = point(0, y)
    draw.text((5, py - 6), f"{y:.2f}", fill="black")
  draw.text((margin, 10), title, fill="black")
  colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
  for i, (name, curve) in enumerate(sorted(curves.items())):
    pts = [point(float(k), v) for k, v in sorted(
        curve.items(), key=lambda kv: float(kv[0])) if np.isfinite(v)]
    color = colors[i % len(colors)]
    if len(pts) > 1:
      draw.line(pts, fill=color, width=2)
    draw.text((width - margin - 150, 30 + 14 * i), name, fill=color)
  import io  # pylint: disable=g-import-not-at-top
  buffer = io.BytesIO()
  img.save(buffer, format="PNG")
  mesh_io.atomic_write(path, buffer.getvalue())


def evaluate_run(run_dir: str, output_dir: str,
                 reconstruction_weights: Optional[str] = None,
                 identity_weights: Optional[str] = None,
                 inception_weights: Optional[str] = None,
                 num_samples: int = 1000, batch_size: int = 16,
                 seed: int = 0) -> Dict[str, object]:
  """``tools/evaluate.py liftedgan``: :func:`evaluate` on a trained run.

  Writes ``<output_dir>/metrics.json``, ``identity_vs_yaw.json`` and
  ``identity_vs_yaw.png``. The identity net defaults to the run's own
  (``LiftedGANMethod.identity_weights``) when none is given.
  """
  from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
  from tfface.training import restore  # pylint: disable=g-import-not-at-top
  for flag, path in (("--reconstruction_weights", reconstruction_weights),
                     ("--identity_weights", identity_weights)):
    if path and not os.path.isfile(path):
      raise ValueError(f"{flag} {path!r} does not exist; expected an "
                       "analysis-network weights .npz")
  method = restore.restore_run(run_dir)
  model = method.model
  identity_net = (analysis_weights.load_network(identity_weights)
                  if identity_weights else method.identity_net)
  reconstruction = None
  if reconstruction_weights:
    reconstruction = PseudoGroundTruth(
        analysis_weights.load_network(reconstruction_weights),
        model.resolution)
  result = evaluate(model, reconstruction, identity_net, num_samples,
                    batch_size, inception_weights, seed=seed)
  result["run_dir"] = run_dir
  os.makedirs(output_dir, exist_ok=True)
  mesh_io.atomic_write(os.path.join(output_dir, "metrics.json"),
                       json.dumps(result, indent=1).encode())
  if "identity_vs_yaw" in result:
    mesh_io.atomic_write(
        os.path.join(output_dir, "identity_vs_yaw.json"),
        json.dumps(result["identity_vs_yaw"], indent=1).encode())
    plot_curves(os.path.join(output_dir, "identity_vs_yaw.png"),
                {os.path.basename(os.path.normpath(run_dir)):
                 result["identity_vs_yaw"]})
  return result


TABLE_COLUMNS = ("fid", "frechet_identity_distance", "depth_error",
                 "template_depth_error", "yaw_error", "pitch_error",
                 "roll_error")


def _markdown_table(rows: Mapping[str, Mapping[str, object]],
                    extra: Sequence[str], cell) -> str:
  """One markdown row per ``name -> row`` dict: the name, the ``extra``
  keys as they are, then each :data:`TABLE_COLUMNS` entry some row has,
  written by ``cell(row, column)`` ("-" where the row lacks it)."""
  columns = [c for c in TABLE_COLUMNS if any(c in r for r in rows.values())]
  header = ["run", *extra, *columns]
  lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
  for name, r in rows.items():
    cells = [str(r[k]) for k in extra] + [cell(r, c) for c in columns]
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def table_markdown(results: Mapping[str, Mapping[str, object]]) -> str:
  """The Table-2 figures of several runs, one row each (markdown)."""
  return _markdown_table(
      results, (), lambda r, c: f"{r[c]:.4f}" if isinstance(r.get(c), float)
      else "-")


REPLICATE_SEPARATOR = "@"


def replicate_summary(results: Mapping[str, Mapping[str, object]]
                      ) -> Dict[str, Dict[str, object]]:
  """Mean and spread over replicates of one configuration.

  Runs named ``<config>@<replicate>`` (``full@1``, ``full@2``, ...; a name
  without ``@`` is its own group) are grouped by ``<config>``, in the order
  they first appear.

  Returns:
    config -> ``{"n": replicates, "runs": [names], "<column>": {"mean",
    "std" (sample standard deviation, 0 for one run), "min", "max"}}`` for
    each :data:`TABLE_COLUMNS` entry the runs have as a finite float.
  """
  groups: Dict[str, list] = {}
  for name in results:
    groups.setdefault(name.split(REPLICATE_SEPARATOR, 1)[0], []).append(name)
  summary = {}
  for config, names in groups.items():
    entry: Dict[str, object] = {"n": len(names), "runs": list(names)}
    for column in TABLE_COLUMNS:
      values = np.asarray([results[n][column] for n in names
                           if isinstance(results[n].get(column), float)
                           and np.isfinite(results[n][column])])
      if values.size:
        entry[column] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
            "min": float(values.min()), "max": float(values.max())}
    summary[config] = entry
  return summary


def replicate_markdown(summary: Mapping[str, Mapping[str, object]]) -> str:
  """:func:`replicate_summary` as a markdown table of ``mean ± std``."""
  return _markdown_table(
      summary, ("n",), lambda r, c: f"{r[c]['mean']:.4f} ± {r[c]['std']:.4f}"
      if c in r else "-")


def evaluate_runs(named_runs: Mapping[str, str], output_dir: str,
                  **kwargs) -> Dict[str, Dict[str, object]]:
  """:func:`evaluate_run` for each ``name -> run_dir`` (e.g. the full model
  and its ablations) into ``<output_dir>/<name>/``, then ``table.json``,
  ``table.md`` and ``identity_vs_yaw.png`` with every curve; where runs are
  replicates (``name@seed``, :func:`replicate_summary`) also
  ``replicates.json`` and ``replicates.md`` with mean ± std per config."""
  if not named_runs:
    raise ValueError("--liftedgan_runs needs at least one name=run_dir")
  results = {}
  for name, run_dir in named_runs.items():
    results[name] = evaluate_run(run_dir, os.path.join(output_dir, name),
                                 **kwargs)
  mesh_io.atomic_write(os.path.join(output_dir, "table.json"),
                       json.dumps(results, indent=1).encode())
  mesh_io.atomic_write(os.path.join(output_dir, "table.md"),
                       table_markdown(results).encode())
  summary = replicate_summary(results)
  if any(r["n"] > 1 for r in summary.values()):
    mesh_io.atomic_write(os.path.join(output_dir, "replicates.json"),
                         json.dumps(summary, indent=1).encode())
    mesh_io.atomic_write(os.path.join(output_dir, "replicates.md"),
                         replicate_markdown(summary).encode())
  curves = {n: r["identity_vs_yaw"] for n, r in results.items()
            if "identity_vs_yaw" in r}
  if curves:
    plot_curves(os.path.join(output_dir, "identity_vs_yaw.png"), curves)
  return results
