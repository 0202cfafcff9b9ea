"""StyleRig's trainers on the shared runtime: F first, then one RigNet per mode.

* :class:`EstimatorMethod` trains F (w -> p) self-supervised (A.2):
  ``L = L_render(I_w, F(w)) + Σ_g λ_g ‖p_g‖²`` (+ optionally, a warm start
  pulling p toward the frozen reconstruction net's estimate of I_w, stored
  in the data; off in the paper config).
* :class:`RigNetMethod` trains RigNet for one mode with F, G and the
  renderer frozen (A.4): for pairs (w, v) of the batch (v = the batch rolled
  by one, so every code is both a source and a target),
  ``L = λ_rec L_rec + λ_edit L_edit + λ_consist L_consist`` in both
  directions (siamese, shared weights).

Trained networks leave their run as files: :func:`write_run_networks`
writes ``<run>/estimator.npz`` (F runs) or ``<run>/rignet.npz`` (RigNet
runs) from the newest checkpoint, and :func:`load_estimator` /
:func:`load_rignet` read a file or a run directory (writing the file first,
in a child process, when it is missing or older than the newest checkpoint:
restoring a run parses its gin config, which must not touch the caller's).
"""

import json
import os
import subprocess
import sys
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

import gin
import numpy as np
import tensorflow as tf

from tfface.analysis import weights as weights_lib
from tfface.methods.stylerig import data as data_lib
from tfface.methods.stylerig import losses
from tfface.methods.stylerig import networks
from tfface.methods.stylerig import render as render_lib
from tfface.networks import stylegan2_weights
from tfface.training import gradients
from tfface.training import method as method_lib
from tfface.training import optimizers

ESTIMATOR_FILE = "estimator.npz"
RIGNET_FILE = "rignet.npz"
CONDITIONS = ("mode", "full")

# MoFA-style prior weights ([—] in the paper); shape and reflectance modes
# are N(0, 1), blendshape weights are pulled toward the neutral face.
DEFAULT_REGULARIZER = {"identity": 1e-3, "albedo": 1e-3, "expression": 1e-3}


def _render_settings(face_model, model_resolution, bfm_path, image_size, zoom,
                     backend, fixed_groups, landmark_weight, mask_mode,
                     point_weights) -> Dict[str, Any]:
  return {"face_model": face_model, "model_resolution": int(model_resolution),
          "bfm_path": bfm_path, "image_size": image_size, "zoom": float(zoom),
          "backend": backend,
          "fixed_groups": (None if fixed_groups is None else
                           {k: [float(x) for x in v]
                            for k, v in dict(fixed_groups).items()}),
          "landmark_weight": float(landmark_weight), "mask_mode": mask_mode,
          "point_weights": (None if point_weights is None else
                            [float(x) for x in point_weights])}


def make_render_setup(layout: networks.ParameterLayout,
                      settings: Mapping[str, Any]) -> render_lib.RenderSetup:
  model = render_lib.make_face_model(settings["face_model"],
                                     settings["model_resolution"],
                                     settings.get("bfm_path"))
  return render_lib.RenderSetup(layout, model, settings["image_size"],
                                settings["zoom"], settings["backend"],
                                settings.get("fixed_groups"))


def _check_weight(name: str, value) -> float:
  if not isinstance(value, (int, float)) or value < 0:
    raise ValueError(f"{name} must be a number >= 0, got {value!r}")
  return float(value)


