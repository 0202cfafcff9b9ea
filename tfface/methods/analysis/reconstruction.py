"""Training the reconstruction net (R-Net / StyleRig's F) on labeled faces.

:class:`ReconstructionMethod` trains :class:`tfface.analysis.reconstruction.
ReconstructionNet` with

* **supervised per-group losses** on the ground-truth θ of the labeled
  synthetic faces (:func:`reconstruction_dataset`): for every linear group of
  the layout, the mean absolute (``group_loss="l1"``) or squared (``"l2"``)
  error in units of the group's scale (:data:`tfface.analysis.
  reconstruction.GROUP_SCALES`: identity / albedo in stds, pose in 0.3 rad,
  SH in 0.08, ...); for the [0, 1] groups (blendshape weights, beard style)
  the Bernoulli KL divergence on the logits (cross-entropy with the soft
  target minus its entropy: 0 when exact); each times a gin weight per group
  (:data:`DEFAULT_GROUP_WEIGHTS`). The beard's
  density and length are only counted where the face has a beard
  (coverage > 0.05): without one they have no effect on the image;
* **a landmark loss**: the mean distance between the 68 landmarks of the
  predicted mesh (:func:`~tfface.analysis.reconstruction.
  landmarks_from_coefficients`) and the record's, divided by the image
  width (so it reads the same at 64 and 224 px), times
  ``landmark_weight``. It ties identity, expression, pose and translation
  to what they do to the geometry;
* **optionally** (``self_supervised_weight > 0``; off by default), the
  self-supervised loss of Deep3DFaceRecon on unlabeled images
  (``reconstruction_dataset.unlabeled_kind`` / ``unlabeled_path``: pseudo-
  real shards, an image folder, real TFRecords): the predicted face is
  rendered with the differentiable renderer (``FaceRenderer``, backend
  ``"tf"``) and compared with the image (see :meth:`ReconstructionMethod.
  self_supervised_losses`).

:func:`evaluate_reconstruction` measures the per-group errors (pose and gaze
in degrees per axis) and the landmark error of the projected mesh per render
style; :meth:`ReconstructionMethod.export_signatures` serves
``reconstruct(images)`` -> every group, ``coefficients`` and ``landmarks``.
"""

from typing import Any, Dict, Mapping, Optional, Sequence, Union

import gin
import numpy as np
import tensorflow as tf

from tfface.analysis import reconstruction as rec
from tfface.analysis import weights as weights_lib
from tfface.export import metadata as metadata_lib
from tfface.export import validation as v
from tfface.methods.analysis import base
from tfface.methods.analysis import data
from tfface.metrics import correlation

STYLES = ("synthetic", "pseudo_real")
IMAGES_MEANING = "RGB in [-1, 1], any size"
# Supervised weight per group. The linear groups' losses are in units of
# each group's scale, so 1 means "one spread of error costs the same"
# (predicting the data mean costs about 0.8 for identity, pose, translation).
# The expression KL costs only 0.15 at the data mean (sparse weights), so it
# gets 4 to pull on the shared trunk about as hard as identity and pose.
# SH and albedo are down-weighted: they matter least for the frozen uses
# (pose meter, expression / identity imitation), and under the photometric
# augmentation light and albedo are partly ambiguous.
DEFAULT_GROUP_WEIGHTS = {"identity": 1.0, "expression": 4.0, "albedo": 0.5,
                         "gaze": 0.5, "beard_style": 0.5, "pose": 1.0,
                         "sh": 0.5, "translation": 1.0}
BEARD_PRESENT = 0.05  # beard coverage above which density/length matter
# Deep3DFaceRecon's loss weights (microsoft/Deep3DFaceReconstruction:
# options.py; the reference notes discofacegan.md §5): photometric 1.92,
# landmark 1.6e-3, coefficient regularizer 3e-4 with identity 1, expression
# 0.8 and texture 1.7e-2 inside it, gamma (monochrome light) 10.
D3D_PHOTOMETRIC_WEIGHT = 1.92
D3D_LANDMARK_WEIGHT = 1.6e-3
D3D_REGULARIZER_WEIGHT = 3e-4
D3D_REGULARIZER_GROUPS = {"identity": 1.0, "expression": 0.8,
                          "albedo": 1.7e-2}
