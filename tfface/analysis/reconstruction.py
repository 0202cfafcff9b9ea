"""The reconstruction net: face image -> face-model coefficients (R-Net style).

tfface's stand-in for Deep3DFaceRecon's R-Net (the net DiscoFaceGAN's
imitative losses and StyleRig's differentiable face reconstruction "F" use
frozen), trained on the labeled synthetic faces, where the coefficients θ
that rendered each face are known. Two output layouts:

* ``"procedural"`` — the groups of tfface's procedural face model
  (:class:`tfface.rendering.procedural_model.ProceduralFaceModel`) and the
  scene, in this order (:data:`PROCEDURAL_SLICES`):

  ===========  ====  ====================================================
  group        n     range / units
  ===========  ====  ====================================================
  identity     25    shape modes, ~N(0, 1)
  expression   24    ARKit blendshape weights in [0, 1] (sigmoid)
  albedo       10    colour modes, ~N(0, 1)
  gaze         2     eyeball (pitch, yaw) radians
  beard_style  3     (coverage, density, length) in [0, 1] (sigmoid)
  pose         3     (pitch, yaw, roll) radians, R = Rz·Ry·Rx
  sh           27    Deep3DFaceRecon SH lighting γ (R 9, G 9, B 9; the
                     renderer adds 0.8 to each DC term)
  translation  3     model-space translation, decimetres
  ===========  ====  ====================================================

  ``beard_style`` is there for the landmarks: the beard is a shell that
  pushes the jaw vertices out along their normals by up to 0.074 dm, which
  moves the projected jaw landmarks by up to ~1.1 px at 64 px. Without it
  :func:`landmarks_from_coefficients` could not reproduce the dataset's
  landmarks. The hair shell moves none of the 68 landmark vertices, so hair
  is not predicted.

* ``"bfm257"`` — the Basel Face Model 257 vector of Deep3DFaceRecon /
  StyleRig (:data:`BFM_257_SLICES`, the same table as the converted R-Net's,
  :data:`tfface.analysis.public_nets.BFM_257_SLICES`): ``id[0:80] |
  exp[80:144] | tex[144:224] | angles[224:227] | gamma[227:254] |
  trans[254:257]``, all linear.

**Normalisation.** Every linear group is regressed in its natural units
through a fixed per-group scale: ``value = scale · head(features)`` (the
head's bias learns the mean), with the scales of :data:`GROUP_SCALES` set to
about one standard deviation of the labeled data (identity and albedo 1,
gaze 0.15 rad, pose 0.3 rad, SH 0.08, translation (0.03, 0.03, 0.25) dm),
so that a unit error of the head is "one spread" for every group and the
trainer's per-group losses in units of the scale are comparable.
Deep3DFaceRecon's R-Net regresses raw coefficients (its BFM units are
already ~N(0, 1)); the scale only helps our mixed-unit procedural groups.

The net: a :class:`~tfface.analysis.backbone.ResidualBackbone` (or Keras'
ResNet-50 at the papers' 224 px, :class:`tfface.networks.backbones.
ResNet50Backbone`), the last feature map average-pooled to ``pooled_size``²
cells and flattened (keeping where the face is in the frame, which pose and
translation need; a global average would throw it away), one hidden dense
SiLU layer and one dense head per group.

**Landmarks** follow from the coefficients: :func:`landmarks_from_coefficients`
builds the mesh with the face model, poses it and projects the 68 landmark
vertices with the dataset's camera (:func:`tfface.data.synthetic.
dataset_camera`) exactly as :class:`~tfface.rendering.face_renderer.
FaceRenderer` does.
"""

import collections
import functools
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from tfface.analysis import backbone as backbone_lib
from tfface.analysis import weights
from tfface.layers.tracking import track
from tfface.networks import base
from tfface.rendering import bfm
from tfface.rendering import camera as camera_lib
from tfface.rendering import face_model as face_model_lib

keras = tf.keras

NUM_LANDMARKS = 68
# iBUG outer eye corners (0-based), the 300-W inter-ocular normaliser.
OUTER_EYE_CORNERS = (36, 45)
# The dataset's camera: Deep3DFaceRecon's with its focal × 0.75.
DEFAULT_ZOOM = 0.75

