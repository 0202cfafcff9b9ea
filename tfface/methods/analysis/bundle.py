"""The pretrained bundle: one command trains every frozen network tfface needs.

DiscoFaceGAN, StyleRig, LiftedGAN, the latent models and the metrics lean on
frozen networks the references download (R-Net, FaceNet / ArcFace, a face
parser, a trained StyleGAN2). Nothing can be downloaded here, so
:func:`make_bundle` (``make pretrained`` / ``tools/make_pretrained.py``)
trains tfface's own on its synthetic faces, where labels are free:

1. ``data``: the labeled training set and a held-out set of *other*
   identities (another seed), both render styles
   (``tools/make_synthetic.py --mode=labeled``), and the pseudo-real images
   the StyleGAN2 learns from;
2. ``reconstruction``, ``landmarks``, ``identity``, ``parser``: each trained
   with its ``gin/analysis/<net>_cpu_64.gin`` on the shared runtime, written
   as a weights file (:mod:`tfface.analysis.weights`) and measured on the
   held-out faces;
3. ``stylegan2``: the small StyleGAN2 of ``gin/stylegan2/pseudo_real_32.gin``
   on the pseudo-real domain (the generator StyleRig rigs and LiftedGAN
   lifts), written as a StyleGAN2 weights file with a sample grid;
4. ``report``: the analysis nets run on StyleGAN2 samples
   (``analysis_on_stylegan2.png``);
5. ``export``: each analysis net as a SavedModel with its named signature
   (``reconstruct``, ``landmarks``, ``embed``, ``parse``) under
   ``savedmodels/<net>/1`` with TF Serving's ``models.config``;

and ``manifest.json``: every file, its role, input conventions, measured
accuracy and the tfface version.

Every stage is resumable: the datasets keep their finished shards, the
training runs resume from their checkpoints under ``<bundle>/work/runs``, a
finished stage leaves ``<bundle>/work/stages/<stage>.json`` and is skipped on
the next call. Progress lines give each stage's and the whole bundle's ETA.
"""

import dataclasses
import datetime
import json
import os
import time
from typing import Any, Dict, Mapping, Optional, Sequence

from absl import logging
import gin
import numpy as np
import tensorflow as tf

import tfface
from tfface import config as config_lib
from tfface.data import synthetic
from tfface.methods.analysis import evaluation
from tfface.training import progress
from tfface.training import train_lib

MANIFEST = "manifest.json"
NETS = ("reconstruction", "landmarks", "identity", "parser")

# The role of every analysis net.
ROLES = {
    "reconstruction": (
        "image -> procedural face-model coefficients (identity, expression, "
        "albedo, gaze, pose, SH light, translation) and projected landmarks; "
        "the R-Net / F of DiscoFaceGAN, StyleRig and LiftedGAN's pose meter"),
    "landmarks": (
        "image -> 68 iBUG landmarks (x, y) in input pixels"),
    "identity": (
        "image -> L2-normalised identity embedding (the FaceNet / ArcFace "
        "role: identity losses and identity-vs-pose metrics)"),
    "parser": (
        "image -> per-pixel class probabilities over "
        "background/skin/hair/beard/brows/eyes/lips/mouth (hair = channel 2, "
        "as DiscoFaceGAN's parser)"),
}
INPUT_CONVENTION = ("images [B, H, W, 3] float32 RGB in [-1, 1], any size "
                    "(resized inside to the net's input_size); faces framed "
                    "like tfface's synthetic renders (whole head, "
                    "synthetic.dataset_camera zoom 0.75)")