D3D_LANDMARK_SIZE = 224  # the landmark loss is in 224 px units there
# Landmarks Deep3DFaceRecon weighs 20 instead of 1 (0-based: nose 28-30,
# inner lips 60-67; microsoft/Deep3DFaceReconstruction:losses.py).
D3D_HEAVY_LANDMARKS = tuple(range(28, 31)) + tuple(range(60, 68))
# Hair used to cut the self-supervised skin mask: full coverage and long,
# so the mask stays inside the face whatever hair the photo has.
MASK_HAIR_STYLE = (1.0, 0.5, 0.6)


@gin.configurable
def reconstruction_dataset(global_batch_size: int,
                           path: Union[str, Sequence[str]] = gin.REQUIRED,
                           image_size: int = 64, shuffle: bool = True,
                           seed: int = 0, skip_corrupt: bool = False,
                           unlabeled_kind: Optional[str] = None,
                           unlabeled_path: Union[str, Sequence[str]] = "",
                           unlabeled_batch_size: Optional[int] = None
                           ) -> tf.data.Dataset:
  """Labeled faces, optionally zipped with unlabeled images.

  Args:
    global_batch_size: labeled faces per step over all replicas.
    path: glob(s) of ``labeled-*.tfrecord`` shards
      (:func:`tfface.methods.analysis.data.analysis_dataset`).
    image_size: training resolution.
    shuffle, seed, skip_corrupt: see ``analysis_dataset``.
    unlabeled_kind: None (labeled only), or a kind of
      :func:`tfface.data.sources.image_source` (``"pseudo_real"``,
      ``"folder"``, ``"tfrecord"``, ``"synthetic"``) for the self-supervised
      term.
    unlabeled_path: its directory or file pattern.
    unlabeled_batch_size: unlabeled images per step (default: the labeled
      batch size).

  Returns:
    ``analysis_dataset``'s batches, plus ``unlabeled_image`` `[B_u, H, W, 3]`
    float32 in [-1, 1] when ``unlabeled_kind`` is set.
  """
  labeled = data.analysis_dataset(global_batch_size, path, image_size,
                                  shuffle=shuffle, seed=seed,
                                  skip_corrupt=skip_corrupt)
  if unlabeled_kind is None:
    return labeled
  from tfface.data import sources  # pylint: disable=g-import-not-at-top
  count = int(unlabeled_batch_size or global_batch_size)
  if count < 1:
    raise ValueError(f"reconstruction_dataset.unlabeled_batch_size must be "
                     f">= 1, got {unlabeled_batch_size!r}")
  unlabeled = sources.image_source(unlabeled_kind, unlabeled_path, image_size,
                                   count, shuffle=shuffle, seed=seed + 1,
                                   skip_corrupt=skip_corrupt)
  return tf.data.Dataset.zip((labeled, unlabeled)).map(
      lambda a, u: dict(a, unlabeled_image=u["image"]))