@gin.configurable
class EstimatorMethod(method_lib.TrainingMethod):
  """Trains F ("DFR"): the 3-layer ELU MLP W+ -> face-model parameters.

  Args:
    generator_path: the frozen StyleGAN2 (weights .npz or run): its W+
      statistics standardise F's input, and it draws the summary images.
    layout: ``"procedural"`` (the reconstruction net's 97 groups) or
      ``"bfm257"`` (Deep3DFaceRecon's 257 vector, with ``face_model="bfm"``).
    face_model, model_resolution, bfm_path: the face model R renders.
    image_size: render side (= the data's ``image_size``); default the
      generator's resolution.
    zoom: camera focal multiplier (0.75 frames tfface's synthetic faces;
      the pretrained StyleGAN2 learnt that framing).
    backend: rasterizer backend (``"tf"``, differentiable).
    fixed_groups: model groups held fixed (default: no hair).
    hidden, num_layers: F's MLP.
    landmark_weight: λ_land ([—] in the paper).
    regularizer_weights: λ_g of the statistical prior ([—]).
    mask_mode: see :meth:`RenderSetup.loss`.
    point_weights: per-landmark weights (None = all 68 equal).
    warm_start_weight, warm_start_steps: weight of the mean squared
      difference (in units of each group's spread) between F(w) and the
      stored reconstruction-net estimate, for the first ``warm_start_steps``
      steps (0 = every step); 0 turns it off (the paper's F is purely
      self-supervised).
    learning_rate, optimizer: Adam(learning_rate) unless ``optimizer`` (a
      factory from gin) is given; F's optimiser is [—] in the paper.
    truncation_psi: ψ of the codes (W+ statistics).
  """

  def __init__(self, generator_path: str = gin.REQUIRED,
               layout: str = "procedural", face_model: str = "procedural",
               model_resolution: int = 1, bfm_path: Optional[str] = None,
               image_size: Optional[int] = None, zoom: float = 0.75,
               backend: str = "tf",
               fixed_groups: Optional[Mapping[str, Sequence[float]]] = None,
               hidden: int = 512, num_layers: int = 3,
               landmark_weight: float = 10.0,
               regularizer_weights: Optional[Mapping[str, float]] = None,
               mask_mode: str = "both",
               point_weights: Optional[Sequence[float]] = None,
               warm_start_weight: float = 0.0, warm_start_steps: int = 0,
               learning_rate: float = 1e-4,
               optimizer: Optional[optimizers.OptimizerFactory] = None,
               truncation_psi: float = 0.7):
    if mask_mode not in render_lib.MASK_MODES:
      raise ValueError(f"EstimatorMethod.mask_mode must be one of "
                       f"{render_lib.MASK_MODES}, got {mask_mode!r}")
    self.generator_path = generator_path
    self.layout = networks.ParameterLayout.named(layout)
    self.layout_name = layout
    self.hidden, self.num_layers = int(hidden), int(num_layers)
    self.regularizer_weights = dict(DEFAULT_REGULARIZER
                                    if regularizer_weights is None
                                    else regularizer_weights)
    for name, value in self.regularizer_weights.items():
      _check_weight(f"EstimatorMethod.regularizer_weights[{name!r}]", value)
    self.warm_start_weight = _check_weight("EstimatorMethod.warm_start_weight",
                                           warm_start_weight)
    self.warm_start_steps = int(warm_start_steps)
    self.learning_rate = float(learning_rate)
    self.optimizer_factory = optimizer
    self.truncation_psi = float(truncation_psi)
    self.settings = _render_settings(
        face_model, model_resolution, bfm_path, image_size, zoom, backend,
        fixed_groups, _check_weight("EstimatorMethod.landmark_weight",
                                    landmark_weight), mask_mode,
        point_weights)

  def build(self):
    self.generator = stylegan2_weights.load_stylegan2_generator(
        self.generator_path)
    if self.settings["image_size"] is None:
      self.settings["image_size"] = int(self.generator.resolution)
    self.setup = make_render_setup(self.layout, self.settings)
    self.estimator = networks.ParameterEstimator(
        self.generator.num_ws, self.generator.style_dim, self.layout.groups,
        self.hidden, self.num_layers)
    self.estimator.build_all()
    self.estimator.set_statistics(*data_lib.latent_statistics(
        self.generator, self.truncation_psi))
    self.optimizer = optimizers.make_optimizer(
        self.optimizer_factory, name="estimator_optimizer",
        learning_rate=self.learning_rate,
        variables=self.estimator.trainable_variables)
    self._scale = tf.constant(self.layout.scale())
    self._summary_w = data_lib.sample_w_plus(self.generator, 4,
                                             self.truncation_psi, [5, 5])

  def checkpoint_items(self):
    return {"estimator": self.estimator, "optimizer": self.optimizer}

  def losses(self, batch) -> Dict[str, tf.Tensor]:
    """F's losses on a batch (also the evaluator's "F's fit")."""
    p = self.estimator(batch["w_plus"])
    s = self.settings
    render, photo, land = self.setup.loss(
        p, batch["image"], batch["landmarks"], batch["mask"],
        s["landmark_weight"], s["mask_mode"], s["point_weights"])
    reg = losses.statistical_regularizer(self.layout.split(p),
                                         self.regularizer_weights)
    out = {"render": render, "photometric": photo, "landmark": land,
           "regularizer": reg, "total": render + reg}
    if self.warm_start_weight:
      coefficients = batch["coefficients"]
      if coefficients.shape[-1] != self.layout.size:
        raise ValueError(
            f"warm_start_weight needs the data's stored coefficients in F's "
            f"layout ({self.layout.size} values), got "
            f"{coefficients.shape[-1]}; write the data with a "
            f"{self.layout_name!r} reconstruction net or set "
            "EstimatorMethod.warm_start_weight = 0")
      warm = tf.reduce_mean(tf.square((p - coefficients) / self._scale))
      on = tf.constant(True) if self.warm_start_steps <= 0 else (
          self.global_step < self.warm_start_steps)
      out["warm_start"] = warm
      out["total"] += tf.where(on, self.warm_start_weight, 0.0) * warm
    return out

  # No tensor-dependent Python control flow: AutoGraph would only spend
  # seconds converting the renderer and the networks.
  @tf.autograph.experimental.do_not_convert
  def train_step(self, batch):
    with tf.GradientTape() as tape:
      out = self.losses(batch)
    gradients.minimize(tape, self.optimizer, out["total"],
                       self.estimator.trainable_variables)
    return out

  def image_summaries(self):
    images = tf.clip_by_value(self.generator.synthesis(
        self._summary_w, noise_mode="const"), -1, 1)
    if images.shape[1] != self.setup.image_size:
      images = tf.image.resize(images, [self.setup.image_size] * 2)
    rendered = self.setup.render(self.estimator(self._summary_w))
    overlay = rendered["mask"] * rendered["image"] + (
        1 - rendered["mask"]) * images
    return {"stylegan_vs_render": tf.concat([images, overlay], axis=2)}

  def saved_networks(self) -> Dict[str, Any]:
    return {ESTIMATOR_FILE: ("estimator", self.estimator, {
        "layout": self.layout_name, "render": self.settings,
        "generator": os.path.abspath(self.generator_path),
        "truncation_psi": self.truncation_psi})}

  def export_signatures(self):
    from tfface.methods.stylerig import export  # pylint: disable=g-import-not-at-top
    module = export.StyleRigModule(self.generator, self.estimator, {},
                                   self.layout_name)
    return module, module.signatures()