@dataclasses.dataclass
class BundleSettings:
  """What the bundle trains, at which size, for how long.

  Attributes:
    image_size: resolution of the labeled faces and the analysis nets.
    num_labeled: labeled training faces.
    num_heldout: held-out labeled faces (other identities, seed + 1).
    views_per_identity: faces per identity in the labeled sets.
    pseudo_real_fraction: share of labeled faces in the pseudo-real style.
    max_yaw, max_pitch, max_roll: pose ranges (degrees) of the labeled sets.
    num_pseudo_real: StyleGAN2 training images.
    stylegan2_resolution: their size (the generator's resolution).
    net_gin_files: gin file per analysis net.
    stylegan2_gin_file: the StyleGAN2's gin file.
    max_steps: per stage, a step count overriding its gin file's.
    gin_params: per stage, extra bindings.
    estimate_seconds: per stage, the expected time on 2 CPU cores (ETA).
    eval_batches: batches of 25 held-out faces each net is measured on.
    num_report_samples: StyleGAN2 samples in the report images.
    seed: dataset seed (the held-out set uses seed + 1).
  """
  image_size: int = 64
  num_labeled: int = 12000
  num_heldout: int = 1000
  views_per_identity: int = 4
  pseudo_real_fraction: float = 0.5
  max_yaw: float = 45.0
  max_pitch: float = 20.0
  max_roll: float = 10.0
  num_pseudo_real: int = 10000
  stylegan2_resolution: int = 32
  net_gin_files: Mapping[str, str] = dataclasses.field(
      default_factory=lambda: {n: f"gin/analysis/{n}_cpu_64.gin"
                               for n in NETS})
  stylegan2_gin_file: str = "gin/stylegan2/pseudo_real_32.gin"
  max_steps: Mapping[str, int] = dataclasses.field(default_factory=dict)
  gin_params: Mapping[str, Sequence[str]] = dataclasses.field(
      default_factory=dict)
  estimate_seconds: Mapping[str, float] = dataclasses.field(
      default_factory=lambda: {"data": 200.0, "reconstruction": 400.0,
                               "landmarks": 330.0, "identity": 480.0,
                               "parser": 420.0, "stylegan2": 1000.0,
                               "report": 30.0, "export": 60.0})
  eval_batches: int = 40
  num_report_samples: int = 16
  seed: int = 0


def test_settings() -> BundleSettings:
  """Seconds-long settings (tiny data, the nets' test gin files, few steps)."""
  return BundleSettings(
      image_size=32, num_labeled=48, num_heldout=50, views_per_identity=3,
      num_pseudo_real=32, stylegan2_resolution=16,
      net_gin_files={n: f"gin/analysis/{n}_test.gin" for n in NETS},
      stylegan2_gin_file="gin/stylegan2/test.gin",
      max_steps={n: 3 for n in NETS + ("stylegan2",)},
      gin_params={"stylegan2": ["stylegan2_dataset.source = 'pseudo_real'"]},
      estimate_seconds={}, eval_batches=1, num_report_samples=4)


class _Stages:
  """Bookkeeping of finished stages and the bundle's ETA."""

  def __init__(self, work_dir: str, names: Sequence[str],
               estimates: Mapping[str, float]):
    self.directory = os.path.join(work_dir, "stages")
    os.makedirs(self.directory, exist_ok=True)
    self.names = list(names)
    self.estimates = {n: float(estimates.get(n, 1.0)) for n in names}
    self.start = time.monotonic()
    self.estimated_done = 0.0  # estimate of the stages run in this call

  def path(self, name: str) -> str:
    return os.path.join(self.directory, f"{name}.json")

  def result(self, name: str) -> Optional[Dict[str, Any]]:
    if not os.path.exists(self.path(name)):
      return None
    with open(self.path(name)) as f:
      return json.load(f)

  def finish(self, name: str, result: Mapping[str, Any]) -> None:
    write_json_atomically(self.path(name), result)
    self.estimated_done += self.estimates[name]

  def announce(self, name: str) -> None:
    remaining = [n for n in self.names if self.result(n) is None]
    estimate = sum(self.estimates[n] for n in remaining)
    elapsed = time.monotonic() - self.start
    if self.estimated_done > 0:  # scale by how this machine compares
      estimate *= elapsed / self.estimated_done
    index = self.names.index(name) + 1
    logging.info("pretrained bundle: stage %d/%d %s (this stage ~%s); bundle "
                 "ETA %s", index, len(self.names), name,
                 progress.format_duration(self.estimates[name]),
                 progress.format_duration(estimate))