# (group, size, activation) in storage order.
PROCEDURAL_GROUPS = (("identity", 25, "linear"), ("expression", 24, "sigmoid"),
                     ("albedo", 10, "linear"), ("gaze", 2, "linear"),
                     ("beard_style", 3, "sigmoid"), ("pose", 3, "linear"),
                     ("sh", 27, "linear"), ("translation", 3, "linear"))
BFM_257_GROUPS = tuple((name, size, "linear")
                       for name, size in bfm.DEEP3D_LAYOUT.sizes.items())
LAYOUT_GROUPS = {"procedural": PROCEDURAL_GROUPS, "bfm257": BFM_257_GROUPS}
LAYOUTS = tuple(LAYOUT_GROUPS)


def _slices(groups) -> "collections.OrderedDict[str, Tuple[int, int]]":
  out, start = collections.OrderedDict(), 0
  for name, size, _ in groups:
    out[name] = (start, start + size)
    start += size
  return out


# name -> (start, stop) in the flat ``coefficients`` vector.
PROCEDURAL_SLICES = _slices(PROCEDURAL_GROUPS)  # 97 values
# The D3D/PT 257 layout, as tfface.analysis.public_nets.BFM_257_SLICES.
BFM_257_SLICES: Dict[str, Tuple[int, int]] = dict(_slices(BFM_257_GROUPS))
LAYOUT_SLICES = {"procedural": PROCEDURAL_SLICES, "bfm257": BFM_257_SLICES}

# Per-group output scale (about one std of the labeled data); sigmoid groups
# are not scaled. A tuple gives one scale per entry.
GROUP_SCALES: Dict[str, Union[float, Tuple[float, ...]]] = {
    "identity": 1.0, "albedo": 1.0, "gaze": 0.15, "pose": 0.3, "sh": 0.08,
    "translation": (0.03, 0.03, 0.25), "expression": 1.0, "beard_style": 1.0}
# The starting output of a sigmoid group (about its labeled-data mean): the
# head's bias starts at its logit (the "prior" initialisation of RetinaNet),
# so the first steps do not spend the features on moving every sparse
# blendshape (mean 0.05, one face in ten with a given unit on) from 0.5 to
# its mean. On its own this did not lift the bundle's net off the
# predict-the-mean plateau (its jawOpen r stayed ~0.1 at 1200 steps); the
# expression weight did (gin/analysis/reconstruction_cpu_64.gin).
SIGMOID_PRIORS: Dict[str, float] = {"expression": 0.05, "beard_style": 0.5}
BACKBONES = ("residual", "resnet50")


def group_scale(name: str, size: int) -> np.ndarray:
  """`[size]` float32 scale of a group (:data:`GROUP_SCALES`)."""
  scale = np.asarray(GROUP_SCALES.get(name, 1.0), np.float32).reshape(-1)
  return np.broadcast_to(scale, [size]).astype(np.float32)


def layout_groups(layout: str):
  """``((name, size, activation), ...)`` of a layout (ValueError if unknown)."""
  if layout not in LAYOUT_GROUPS:
    raise ValueError(f"ReconstructionNet layout must be one of {LAYOUTS}, got "
                     f"{layout!r}")
  return LAYOUT_GROUPS[layout]


def split_coefficients(coefficients, layout: str = "procedural"
                       ) -> Dict[str, tf.Tensor]:
  """`[B, N]` flat coefficients of a layout -> dict of `[B, n]` groups."""
  groups = layout_groups(layout)
  coefficients = tf.convert_to_tensor(coefficients, tf.float32)
  total = sum(size for _, size, _ in groups)
  if coefficients.shape.rank != 2 or coefficients.shape[-1] != total:
    raise ValueError(f"{layout} coefficients must be [B, {total}], got shape "
                     f"{coefficients.shape}")
  return {name: coefficients[:, a:b]
          for name, (a, b) in LAYOUT_SLICES[layout].items()}


@functools.lru_cache(maxsize=4)
def procedural_model(resolution: int = 2):
  """The procedural face model at a mesh resolution (cached per process).

  Built eagerly (``tf.init_scope``) even when first asked for inside a
  ``tf.function`` or a Keras build, so its constant tensors can be captured
  by any later graph.
  """
  from tfface.rendering import procedural_model as pm  # pylint: disable=g-import-not-at-top
  with tf.init_scope():
    return pm.ProceduralFaceModel(resolution=int(resolution))