@gin.configurable
class ReconstructionMethod(base.AnalysisMethod):
  """Supervised (and optionally self-supervised) training of the R-Net.

  Args:
    input_size, layout, backbone, widths, blocks_per_stage, stem_stride,
      pooled_size, hidden, model_resolution, zoom, resnet_weights: the
      :class:`~tfface.analysis.reconstruction.ReconstructionNet`.
    group_weights: supervised weight per group (missing groups take
      :data:`DEFAULT_GROUP_WEIGHTS`, 1 for groups not listed there; 0 turns
      a group's loss off, e.g. for a dataset without it).
    group_loss: ``"l1"`` or ``"l2"`` on the scaled error.
    landmark_weight: weight of the mesh-landmark loss (mean pixel distance /
      image width); 0 = off. Procedural layout only unless the face model is
      BFM (not available here).
    self_supervised_weight: weight of the whole self-supervised term on
      ``batch["unlabeled_image"]`` (0 = off).
    photometric_weight, unlabeled_landmark_weight, regularizer_weight,
      gamma_weight: its parts, Deep3DFaceRecon's weights by default (gamma:
      0, see :meth:`self_supervised_losses`).
    landmark_network: weights file of a frozen landmark detector
      (:mod:`tfface.analysis.landmarks`) giving the unlabeled images' target
      landmarks; "" = no landmark term on unlabeled images.
    render_backend: the differentiable renderer's backend (``"tf"``).
    face_model_path: ``layout="bfm257"`` only: the user's BFM09 front model
      (``BFM_model_front.mat``) for the landmark and self-supervised losses
      (the procedural layout always uses the procedural model).
    learning_rate_decay_steps: > 0: the default Adam's rate follows a cosine
      decay from ``learning_rate`` to ``final_learning_rate_fraction`` of it
      over this many steps (then stays there); 0 = constant (the base
      class's ``cosine_decay_steps``).
    final_learning_rate_fraction: the decay's floor, in (0, 1].
    learning_rate, optimizer, augment_photometric: see
      :class:`~tfface.methods.analysis.base.AnalysisMethod`.
  """

  name = "reconstruction"

  def __init__(self, input_size: int = 64, layout: str = "procedural",
               backbone: str = "residual",
               widths: Sequence[int] = (32, 64, 128, 256),
               blocks_per_stage: int = 1, stem_stride: int = 2,
               pooled_size: int = 4, hidden: int = 256,
               model_resolution: int = 2, zoom: float = rec.DEFAULT_ZOOM,
               resnet_weights: Optional[str] = None,
               group_weights: Optional[Mapping[str, float]] = None,
               group_loss: str = "l1", landmark_weight: float = 10.0,
               self_supervised_weight: float = 0.0,
               photometric_weight: float = D3D_PHOTOMETRIC_WEIGHT,
               unlabeled_landmark_weight: float = D3D_LANDMARK_WEIGHT,
               regularizer_weight: float = D3D_REGULARIZER_WEIGHT,
               gamma_weight: float = 0.0, landmark_network: str = "",
               render_backend: str = "tf", face_model_path: str = "",
               learning_rate_decay_steps: int = 0,
               final_learning_rate_fraction: float = 0.02,
               learning_rate: float = 1e-3,
               optimizer: Optional[Any] = None,
               augment_photometric: float = 1.0):
    if not 0 < final_learning_rate_fraction <= 1:
      raise ValueError("ReconstructionMethod.final_learning_rate_fraction "
                       "must be in (0, 1], got "
                       f"{final_learning_rate_fraction!r}")
    # No geometric augmentation: it would break the pose and translation
    # labels.
    super().__init__(learning_rate=learning_rate, optimizer=optimizer,
                     augment_photometric=augment_photometric,
                     cosine_decay_steps=learning_rate_decay_steps,
                     cosine_decay_alpha=final_learning_rate_fraction)
    self.network_config = {
        "input_size": int(input_size), "layout": str(layout),
        "backbone": str(backbone), "widths": [int(w) for w in widths],
        "blocks_per_stage": int(blocks_per_stage),
        "stem_stride": int(stem_stride), "pooled_size": int(pooled_size),
        "hidden": int(hidden), "model_resolution": int(model_resolution),
        "zoom": float(zoom)}
    if resnet_weights:
      self.network_config["resnet_weights"] = str(resnet_weights)
    groups = rec.layout_groups(layout)  # raises on a bad layout
    if backbone not in rec.BACKBONES:
      raise ValueError(f"ReconstructionMethod.backbone must be one of "
                       f"{rec.BACKBONES}, got {backbone!r}")
    if group_loss not in ("l1", "l2"):
      raise ValueError(f"ReconstructionMethod.group_loss must be 'l1' or "
                       f"'l2', got {group_loss!r}")
    names = [name for name, _, _ in groups]
    unknown = sorted(set(group_weights or {}) - set(names))
    if unknown:
      raise ValueError(f"ReconstructionMethod.group_weights names {unknown}, "
                       f"not groups of the {layout} layout {names}")
    self.group_weights = {
        name: float(dict(group_weights or {}).get(
            name, DEFAULT_GROUP_WEIGHTS.get(name, 1.0))) for name in names}
    for name, value in dict(
        landmark_weight=landmark_weight,
        self_supervised_weight=self_supervised_weight,
        photometric_weight=photometric_weight,
        unlabeled_landmark_weight=unlabeled_landmark_weight,
        regularizer_weight=regularizer_weight, gamma_weight=gamma_weight,
        **{f"group_weights[{k}]": w for k, w in self.group_weights.items()}
    ).items():
      if not value >= 0:
        raise ValueError(f"ReconstructionMethod.{name} must be >= 0, got "
                         f"{value!r}")
    if layout != "procedural" and not face_model_path and (
        landmark_weight > 0 or self_supervised_weight > 0):
      raise ValueError(
          "ReconstructionMethod: with layout='bfm257' the landmark and "
          "self-supervised losses need the BFM mesh: set face_model_path to "
          "BFM_model_front.mat, or landmark_weight = 0 and "
          "self_supervised_weight = 0")
    self.face_model_path = str(face_model_path or "")
    self.group_loss = group_loss
    self.landmark_weight = float(landmark_weight)
    self.self_supervised_weight = float(self_supervised_weight)
    self.photometric_weight = float(photometric_weight)
    self.unlabeled_landmark_weight = float(unlabeled_landmark_weight)
    self.regularizer_weight = float(regularizer_weight)
    self.gamma_weight = float(gamma_weight)
    self.landmark_network_path = str(landmark_network or "")
    self.render_backend = str(render_backend)

  # --- the network -------------------------------------------------------

  def make_network(self):
    # The stored config leaves out the ImageNet file: the weights file holds
    # every trained weight, and loading it must not need that file.
    stored = {k: v for k, v in self.network_config.items()
              if k != "resnet_weights"}
    return rec.ReconstructionNet(**self.network_config), stored

  def build(self):
    super().build()
    if self.network.layout == "procedural":
      self.face_model = self.network.face_model()
    elif self.face_model_path:
      from tfface.rendering import bfm  # pylint: disable=g-import-not-at-top
      self.face_model = bfm.BfmFaceModel(self.face_model_path)
    else:
      self.face_model = None
    self.renderers = {}
    self.landmark_detector = None
    if self.self_supervised_weight > 0 and self.landmark_network_path and (
        self.unlabeled_landmark_weight > 0):
      self.landmark_detector = weights_lib.load_network(
          self.landmark_network_path)

  def renderer(self, image_size):
    """The differentiable renderer at ``(H, W)`` (one per size, cached)."""
    from tfface.rendering import face_renderer  # pylint: disable=g-import-not-at-top
    key = tuple(int(s) for s in image_size)
    if key not in self.renderers:
      self.renderers[key] = face_renderer.FaceRenderer(
          self.face_model, key,
          camera=rec.dataset_camera(key, self.network.zoom),
          backend=self.render_backend, enable_cull_face=True)
    return self.renderers[key]

  # --- losses -------------------------------------------------------------

  def predicted_landmarks(self, pred: Mapping[str, tf.Tensor],
                          image_size: tf.Tensor) -> tf.Tensor:
    """`[B, 68, 2]` mesh landmarks of predictions (the net's own output for
    the procedural layout, else projected with :attr:`face_model`)."""
    if "landmarks" in pred:
      return pred["landmarks"]
    return self.network.mesh_landmarks(pred, image_size, self.face_model)

  def supervised_losses(self, pred: Mapping[str, tf.Tensor],
                        batch: Mapping[str, Any]) -> Dict[str, tf.Tensor]:
    """``group_<name>`` per group and ``landmark`` (unweighted)."""
    factors = batch["factors"]
    losses = {}
    for name, size, _ in self.network.groups:
      if self.group_weights[name] <= 0:
        continue
      if name not in factors:
        raise ValueError(
            f"the training data has no {name!r} labels (it has "
            f"{sorted(factors)}); set ReconstructionMethod.group_weights = "
            f"{{'{name}': 0}} or train on labeled data with them")
      target = tf.cast(factors[name], tf.float32)
      if f"{name}_logits" in pred:
        # [0, 1] groups: KL(Bernoulli(t) || Bernoulli(sigmoid(z))), i.e. the
        # cross-entropy minus its minimum; its gradient p - t does not vanish
        # when the sigmoid saturates (an L1/L2 on p does).
        target = tf.clip_by_value(target, 0.0, 1.0)
        logits = pred[f"{name}_logits"]
        error = (tf.nn.sigmoid_cross_entropy_with_logits(target, logits) -
                 _bernoulli_entropy(target))
      else:
        error = (pred[name] - target) / rec.group_scale(name, size)
        error = tf.abs(error) if self.group_loss == "l1" else tf.square(error)
      if name == "beard_style":
        present = tf.cast(target[:, :1] > BEARD_PRESENT, tf.float32)
        mask = tf.concat([tf.ones_like(present), present, present], -1)
        losses[f"group_{name}"] = (tf.reduce_sum(error * mask) /
                                   tf.maximum(tf.reduce_sum(mask), 1.0))
      else:
        losses[f"group_{name}"] = tf.reduce_mean(error)
    if self.landmark_weight > 0:
      true = tf.cast(batch["landmarks"], tf.float32)
      width = tf.cast(tf.shape(batch["image"])[2], tf.float32)
      points = self.predicted_landmarks(pred, tf.shape(batch["image"])[1:3])
      distance = tf.sqrt(tf.reduce_sum(tf.square(points - true), -1) + 1e-8)
      losses["landmark"] = tf.reduce_mean(distance) / width
      losses["landmark_px"] = tf.reduce_mean(distance)
    return losses

  def self_supervised_losses(self, pred: Mapping[str, tf.Tensor],
                             images: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Deep3DFaceRecon's self-supervised losses on unlabeled images.

    * ``photometric``: `Σ M ‖I − R‖₂ / Σ M` over pixels, images in [0, 1]
      (Deep3DFaceRecon_pytorch's scale; the TF original used 0..255 with
      the same 1.92), `‖·‖₂` over RGB, `M` the rendered face mask times the
      render's skin region (hair cut generously, :data:`MASK_HAIR_STYLE`,
      and the predicted beard cut out). It stands in for D3D's GMM skin
      attention, which would also need a skin-colour model of the photos.
    * ``unlabeled_landmark``: mean squared distance (in 224 px units, so
      D3D's 1.6e-3 keeps its meaning at any size) to a frozen landmark
      detector's points, nose and inner lips weighted 20; only with
      ``landmark_network``.
    * ``regularizer``: `‖α‖² + 0.8‖β‖² + 1.7e-2‖δ‖²` (identity, expression,
      albedo), batch mean. Our identity and albedo modes are N(0, 1) like
      the eigenvalue-scaled BFM bases, so D3D's weights carry over;
      expression weights are in [0, 1] instead of N(0, 1) and get a
      correspondingly weaker prior.
    * ``gamma``: variance of the SH over colour channels (D3D's monochrome
      light prior, weight 10 there); off by default here because the
      pseudo-real lights are coloured on purpose.

    Args:
      pred: the net's outputs for the unlabeled images.
      images: `[B_u, H, W, 3]` float32 in [-1, 1].

    Returns:
      the four losses (scalars) and ``self_supervised`` (their weighted sum).
    """
    height, width = int(images.shape[1]), int(images.shape[2])
    renderer = self.renderer((height, width))
    model = renderer.model
    params = rec.model_parameters(pred, model)
    if "hair_style" in params:
      params["hair_style"] = tf.ones_like(params["hair_style"]) * tf.constant(
          [MASK_HAIR_STYLE], tf.float32)
    for name in ("pose", "sh", "translation"):
      params[name] = pred[name]
    out = renderer.render(params)
    mask = out["mask"]
    if "skin" in out["regions"]:
      mask = mask * tf.clip_by_value(out["regions"]["skin"], 0.0, 1.0)
    diff = (out["image"] - images) * 0.5  # in [0, 1] units
    per_pixel = tf.sqrt(tf.reduce_sum(tf.square(diff), -1, keepdims=True)
                        + 1e-8)
    photometric = tf.reduce_sum(mask * per_pixel) / tf.maximum(
        tf.reduce_sum(mask), 1.0)
    regularizer = tf.add_n([
        weight * tf.reduce_mean(tf.reduce_sum(tf.square(pred[name]), -1))
        for name, weight in D3D_REGULARIZER_GROUPS.items() if name in pred])
    sh = tf.reshape(pred["sh"], [-1, 3, 9])
    gamma = tf.reduce_mean(tf.square(sh - tf.reduce_mean(sh, 1,
                                                         keepdims=True)))
    losses = {"photometric": photometric, "regularizer": regularizer,
              "gamma": gamma}
    total = (self.photometric_weight * photometric +
             self.regularizer_weight * regularizer +
             self.gamma_weight * gamma)
    if self.landmark_detector is not None:
      target = tf.stop_gradient(self.landmark_detector(images,
                                                       training=False))
      weights = np.ones([rec.NUM_LANDMARKS], np.float32)
      weights[list(D3D_HEAVY_LANDMARKS)] = 20.0
      scale = D3D_LANDMARK_SIZE / float(width)
      points = self.predicted_landmarks(pred, tf.shape(images)[1:3])
      squared = tf.reduce_sum(tf.square((points - target) * scale), -1)
      losses["unlabeled_landmark"] = tf.reduce_mean(squared * weights)
      total += self.unlabeled_landmark_weight * losses["unlabeled_landmark"]
    losses["self_supervised"] = total
    return losses

  def compute_losses(self, batch, images, training):
    unlabeled = None
    if self.self_supervised_weight > 0:
      if "unlabeled_image" not in batch:
        raise ValueError(
            "ReconstructionMethod.self_supervised_weight > 0 needs unlabeled "
            "images: set reconstruction_dataset.unlabeled_kind and "
            "unlabeled_path")
      unlabeled = tf.cast(batch["unlabeled_image"], tf.float32)
    count = tf.shape(images)[0]
    inputs = images if unlabeled is None else tf.concat([images, unlabeled], 0)
    out = self.network(inputs, training=training, return_logits=True)
    pred = {k: value[:count] for k, value in out.items()}
    losses = self.supervised_losses(pred, batch)
    total = tf.add_n([self.group_weights[k[len("group_"):]] * value
                      for k, value in losses.items()
                      if k.startswith("group_")])
    if "landmark" in losses:
      total += self.landmark_weight * losses["landmark"]
    if unlabeled is not None:
      ss = self.self_supervised_losses(
          {k: value[count:] for k, value in out.items()}, unlabeled)
      losses.update(ss)
      total += self.self_supervised_weight * ss["self_supervised"]
    if "expression" in pred and "expression" in batch["factors"]:
      losses["expression_mae"] = tf.reduce_mean(tf.abs(
          pred["expression"] - tf.cast(batch["factors"]["expression"],
                                       tf.float32)))
    if "pose" in pred:
      losses["pose_mae_degrees"] = tf.reduce_mean(tf.abs(
          pred["pose"] - tf.cast(batch["factors"]["pose"], tf.float32))) * (
              180.0 / np.pi)
    losses["total"] = total
    return losses

  # --- weights and export --------------------------------------------------

  def weights_metadata(self):
    net = self.network
    return {
        "input": "images [B, H, W, 3] float32 RGB in [-1, 1], any size "
                 f"(resized to {net.input_size} inside)",
        "layout": net.layout, "slices": {k: list(s) for k, s in
                                         net.slices.items()},
        "outputs": output_descriptions(net.layout),
        "camera": f"tfface.data.synthetic.dataset_camera(image size, zoom="
                  f"{net.zoom}) (Deep3DFaceRecon's, focal x {net.zoom})",
        "model": (f"ProceduralFaceModel(resolution={net.model_resolution})"
                  if net.layout == "procedural" else "BFM09 front (user's)"),
        "group_scales": {name: rec.group_scale(name, size).tolist()
                         for name, size, _ in net.groups}}

  def export_signatures(self):
    module = ReconstructionServing(self.network)
    return module, {"reconstruct": module.reconstruct}


def _bernoulli_entropy(p: tf.Tensor) -> tf.Tensor:
  """Entropy of Bernoulli(p), elementwise, p in [0, 1] (0 log 0 = 0)."""
  q = 1.0 - p
  return -(tf.math.xlogy(p, p) + tf.math.xlogy(q, q))


def output_descriptions(layout: str) -> Dict[str, str]:
  """Output name -> shape and units, for metadata."""
  units = {
      "identity": "shape modes, ~N(0, 1)",
      "expression": ("blendshape weights in [0, 1]" if layout == "procedural"
                     else "BFM expression coefficients"),
      "albedo": "albedo (texture) modes, ~N(0, 1)",
      "gaze": "eyeball (pitch, yaw) radians",
      "beard_style": "(coverage, density, length) in [0, 1]",
      "pose": "(pitch, yaw, roll) radians, R = Rz·Ry·Rx",
      "sh": "Deep3DFaceRecon SH gamma (R 9, G 9, B 9; +0.8 on DC in the "
            "renderer)",
      "translation": "model-space translation, decimetres"}
  out = {}
  for name, size, _ in rec.layout_groups(layout):
    out[name] = f"[B, {size}] float32 {units[name]}"
  total = sum(size for _, size, _ in rec.layout_groups(layout))
  out["coefficients"] = f"[B, {total}] float32, the groups concatenated"
  if layout == "procedural":
    out["landmarks"] = ("[B, 68, 2] float32 (x, y) continuous pixels of the "
                        "input image, the projected mesh's iBUG-68 points")
  return out


class ReconstructionServing(tf.Module):
  """Serves a :class:`ReconstructionNet`: ``reconstruct(images)``."""

  def __init__(self, network: rec.ReconstructionNet):
    super().__init__(name="reconstruction")
    self.network = network
    inputs = self.signature_inputs()

    @v.validated_function("reconstruct", inputs["reconstruct"])
    def reconstruct(images):
      return dict(self.network(images, training=False))

    self.reconstruct = reconstruct

  def signature_inputs(self):
    return {"reconstruct": (v.Input("images", (v.BATCH, "H", "W", 3),
                                    meaning=IMAGES_MEANING, finite=True,
                                    minimum=-1.0, maximum=1.0),)}

  def export_metadata(self):
    net = self.network
    extra = {"network_input_size": net.input_size, "layout": net.layout,
             "slices": {k: list(s) for k, s in net.slices.items()},
             "zoom": net.zoom}
    if net.layout == "procedural":
      model = net.face_model()
      extra["expression_names"] = list(model.expression_names)
      extra["identity_names"] = list(model.identity_names)
      extra["albedo_names"] = list(model.albedo_names)
    return metadata_lib.build_metadata(
        "reconstruction", net.input_size, "reconstruct",
        self.signature_inputs(),
        {"reconstruct": output_descriptions(net.layout)}, extra=extra)


# --- evaluation ----------------------------------------------------------------

_ANGLE_AXES = {"pose": ("pitch", "yaw", "roll"), "gaze": ("pitch", "yaw")}


def mean_correlation(true: np.ndarray, predicted: np.ndarray) -> float:
  """Mean over the dimensions that vary in ``true`` of the Pearson r between
  `[N, D]` labels and predictions (a constant prediction scores 0; NaN when
  no dimension varies or N < 2). An error in natural units cannot tell a
  net that reads a group from one that predicts its mean; this can."""
  true = np.asarray(true, np.float64)
  predicted = np.asarray(predicted, np.float64)
  if true.shape[0] < 2:
    return float("nan")
  rs = [correlation.pearson(true[:, d], predicted[:, d])
        for d in range(true.shape[1]) if np.ptp(true[:, d]) > 0]
  return float(np.mean(rs)) if rs else float("nan")


def evaluate_reconstruction(network: tf.keras.Model, dataset: tf.data.Dataset,
                            num_batches: int) -> Dict[str, Any]:
  """Coefficient and landmark errors of a reconstruction net on labeled faces.

  Args:
    network: a :class:`~tfface.analysis.reconstruction.ReconstructionNet`
      (procedural layout: the labeled data's groups).
    dataset: batches of :func:`~tfface.methods.analysis.data.
      analysis_dataset` (``image``, ``factors``, ``landmarks``,
      ``pseudo_real``).
    num_batches: batches to read (fewer if the dataset ends first).

  Returns:
    ``{"all"|"synthetic"|"pseudo_real": {...}, "units": {...}}``, each
    style with ``count`` and: ``<group>_mae`` for every group the data
    labels (natural units: identity / albedo stds, expression blendshape
    weight, SH, translation dm, beard style), ``<group>_r`` (the
    :func:`mean_correlation` of labels and predictions), ``pose_<axis>_deg`` and
    ``pose_mae_deg`` (pitch, yaw, roll, degrees), ``gaze_<axis>_deg``,
    ``landmark_px`` (mean point-to-point error of the projected mesh,
    pixels of the dataset's images) and ``landmark_nme`` (divided by the
    outer-eye-corner distance 36-45 of the true points), ``landmark_nme_
    median``. A style with no faces gets ``count`` 0 and NaN.
  """
  if int(num_batches) < 1:
    raise ValueError(f"evaluate_reconstruction num_batches must be >= 1, got "
                     f"{num_batches!r}")

  @tf.function
  def predict(images):
    return network(images, training=False)

  groups = [name for name, _, _ in getattr(network, "groups", ())]
  errors: Dict[str, list] = {}
  pairs: Dict[str, list] = {}  # group -> [(true, predicted)] per batch
  styles = []

  def add(key, value):
    errors.setdefault(key, []).append(np.asarray(value, np.float64))

  for batch in dataset.take(int(num_batches)):
    out = predict(batch["image"])
    factors = batch["factors"]
    for name in groups:
      if name not in factors:
        continue
      diff = np.abs(out[name].numpy() - factors[name].numpy())
      pairs.setdefault(name, []).append(
          (factors[name].numpy().reshape(diff.shape[0], -1),
           out[name].numpy().reshape(diff.shape[0], -1)))
      if name in _ANGLE_AXES:
        for i, axis in enumerate(_ANGLE_AXES[name]):
          add(f"{name}_{axis}_deg", np.degrees(diff[:, i]))
        add(f"{name}_mae_deg", np.degrees(diff.mean(-1)))
      else:
        add(f"{name}_mae", diff.mean(-1))
    if "landmarks" in out:
      true = batch["landmarks"].numpy()
      distance = np.linalg.norm(out["landmarks"].numpy() - true, axis=-1)
      a, b = rec.OUTER_EYE_CORNERS
      ocular = np.linalg.norm(true[:, a] - true[:, b], axis=-1)
      add("landmark_px", distance.mean(-1))
      add("landmark_nme", distance.mean(-1) / np.maximum(ocular, 1e-6))
    styles.append(np.asarray(batch["pseudo_real"]) > 0.5)
  if not styles:
    raise ValueError("evaluate_reconstruction: the dataset yielded no batches")
  styles = np.concatenate(styles)
  errors = {k: np.concatenate(v) for k, v in errors.items()}
  pairs = {k: (np.concatenate([t for t, _ in v]),
               np.concatenate([p for _, p in v])) for k, v in pairs.items()}

  def summary(select):
    count = int(select.sum())
    out = {"count": count}
    for key, values in errors.items():
      out[key] = float(values[select].mean()) if count else float("nan")
    for name, (true, predicted) in pairs.items():
      out[f"{name}_r"] = mean_correlation(true[select], predicted[select])
    if "landmark_nme" in errors:
      out["landmark_nme_median"] = (float(np.median(
          errors["landmark_nme"][select])) if count else float("nan"))
    return out

  return {"all": summary(np.ones_like(styles)),
          STYLES[0]: summary(~styles), STYLES[1]: summary(styles),
          "units": {"pose, gaze": "degrees, mean absolute error per axis",
                    "landmark_px": "pixels at the dataset's image size",
                    "landmark_nme": "inter-ocular (outer eye corners 36, 45)",
                    "other groups": "mean absolute error in the group's "
                                    "natural units"}}