def write_json_atomically(path: str, data: Any) -> None:
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(data, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def _dataset_fn_name() -> str:
  """The configurable name bound to ``train.dataset_fn`` (e.g. ``x_dataset``)."""
  reference = gin.query_parameter("train.dataset_fn")
  return reference.selector.split(".")[-1]


def train_stage(model_dir: str, gin_file: str, data_path: str,
                gin_params: Sequence[str] = (),
                max_steps: Optional[int] = None) -> Dict[str, float]:
  """Trains (or resumes) one run from a gin file on ``data_path``.

  The data path is bound to ``<train.dataset_fn>.path``, whichever dataset
  function the gin file names.
  """
  gin.clear_config()
  config_lib.parse_config([gin_file], list(gin_params), finalize=False)
  binding = f"{_dataset_fn_name()}.path = {data_path!r}"
  config_lib.parse_config([], [binding], finalize=True)
  try:
    return train_lib.train(model_dir=model_dir, resume=True,
                           max_steps_override=max_steps)
  finally:
    gin.clear_config()


def _data_stage(settings: BundleSettings, data_dir: str) -> Dict[str, Any]:
  common = dict(image_size=settings.image_size, mode=synthetic.LABELED,
                views_per_identity=settings.views_per_identity,
                pseudo_real_fraction=settings.pseudo_real_fraction,
                max_yaw_degrees=settings.max_yaw,
                max_pitch_degrees=settings.max_pitch,
                max_roll_degrees=settings.max_roll)
  synthetic.write_synthetic_dataset(os.path.join(data_dir, "labeled"),
                                    settings.num_labeled, seed=settings.seed,
                                    **common)
  synthetic.write_synthetic_dataset(os.path.join(data_dir, "heldout"),
                                    settings.num_heldout,
                                    seed=settings.seed + 1, **common)
  synthetic.write_synthetic_dataset(
      os.path.join(data_dir, "pseudo_real"), settings.num_pseudo_real,
      image_size=settings.stylegan2_resolution, mode="pseudo_real",
      seed=settings.seed)
  return {"labeled": settings.num_labeled, "heldout": settings.num_heldout,
          "pseudo_real": settings.num_pseudo_real}


def _labeled_pattern(data_dir: str, which: str) -> str:
  return os.path.join(data_dir, which, "labeled-*-of-*.tfrecord")


def _net_stage(name: str, settings: BundleSettings, output_dir: str,
               work_dir: str, data_dir: str) -> Dict[str, Any]:
  from tfface.analysis import weights  # pylint: disable=g-import-not-at-top
  from tfface.methods.analysis import base  # pylint: disable=g-import-not-at-top
  run_dir = os.path.join(work_dir, "runs", name)
  gin_file = settings.net_gin_files[name]
  params = list(settings.gin_params.get(name, ()))
  if name == "identity":
    # The ArcFace head has one class per training identity; batches group
    # the views of one identity.
    params += [f"IdentityMethod.num_identities = "
               f"{-(-settings.num_labeled // settings.views_per_identity)}",
               f"identity_dataset.group_size = {settings.views_per_identity}"]
  begin = time.monotonic()
  losses = train_stage(run_dir, gin_file, _labeled_pattern(data_dir, "labeled"),
                       params, settings.max_steps.get(name))
  seconds = time.monotonic() - begin
  path = os.path.join(output_dir, f"{name}.npz")
  meta = base.write_weights_from_run(run_dir, path, {
      "input": INPUT_CONVENTION, "trained_on": "tfface labeled synthetic "
      f"faces ({settings.num_labeled}, {settings.image_size} px, both render "
      "styles)", "gin_file": gin_file})
  gin.clear_config()
  network = weights.load_network(path)
  accuracy = evaluation.evaluate_net(
      name, network, _labeled_pattern(data_dir, "heldout"),
      settings.image_size, settings.eval_batches)
  return {"file": os.path.basename(path), "kind": meta["kind"],
          "role": ROLES[name], "input": INPUT_CONVENTION,
          "input_size": int(network.input_size), "steps": meta["step"],
          "train_seconds_this_call": round(seconds, 1),
          "final_losses": evaluation.jsonable(losses), "gin_file": gin_file,
          "accuracy_heldout": accuracy}


def _stylegan2_stage(settings: BundleSettings, output_dir: str, work_dir: str,
                     data_dir: str) -> Dict[str, Any]:
  from tfface.methods.stylegan2 import generate  # pylint: disable=g-import-not-at-top
  from tfface.networks import stylegan2_weights  # pylint: disable=g-import-not-at-top
  run_dir = os.path.join(work_dir, "runs", "stylegan2")
  pattern = os.path.join(data_dir, "pseudo_real", "pseudo_real-*-of-*.tfrecord")
  begin = time.monotonic()
  losses = train_stage(run_dir, settings.stylegan2_gin_file, pattern,
                       settings.gin_params.get("stylegan2", ()),
                       settings.max_steps.get("stylegan2"))
  seconds = time.monotonic() - begin
  generator = stylegan2_weights.load_generator_from_run(run_dir)
  name = f"stylegan2_{settings.stylegan2_resolution}.npz"
  path = os.path.join(output_dir, name)
  stylegan2_weights.export_model_weights(path, generator)
  written = generate.write_sample_grids(
      generator, os.path.join(output_dir, "stylegan2_samples"),
      num_samples=settings.num_report_samples, sweep_samples=4)
  return {"file": name, "kind": "stylegan2",
          "role": "frozen StyleGAN2 generator of the pseudo-real face domain "
                  "(StyleRig rigs it, LiftedGAN lifts it)",
          "input": "z [B, z_dim] N(0, 1) -> images [B, R, R, 3] in [-1, 1]; "
                   "load with tfface.networks.load_stylegan2_generator",
          "resolution": settings.stylegan2_resolution,
          "train_seconds_this_call": round(seconds, 1),
          "final_losses": evaluation.jsonable(losses),
          "gin_file": settings.stylegan2_gin_file,
          "samples": {k: os.path.relpath(v, output_dir)
                      for k, v in written.items()}}


def sample_stylegan2(generator, count: int, seed: int = 0,
                     truncation_psi: float = 1.0) -> np.ndarray:
  """`[count, R, R, 3]` float32 samples in [-1, 1] (stored noise)."""
  z = tf.random.stateless_normal([count, generator.z_dim], [seed, 7])
  images = generator(z, truncation_psi=truncation_psi, noise_mode="const")
  return np.clip(np.asarray(images), -1.0, 1.0)


def _write_png(path: str, image: np.ndarray) -> None:
  """Writes `[H, W, 3]` uint8 atomically."""
  tmp = f"{path}.tmp-{os.getpid()}.png"
  tf.io.write_file(tmp, tf.io.encode_png(tf.constant(image, tf.uint8)))
  os.replace(tmp, path)


def _report_stage(settings: BundleSettings, output_dir: str,
                  results: Mapping[str, Mapping[str, Any]]) -> Dict[str, Any]:
  from tfface.analysis import overlay  # pylint: disable=g-import-not-at-top
  from tfface.analysis import weights  # pylint: disable=g-import-not-at-top
  from tfface.networks import stylegan2_weights  # pylint: disable=g-import-not-at-top
  generator = stylegan2_weights.load_generator(
      os.path.join(output_dir, results["stylegan2"]["file"]))
  samples = sample_stylegan2(generator, settings.num_report_samples, seed=1)
  size = settings.image_size
  images = tf.image.resize(samples, [size, size], method="bilinear")
  nets = {n: weights.load_network(os.path.join(output_dir, results[n]["file"]))
          for n in NETS}
  landmarks = nets["landmarks"](images)
  classes = tf.argmax(nets["parser"](images), -1, output_type=tf.int32)
  coefficients = nets["reconstruction"](images)
  mesh_landmarks = coefficients.get("landmarks") if isinstance(
      coefficients, Mapping) else None
  rows = [overlay.draw_overlays(images, landmarks=landmarks),
          overlay.draw_overlays(images, classes=classes)]
  if mesh_landmarks is not None:
    rows.append(overlay.draw_overlays(images, landmarks=mesh_landmarks))
  picture = np.concatenate([np.concatenate(list(np.asarray(r)), 1)
                            for r in rows], 0)
  _write_png(os.path.join(output_dir, "analysis_on_stylegan2.png"), picture)
  pose = np.degrees(np.asarray(coefficients["pose"]))
  embeddings = np.asarray(nets["identity"](images))
  similarity = embeddings @ embeddings.T
  off_diagonal = similarity[~np.eye(len(similarity), dtype=bool)]
  fractions = np.bincount(np.asarray(classes).ravel(),
                          minlength=8) / np.asarray(classes).size
  return {"image": "analysis_on_stylegan2.png",
          "rows": ["landmark detector", "parser classes"] + (
              ["reconstruction's projected mesh landmarks"]
              if mesh_landmarks is not None else []),
          "samples": int(len(samples)),
          "estimated_yaw_degrees": {"mean": float(pose[:, 1].mean()),
                                    "std": float(pose[:, 1].std())},
          "identity_cosine_between_samples": {
              "mean": float(off_diagonal.mean()),
              "max": float(off_diagonal.max())},
          "parse_class_fractions": [float(v) for v in fractions]}


def _export_stage(output_dir: str, work_dir: str) -> Dict[str, Any]:
  from tfface.export import from_run  # pylint: disable=g-import-not-at-top
  exports = {}
  for name in NETS:
    gin.clear_config()
    base_dir = os.path.join(output_dir, "savedmodels", name)
    version = from_run.export_run(os.path.join(work_dir, "runs", name),
                                  base_dir, model_name=name)
    exports[name] = os.path.relpath(version, output_dir)
  gin.clear_config()
  return {"savedmodels": exports}


def make_bundle(output_dir: str = "pretrained",
                settings: Optional[BundleSettings] = None,
                stages: Optional[Sequence[str]] = None) -> Dict[str, Any]:
  """Trains, measures and writes the pretrained bundle (resumable).

  Args:
    output_dir: the bundle directory (``pretrained/``); ``work/`` inside
      holds the datasets, training runs and finished-stage records.
    settings: what to train (default :class:`BundleSettings`).
    stages: run only these (their inputs must exist), e.g. ``["identity"]``.

  Returns:
    The manifest (also written as ``<output_dir>/manifest.json``).
  """
  settings = settings or BundleSettings()
  order = ["data"] + list(NETS) + ["stylegan2", "report", "export"]
  unknown = sorted(set(stages or ()) - set(order))
  if unknown:
    raise ValueError(f"unknown bundle stages {unknown}; expected some of "
                     f"{order}")
  os.makedirs(output_dir, exist_ok=True)
  work_dir = os.path.join(output_dir, "work")
  data_dir = os.path.join(work_dir, "data")
  book = _Stages(work_dir, order, settings.estimate_seconds)
  results: Dict[str, Any] = {}
  for name in order:
    done = book.result(name)
    if done is not None and (stages is None or name not in stages):
      results[name] = done
      continue
    if stages is not None and name not in stages:
      continue
    book.announce(name)
    begin = time.monotonic()
    if name == "data":
      result = _data_stage(settings, data_dir)
    elif name in NETS:
      result = _net_stage(name, settings, output_dir, work_dir, data_dir)
    elif name == "stylegan2":
      result = _stylegan2_stage(settings, output_dir, work_dir, data_dir)
    elif name == "report":
      result = _report_stage(settings, output_dir, results)
    else:
      result = _export_stage(output_dir, work_dir)
    result["stage_seconds"] = round(time.monotonic() - begin, 1)
    book.finish(name, result)
    results[name] = result
    logging.info("pretrained bundle: %s done in %s", name,
                 progress.format_duration(result["stage_seconds"]))
  manifest = build_manifest(settings, results)
  write_json_atomically(os.path.join(output_dir, MANIFEST), manifest)
  return manifest


def build_manifest(settings: BundleSettings,
                   results: Mapping[str, Mapping[str, Any]]) -> Dict[str, Any]:
  """``manifest.json``: every file, its role, conventions and accuracy."""
  files = {n: dict(results[n]) for n in list(NETS) + ["stylegan2"]
           if n in results}
  return {
      "tfface_version": tfface.__version__,
      "written": datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"),
      "settings": evaluation.jsonable(dataclasses.asdict(settings)),
      "files": files,
      "report": dict(results.get("report", {})),
      "savedmodels": dict(results.get("export", {}).get("savedmodels", {})),
      "load": {"analysis nets": "tfface.analysis.weights.load_network(path)",
               "stylegan2": "tfface.networks.load_stylegan2_generator(path)"},
      "total_stage_seconds": round(sum(
          float(r.get("stage_seconds", 0.0)) for r in results.values()), 1),
  }