def dataset_camera(image_size, zoom: float = DEFAULT_ZOOM
                   ) -> camera_lib.Camera:
  """The labeled data's camera at ``image_size`` (see
  :func:`tfface.data.synthetic.dataset_camera`)."""
  from tfface.data import synthetic  # pylint: disable=g-import-not-at-top
  return synthetic.dataset_camera(camera_lib.parse_image_size(image_size),
                                  float(zoom))


def model_parameters(coefficients: Mapping[str, tf.Tensor],
                     model: face_model_lib.FaceModel
                     ) -> Dict[str, tf.Tensor]:
  """The model's parameter groups from predicted ones, defaults elsewhere.

  Args:
    coefficients: dict name -> `[B, n]`; the groups the model has are used,
      others (scene groups, groups of another model) ignored.
    model: a face model.

  Returns:
    dict with every group of ``model.parameter_sizes`` (`[B, n]` float32):
    the given ones, and ``model.default_parameters`` for the rest (the
    procedural model: short brown hair, no beard, straight gaze).
  """
  first = next(iter(coefficients.values()))
  batch = tf.shape(first)[0]
  params = dict(model.default_parameters(batch))
  for name in model.parameter_sizes:
    if name in coefficients:
      params[name] = tf.convert_to_tensor(coefficients[name], tf.float32)
  return params


def landmarks_from_coefficients(coefficients, model: face_model_lib.FaceModel,
                                image_size, zoom: float = DEFAULT_ZOOM
                                ) -> tf.Tensor:
  """Projects the model's 68 landmark vertices as the renderer does.

  Mesh `model.vertices(params)` (groups not given take the model's defaults),
  posed `R(pose) · v + translation` (:func:`tfface.rendering.camera.
  transform_points`), projected by the dataset's camera at ``image_size``
  (Deep3DFaceRecon's camera, focal × ``zoom``). With the ground-truth
  factors of a labeled face (including ``beard_style``) this gives the
  record's ``landmarks`` to float precision.

  Args:
    coefficients: dict name -> `[B, n]` float32 with at least ``pose``
      (pitch, yaw, roll radians); ``translation`` `[B, 3]` dm (default 0) and
      the model's groups (``identity``, ``expression``, ``beard_style``,
      ...); or a flat `[B, 97]` procedural / `[B, 257]` BFM vector.
    model: the face model (:func:`procedural_model` for the procedural
      layout, a :class:`tfface.rendering.bfm.BfmFaceModel` for BFM 257).
    image_size: `H` or `(H, W)` of the image the landmarks belong to.
    zoom: the camera's focal multiplier (0.75 for tfface's synthetic data,
      1 for Deep3DFaceRecon's aligned crops).

  Returns:
    `[B, 68, 2]` float32 (x, y) continuous pixels (pixel centres at +0.5,
    y down), whether the points are visible or not.
  """
  if not isinstance(coefficients, Mapping):
    flat = tf.convert_to_tensor(coefficients, tf.float32)
    layout = "bfm257" if flat.shape[-1] == 257 else "procedural"
    coefficients = split_coefficients(flat, layout)
  if "pose" not in coefficients:
    raise ValueError("landmarks_from_coefficients needs a 'pose' group, got "
                     f"{sorted(coefficients)}")
  pose = tf.convert_to_tensor(coefficients["pose"], tf.float32)
  translation = coefficients.get("translation")
  if translation is None:
    translation = tf.zeros_like(pose)
  params = model_parameters(coefficients, model)
  posed = camera_lib.transform_points(model.vertices(params), pose,
                                      translation)
  indices = tf.constant(model.landmark_indices, tf.int32)
  return dataset_camera(image_size, zoom).project(
      tf.gather(posed, indices, axis=1))


def inter_ocular_distance(landmarks: tf.Tensor) -> tf.Tensor:
  """`[B]` distance between the outer eye corners (points 36 and 45)."""
  a, b = OUTER_EYE_CORNERS
  return tf.norm(landmarks[:, a] - landmarks[:, b], axis=-1)