@gin.configurable
class RigNetMethod(method_lib.TrainingMethod):
  """Trains RigNet for one control mode over frozen F, G and renderer.

  Args:
    estimator_path: F (``estimator.npz`` or an F run directory); its file
      carries the render settings F was trained with, which RigNet reuses.
    mode: ``"pose"``, ``"expression"``, ``"illumination"`` or
      ``"identity"`` (:data:`networks.MODE_GROUPS`).
    generator_path: the frozen StyleGAN2 (default: the one F was trained
      with): summaries and export only, RigNet's losses never run G.
    condition_on: ``"mode"`` (RigNet sees the mode's slice p[k], the
      default of every port) or ``"full"`` (all of p; A.3's ambiguity).
    latent_dim: the per-layer encoder width (32).
    reconstruction_weight, edit_weight, consistency_weight: λ_rec,
      λ_edit, λ_consist ([—]; 1 each as cddfm3d).
    two_way: also the reverse direction (siamese, A.4.4).
    landmark_weight, mask_mode: override F's L_render settings (None: F's).
    learning_rate, optimizer: AdaDelta(learning_rate) by default, as the
      paper [P?]; 0.01 is the reference notes' suggestion [P?].
    truncation_psi: ψ of the codes (W+ statistics).
  """

  def __init__(self, estimator_path: str = gin.REQUIRED, mode: str = "pose",
               generator_path: Optional[str] = None,
               condition_on: str = "mode", latent_dim: int = 32,
               reconstruction_weight: float = 1.0, edit_weight: float = 1.0,
               consistency_weight: float = 1.0, two_way: bool = True,
               landmark_weight: Optional[float] = None,
               mask_mode: Optional[str] = None,
               learning_rate: float = 0.01,
               optimizer: Optional[optimizers.OptimizerFactory] = None,
               truncation_psi: Optional[float] = None):
    networks.mode_groups(mode)
    if condition_on not in CONDITIONS:
      raise ValueError(f"RigNetMethod.condition_on must be one of "
                       f"{CONDITIONS}, got {condition_on!r}")
    if mask_mode is not None and mask_mode not in render_lib.MASK_MODES:
      raise ValueError(f"RigNetMethod.mask_mode must be one of "
                       f"{render_lib.MASK_MODES}, got {mask_mode!r}")
    self.estimator_path = estimator_path
    self.mode = mode
    self.generator_path = generator_path
    self.condition_on = condition_on
    self.latent_dim = int(latent_dim)
    self.weights = {
        "reconstruction": _check_weight("RigNetMethod.reconstruction_weight",
                                        reconstruction_weight),
        "edit": _check_weight("RigNetMethod.edit_weight", edit_weight),
        "consistency": _check_weight("RigNetMethod.consistency_weight",
                                     consistency_weight)}
    self.two_way = bool(two_way)
    self.landmark_weight = landmark_weight
    self.mask_mode = mask_mode
    self.learning_rate = float(learning_rate)
    self.optimizer_factory = optimizer
    self.truncation_psi = truncation_psi

  def build(self):
    self.estimator, meta = load_estimator(self.estimator_path)
    self.estimator.trainable = False
    self.layout_name = meta["layout"]
    self.layout = networks.ParameterLayout.named(self.layout_name)
    self.settings = dict(meta["render"])
    if self.landmark_weight is not None:
      self.settings["landmark_weight"] = float(self.landmark_weight)
    if self.mask_mode is not None:
      self.settings["mask_mode"] = self.mask_mode
    self.setup = make_render_setup(self.layout, self.settings)
    self.generator = stylegan2_weights.load_stylegan2_generator(
        self.generator_path or meta["generator"])
    self.indices = self.layout.mode_indices(self.mode)
    scale = self.layout.scale()
    if self.condition_on == "mode":
      size, param_scale = len(self.indices), scale[self.indices]
    else:
      size, param_scale = self.layout.size, scale
    self.rignet = networks.RigNet(self.estimator.num_ws,
                                  self.estimator.style_dim, size, param_scale,
                                  self.latent_dim, name=f"rignet_{self.mode}")
    self.rignet.build_all()
    psi = (meta.get("truncation_psi", 0.7) if self.truncation_psi is None
           else self.truncation_psi)
    self.psi = float(psi)
    self.rignet.set_statistics(self.estimator.standardise.w_mean.numpy(),
                               float(self.estimator.standardise.w_scale.numpy()))
    if self.optimizer_factory is None:
      self.optimizer = tf.keras.optimizers.Adadelta(
          self.learning_rate, name="rignet_optimizer")
    else:
      self.optimizer = optimizers.make_optimizer(
          self.optimizer_factory, name="rignet_optimizer",
          learning_rate=self.learning_rate)
    self.optimizer.build(self.rignet.trainable_variables)
    self._summary_w = data_lib.sample_w_plus(self.generator, 4, self.psi,
                                             [6, 6])

  def checkpoint_items(self):
    return {"rignet": self.rignet, "optimizer": self.optimizer}

  def condition(self, p: tf.Tensor) -> tf.Tensor:
    """What RigNet is fed of flat p: the mode's slice or all of it."""
    if self.condition_on == "mode":
      return tf.gather(p, self.indices, axis=-1)
    return p

  def losses(self, batch) -> Dict[str, tf.Tensor]:
    """The RigNet losses of a batch (A.4), both directions if ``two_way``."""
    w = batch["w_plus"]
    other = {k: tf.roll(batch[k], 1, axis=0)
             for k in ("w_plus", "image", "landmarks", "mask")}
    v = other["w_plus"]
    p_w = tf.stop_gradient(self.estimator(w))
    p_v = tf.stop_gradient(self.estimator(v))
    k = self.indices
    out = {}
    rec_w = losses.latent_reconstruction_loss(
        self.rignet(w, self.condition(p_w)), w)
    out["reconstruction"] = rec_w
    # Forward: w takes v's mode. Reverse: v takes w's mode.
    directions = [(w, p_w, p_v, batch, other)]
    if self.two_way:
      directions.append((v, p_v, p_w, other, batch))
    params, targets = [], []
    for source, p_source, p_target, source_data, target_data in directions:
      source_hat = self.rignet(source, self.condition(p_target))
      p_hat = self.estimator(source_hat)
      params.append(losses.edit_parameters(p_target, p_hat, k))
      targets.append(target_data)
      params.append(losses.consistency_parameters(p_hat, p_source, k))
      targets.append(source_data)
    # One render call for all of them.
    stacked = {key: tf.concat([t[key] for t in targets], axis=0)
               for key in ("image", "landmarks", "mask")}
    rendered = self.setup.render(tf.concat(params, axis=0))
    size = tf.shape(w)[0]
    s = self.settings
    names = ["edit", "consistency"] * len(directions)
    terms = {"edit": [], "consistency": []}
    for i, name in enumerate(names):
      part = {key: value[i * size:(i + 1) * size]
              for key, value in rendered.items() if key != "regions"}
      total, _, _ = self.setup.loss(
          params[i], stacked["image"][i * size:(i + 1) * size],
          stacked["landmarks"][i * size:(i + 1) * size],
          stacked["mask"][i * size:(i + 1) * size], s["landmark_weight"],
          s["mask_mode"], s["point_weights"], rendered=part)
      terms[name].append(total)
    out["edit"] = tf.add_n(terms["edit"]) / len(directions)
    out["consistency"] = tf.add_n(terms["consistency"]) / len(directions)
    out["total"] = (self.weights["reconstruction"] * out["reconstruction"] +
                    self.weights["edit"] * out["edit"] +
                    self.weights["consistency"] * out["consistency"])
    return out

  # No tensor-dependent Python control flow: AutoGraph would only spend
  # seconds converting the renderer and the networks.
  @tf.autograph.experimental.do_not_convert
  def train_step(self, batch):
    with tf.GradientTape() as tape:
      out = self.losses(batch)
    gradients.minimize(tape, self.optimizer, out["total"],
                       self.rignet.trainable_variables)
    return out

  def image_summaries(self):
    w = self._summary_w
    v = tf.roll(w, 1, axis=0)
    w_hat = self.rignet(w, self.condition(self.estimator(v)))
    images = [tf.clip_by_value(self.generator.synthesis(x, noise_mode="const"),
                               -1, 1) for x in (w, v, w_hat)]
    return {f"source_target_rigged_{self.mode}": tf.concat(images, axis=2)}

  def saved_networks(self) -> Dict[str, Any]:
    return {RIGNET_FILE: ("rignet", self.rignet, {
        "mode": self.mode, "condition_on": self.condition_on,
        "layout": self.layout_name,
        "estimator": os.path.abspath(self.estimator_path)})}

  def export_signatures(self):
    from tfface.methods.stylerig import export  # pylint: disable=g-import-not-at-top
    module = export.StyleRigModule(
        self.generator, self.estimator,
        {self.mode: (self.rignet, self.condition_on)}, self.layout_name)
    return module, module.signatures()


# -----------------------------------------------------------------------------
# Network files.


def save_network(path: str, kind: str, model: tf.keras.Model,
                 metadata: Mapping[str, Any]) -> None:
  """Writes F or a RigNet as a tfface weights ``.npz`` (atomically)."""
  header = {kind: {"config": model.config(), "metadata": dict(metadata)}}
  arrays = {f"{kind}/{k}": np.asarray(v.numpy()) for k, v in
            weights_lib.named_variables(model).items()}
  stylegan2_weights.save_weights(path, header, arrays)


def _load(path: str, kind: str, build: Callable[[Dict[str, Any]], Any]):
  header, arrays = stylegan2_weights.load_weights(path)
  if kind not in header:
    raise ValueError(f"{path} holds no StyleRig {kind} (its entries: "
                     f"{sorted(header)})")
  model = build(header[kind]["config"])
  model.build_all()
  prefix = f"{kind}/"
  stylegan2_weights.assign_named(
      weights_lib.named_variables(model),
      {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)},
      f"{path} ({kind})")
  return model, dict(header[kind]["metadata"])


def _run_file(path: str, filename: str) -> str:
  """``path`` if a file; for a run directory its current ``filename``."""
  if os.path.isfile(path):
    return path
  if not os.path.isdir(path):
    raise FileNotFoundError(f"no StyleRig network at {path!r}: expected a "
                            f"{filename} file or a training run directory")
  from tfface.training import checkpoints  # pylint: disable=g-import-not-at-top
  target = os.path.join(path, filename)
  latest = checkpoints.latest_checkpoint(path)
  if latest is None:
    raise ValueError(f"{path!r} has no checkpoints; expected a StyleRig run")
  if os.path.isfile(target):
    header, _ = stylegan2_weights.load_weights(target)
    stored = next(iter(header.values()))["metadata"].get("checkpoint")
    if stored == os.path.basename(latest):
      return target
  subprocess.run([sys.executable, "-c",
                  "import sys; from tfface.methods.stylerig import method; "
                  "method.write_run_networks(sys.argv[1])", path],
                 check=True, capture_output=True)
  return target