@weights.register_kind("reconstruction")
class ReconstructionNet(base.Network):
  """Image -> face-model coefficients, one output per coefficient group.

  Args:
    input_size: the square resolution R the net works at; images of any
      size are resized to it (antialiased when shrinking).
    layout: ``"procedural"`` (tfface's face model) or ``"bfm257"`` (the
      D3D/PT 257 vector); see the module docstring.
    backbone: ``"residual"`` (:class:`~tfface.analysis.backbone.
      ResidualBackbone`) or ``"resnet50"`` (Keras ResNet-50, random weights
      or ``resnet_weights``; for 224 px).
    widths, blocks_per_stage, stem_stride: the residual backbone's stages.
    pooled_size: the last feature map is average-pooled to this many cells
      per side and flattened (residual backbone only; 1 = global average).
    hidden: units of the hidden dense layer, SiLU (0 = none). (With ReLU
      here, training at Adam 2e-3 stalled in our 64 px runs; SiLU did not.)
    model_resolution: mesh resolution of the procedural model the
      coefficients belong to (its landmark vertices differ per resolution).
    zoom: focal multiplier of the camera the training images were rendered
      with (landmarks project with it).
    resnet_weights: a Keras ResNet-50 ``include_top=False`` weights file, or
      None for random weights (``backbone="resnet50"`` only).

  Call ``(images, training=None)``: `[B, H, W, 3]` float32 RGB in [-1, 1]
  (any H, W, the face framed like the training data) -> dict of float32:
  one `[B, n]` entry per group of the layout (units in the module docstring),
  ``coefficients`` `[B, N]`, the groups concatenated in
  :data:`PROCEDURAL_SLICES` (N = 97) or :data:`BFM_257_SLICES` (N = 257)
  order, and for the procedural layout ``landmarks`` `[B, 68, 2]`, the
  projected mesh's iBUG-68 points (x, y) in continuous pixels of the input
  image (:meth:`mesh_landmarks`). With ``return_logits=True`` (training)
  also ``<group>_logits`` `[B, n]` of the sigmoid groups (``expression``,
  ``beard_style``), whose losses are taken on the logits: a loss on the
  sigmoid's output stops learning once it saturates at 0, where most
  blendshape weights are.
  """

  def __init__(self, input_size: int = 64, layout: str = "procedural",
               backbone: str = "residual",
               widths: Sequence[int] = (32, 64, 128, 256),
               blocks_per_stage: int = 1, stem_stride: int = 2,
               pooled_size: int = 4, hidden: int = 256,
               model_resolution: int = 2, zoom: float = DEFAULT_ZOOM,
               resnet_weights: Optional[str] = None,
               name: str = "reconstruction", **kwargs):
    # A fixed name keeps the variable paths (the weights file's keys) the
    # same for every instance in a process.
    super().__init__(name=name, **kwargs)
    self.groups = layout_groups(layout)
    if backbone not in BACKBONES:
      raise ValueError(f"ReconstructionNet backbone must be one of "
                       f"{BACKBONES}, got {backbone!r}")
    if int(input_size) < 8:
      raise ValueError(f"ReconstructionNet input_size must be >= 8, got "
                       f"{input_size!r}")
    if int(pooled_size) < 1 or int(hidden) < 0:
      raise ValueError("ReconstructionNet needs pooled_size >= 1 and hidden "
                       f">= 0, got {pooled_size!r} and {hidden!r}")
    self.input_size = int(input_size)
    self.layout = layout
    self.backbone_kind = backbone
    self.pooled_size = int(pooled_size)
    self.model_resolution = int(model_resolution)
    self.zoom = float(zoom)
    if backbone == "residual":
      final = self.input_size // (int(stem_stride) * 2**(len(widths) - 1))
      if (final * int(stem_stride) * 2**(len(widths) - 1) != self.input_size
          or final % self.pooled_size):
        raise ValueError(
            f"ReconstructionNet input_size {input_size} must be a multiple of "
            f"stem_stride * 2^(len(widths) - 1) = "
            f"{int(stem_stride) * 2**(len(widths) - 1)} with a last feature "
            f"map ({final} px) divisible by pooled_size {pooled_size}")
      self.backbone = backbone_lib.ResidualBackbone(
          tuple(int(w) for w in widths), int(blocks_per_stage),
          int(stem_stride), name="backbone")
    else:
      from tfface.networks import backbones  # pylint: disable=g-import-not-at-top
      self.backbone = backbones.ResNet50Backbone(
          self.input_size, resnet_weights, name="backbone")
    self.hidden = (keras.layers.Dense(int(hidden), activation="silu",
                                      name="hidden") if hidden else None)
    def head(name, size, activation):
      bias = 0.0
      if activation == "sigmoid":
        prior = SIGMOID_PRIORS.get(name, 0.5)
        bias = float(np.log(prior / (1.0 - prior)))
      return keras.layers.Dense(
          size, name=f"head_{name}",
          bias_initializer=keras.initializers.Constant(bias))
    self.heads = track(self, "head", {
        name: head(name, size, activation)
        for name, size, activation in self.groups})

  @property
  def slices(self) -> Dict[str, Tuple[int, int]]:
    """name -> (start, stop) of ``coefficients`` for this layout."""
    return dict(LAYOUT_SLICES[self.layout])

  def features(self, images: tf.Tensor, training=None) -> tf.Tensor:
    """`[B, R, R, 3]` in [-1, 1] -> `[B, F]` float32 pooled features."""
    if self.backbone_kind == "resnet50":
      return self.backbone(images, training=training)
    x = self.backbone(images, training=training)[-1]
    size = self.pooled_size
    if x.shape[1] != size:
      window = x.shape[1] // size
      x = tf.nn.avg_pool2d(x, window, window, "VALID")
    return tf.reshape(x, [-1, size * size * x.shape[-1]])

  def call(self, images, training=None, return_logits=False
           ) -> Dict[str, tf.Tensor]:
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank is not None and (images.shape.rank != 4 or
                                          images.shape[-1] != 3):
      raise ValueError("ReconstructionNet images must be [B, H, W, 3] in "
                       f"[-1, 1], got shape {images.shape}")
    x = self.features(backbone_lib.resize_to(images, self.input_size),
                      training=training)
    if self.hidden is not None:
      x = self.hidden(x)
    out = {}
    for name, _, activation in self.groups:
      y = self.heads[name](x)
      if activation == "sigmoid":
        out[name] = tf.sigmoid(y)
        if return_logits:
          out[f"{name}_logits"] = y
      else:
        out[name] = y * group_scale(name, y.shape[-1])
    out["coefficients"] = tf.concat([out[name] for name, _, _ in self.groups],
                                    axis=-1)
    if self.layout == "procedural":
      out["landmarks"] = self.mesh_landmarks(out, tf.shape(images)[1:3])
    return out

  def mesh_landmarks(self, coefficients: Mapping[str, tf.Tensor],
                     image_size: tf.Tensor,
                     model: Optional[face_model_lib.FaceModel] = None
                     ) -> tf.Tensor:
    """Landmarks of predicted coefficients in an image of ``image_size``.

    Projects at ``input_size`` with the training camera
    (:func:`landmarks_from_coefficients`) and scales x by W / R and y by
    H / R. For a square image this is exactly the projection with the camera
    at the image's size (focal and principal point scale with the side); a
    non-square image is squashed to R × R on the way in, and the points are
    mapped back to its pixels the same way.

    Args:
      coefficients: this net's outputs (dict of groups).
      image_size: `[2]` int (H, W) of the caller's image (may be dynamic).
      model: the face model (default: the procedural model).

    Returns:
      `[B, 68, 2]` float32 (x, y) continuous pixels of that image.
    """
    if model is None:
      model = self.face_model()
    points = landmarks_from_coefficients(coefficients, model, self.input_size,
                                         self.zoom)
    size = tf.cast(image_size, tf.float32)
    return points * (tf.stack([size[1], size[0]]) / float(self.input_size))

  def face_model(self) -> face_model_lib.FaceModel:
    """The procedural model of the coefficients (procedural layout only)."""
    if self.layout != "procedural":
      raise ValueError("ReconstructionNet.face_model is the procedural model; "
                       "a bfm257 net needs a BfmFaceModel passed explicitly")
    return procedural_model(self.model_resolution)

  def landmarks(self, images, model: Optional[face_model_lib.FaceModel] = None
                ) -> tf.Tensor:
    """The 68 landmarks of the reconstructed mesh, in ``images``' pixels.

    Args:
      images: `[B, H, W, 3]` float32 RGB in [-1, 1].
      model: the face model: default the procedural model (procedural
        layout); a :class:`tfface.rendering.bfm.BfmFaceModel` for ``bfm257``.

    Returns:
      `[B, 68, 2]` float32 (x, y) continuous pixels at `(H, W)`, projected
      with the training camera (:meth:`mesh_landmarks`).
    """
    images = tf.convert_to_tensor(images, tf.float32)
    out = self(images, training=False)
    if model is None and "landmarks" in out:
      return out["landmarks"]
    if model is None:
      model = self.face_model()  # raises for bfm257
    return self.mesh_landmarks(out, tf.shape(images)[1:3], model)