def write_run_networks(run_dir: str) -> Dict[str, str]:
  """Restores a StyleRig run; writes its networks next to the checkpoints.

  Parses the run's gin config: call it in a process of its own (the loaders
  do) or with no other gin config in use.

  Returns:
    filename -> written path.
  """
  from tfface.training import checkpoints  # pylint: disable=g-import-not-at-top
  from tfface.training import restore  # pylint: disable=g-import-not-at-top
  method = restore.restore_run(run_dir)
  if not hasattr(method, "saved_networks"):
    raise ValueError(f"the run in {run_dir!r} is not a StyleRig run "
                     f"({type(method).__name__})")
  checkpoint = os.path.basename(checkpoints.resolve_checkpoint(run_dir))
  out = {}
  for filename, (kind, model, metadata) in method.saved_networks().items():
    path = os.path.join(run_dir, filename)
    save_network(path, kind, model, dict(
        metadata, checkpoint=checkpoint,
        step=int(method.global_step.numpy())))
    out[filename] = path
  return out


def load_estimator(path: str):
  """``(F, metadata)`` from ``estimator.npz`` or an F run directory."""
  def build(config):
    return networks.ParameterEstimator(
        config["num_ws"], config["style_dim"],
        [tuple(g) for g in config["groups"]], config["hidden"],
        config["num_layers"])
  return _load(_run_file(path, ESTIMATOR_FILE), "estimator", build)


def load_rignet(path: str):
  """``(RigNet, metadata)`` from ``rignet.npz`` or a RigNet run directory."""
  def build(config):
    return networks.RigNet(config["num_ws"], config["style_dim"],
                           config["param_size"], config["param_scale"],
                           config["latent_dim"])
  return _load(_run_file(path, RIGNET_FILE), "rignet", build)


def describe(metadata: Mapping[str, Any]) -> str:
  return json.dumps(dict(metadata), sort_keys=True)
