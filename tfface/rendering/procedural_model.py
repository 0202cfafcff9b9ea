"""tfface's embedded procedural face model (no data files).

`ProceduralFaceModel` implements :class:`tfface.rendering.face_model.FaceModel`
with a head generated deterministically by code (see
:mod:`tfface.rendering.procedural.builder`): a sculpted head and neck (a
latitude/longitude grid cast onto a smooth signed-distance sculpture), eyelid
and mouth slits that open and close, rotating eyeballs with iris and pupil, a
mouth interior with teeth, brows, hair and beard regions.

Conventions (contract 2): model space in Deep3DFaceRecon BFM units
(decimetres), the face looks toward +z, +y up, +x toward image right. The
subject's left (ARKit `...Left` names, iBUG points 42-47 and 22-26) is at +x,
i.e. on the image right when the face looks at the camera.

Parameter groups (`parameter_sizes`, all float32 `[B, n]`):

=============  ====  ==========  ===============================================
group          n     range       meaning
=============  ====  ==========  ===============================================
identity       25    ~N(0, 1)    shape modes (`IDENTITY_NAMES`): 20 sculpted
                                 (head/face/jaw/chin/cheek/forehead/brow/nose/
                                 lip/neck) + 5 regional (eye spacing, eye
                                 height, eye aperture, mouth width, mouth
                                 height); 1 = one standard deviation.
expression     24    [0, 1]      ARKit blendshapes (`EXPRESSION_NAMES`).
albedo         10    ~N(0, 1)    colour modes (`ALBEDO_NAMES`): skin
                                 lightness/redness/yellowness, lip colour,
                                 blush, iris hue/lightness, ... (logit space).
gaze           2     [-0.6, 0.6] eyeball (pitch, yaw) radians, R = Ry·Rx:
                                 pitch > 0 looks down, yaw > 0 looks toward +x
                                 (image right, the subject's left).
hair_color     3     [0, 1]      hair RGB (brows use a darker shade).
hair_style     3     [0, 1]      (coverage, volume, length): coverage 1 = full
                                 hairline, 0 = bald top; volume = thickness
                                 of the hair shell; length extends hair down
                                 the sides and back.
beard_color    3     [0, 1]      beard RGB.
beard_style    3     [0, 1]      (coverage, density, length): coverage 0 =
                                 none, growing from the chin to a full beard
                                 with moustache; density = opacity; length =
                                 beard thickness.
=============  ====  ==========  ===============================================

Render it with back-face culling (`FaceRenderer(..., enable_cull_face=True)`):
every closed part is wound outward, and the eyelids and lips are
zero-thickness sheets whose back sides would otherwise show through the
slits as dark wedges in turned views.

`default_parameters` is the neutral face (all modes and blendshapes 0,
straight gaze) with short brown hair (hair_style (0.9, 0.5, 0.15)) and no
beard.

Mesh: the head skin (a closed grid cut open along the eyelid and lip slits),
then closed meshes for the mouth interior, two eye-socket fillers and the two
eyeballs (`eye_vertex_slices`). Regions (`region_weights`): `skin`, `face`,
`lips`, `brows`, `hair`, `beard`, `eyes`, `eye_sockets`, `iris_left`,
`iris_right`, `mouth`, `teeth`; `parametric_region_weights(params)` gives the
parameter-dependent `hair`/`beard`/`skin` per face. Landmarks are vertex ids
in iBUG-68 order (jaw 0-16 from the subject's right ear, brows 17-26, nose
27-35, eyes 36-47, outer lips 48-59, inner lips 60-67 on the lip slit).
"""

import collections
import functools
from typing import Dict, Tuple

import numpy as np
import tensorflow as tf

from tfface.rendering import face_model
from tfface.rendering.procedural import builder

IDENTITY_NAMES = builder.IDENTITY_NAMES
EXPRESSION_NAMES = builder.EXPRESSION_NAMES
ALBEDO_NAMES = builder.ALBEDO_NAMES

_HAIR_SOFTNESS = 1.5  # degrees of elevation over which hair fades in.
_BEARD_SOFTNESS = 0.035
_BALD_RADIUS = 72.0  # degrees: radius of the bald crown at coverage 0.


@functools.lru_cache(maxsize=4)
def _cached_arrays(resolution: int) -> builder.FaceArrays:
  return builder.build_face_arrays(resolution)


def _rotation_yx(pitch: tf.Tensor, yaw: tf.Tensor) -> tf.Tensor:
  """`[B, 3, 3]` rotation Ry(yaw)·Rx(pitch)."""
  cp, sp = tf.cos(pitch), tf.sin(pitch)
  cy, sy = tf.cos(yaw), tf.sin(yaw)
  zero = tf.zeros_like(pitch)
  one = tf.ones_like(pitch)
  rx = tf.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], axis=-1)
  ry = tf.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], axis=-1)
  rx = tf.reshape(rx, [-1, 3, 3])
  ry = tf.reshape(ry, [-1, 3, 3])
  return tf.matmul(ry, rx)


class ProceduralFaceModel(face_model.FaceModel):
  """Procedural head with ARKit blendshapes, gaze, hair and beard.

  Construction is deterministic and cached per `resolution` within a process
  (about one second at the default). Evaluation is linear blendshapes plus
  the eyeball rotation and the hair/beard shells, all in TensorFlow and
  differentiable w.r.t. every float parameter.
  """

  def __init__(self, resolution: int = 2):
    """Builds the model.

    Args:
      resolution: Python int in [1, 6]; mesh density: about 3.0k vertices
        (5.9k triangles) at 1, 9.0k (17.8k) at 2, 18k (37k) at 3, growing
        roughly with its square.

    Raises:
      ValueError: on a bad resolution.
    """
    if isinstance(resolution, bool) or not isinstance(
        resolution, (int, np.integer)) or not 1 <= resolution <= 6:
      raise ValueError(
          f"ProceduralFaceModel: resolution must be an int in [1, 6], got "
          f"{resolution!r}.")
    self._resolution = int(resolution)
    self._arrays = _cached_arrays(self._resolution)
    a = self._arrays
    self._sizes = collections.OrderedDict([
        ("identity", len(IDENTITY_NAMES)),
        ("expression", len(EXPRESSION_NAMES)),
        ("albedo", len(ALBEDO_NAMES)),
        ("gaze", 2),
        ("hair_color", 3),
        ("hair_style", 3),
        ("beard_color", 3),
        ("beard_style", 3),
    ])
    num_v = a.mean.shape[0]
    self._mean = tf.constant(a.mean)
    self._identity = tf.constant(a.identity_basis)
    self._expression = tf.constant(a.expression_basis)
    self._albedo_logits = tf.constant(a.albedo_logits)
    self._albedo_basis = tf.constant(a.albedo_basis)
    self._normals = tf.constant(a.normals)
    self._eye_local = tf.constant(a.eye_local)
    self._hair_height = tf.constant(a.hair_height)
    self._hair_recede = tf.constant(a.hair_recede)
    self._hair_extend = tf.constant(a.hair_extend)
    self._hair_thickness = tf.constant(a.hair_thickness)
    self._beard_field = tf.constant(a.beard_field)
    self._beard_support = tf.constant(
        np.clip(a.beard_field / 0.08, 0.0, 1.0).astype(np.float32))
    self._brows = tf.constant(a.brow_weight)
    # Hair strands: a fixed per-vertex shading pattern along the azimuth.
    rng = np.random.default_rng(7)
    phase = rng.uniform(0, 2 * np.pi, 3)
    x, y, z = a.mean[:, 0], a.mean[:, 1], a.mean[:, 2]
    az = np.arctan2(x, z + 0.35)
    strands = (0.08 * np.sin(55 * az + phase[0] + 4 * y) +
               0.06 * np.sin(23 * az + phase[1] - 9 * y) +
               0.04 * np.sin(91 * az + phase[2]))
    self._hair_texture = tf.constant((1.0 + strands).astype(np.float32))
    self._num_vertices = num_v
    self._is_skin = tf.constant(
        (np.arange(num_v) < a.num_skin).astype(np.float32))
    self._eye_start = a.eye_slices[0][0]

  # -------------------------------------------------------------------------
  # FaceModel interface.

  @property
  def resolution(self) -> int:
    return self._resolution

  @property
  def triangles(self) -> np.ndarray:
    return self._arrays.triangles

  @property
  def num_vertices(self) -> int:
    return self._num_vertices

  @property
  def landmark_indices(self) -> np.ndarray:
    return self._arrays.landmarks

  @property
  def parameter_sizes(self) -> "collections.OrderedDict[str, int]":
    return collections.OrderedDict(self._sizes)

  @property
  def expression_names(self) -> Tuple[str, ...]:
    return EXPRESSION_NAMES

  @property
  def identity_names(self) -> Tuple[str, ...]:
    return IDENTITY_NAMES

  @property
  def albedo_names(self) -> Tuple[str, ...]:
    return ALBEDO_NAMES

  @property
  def eye_vertex_slices(self) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """`((start, stop) right eyeball, (start, stop) left eyeball)`."""
    return self._arrays.eye_slices

  @property
  def eye_centres(self) -> np.ndarray:
    """`[2, 3]` neutral eyeball centres (subject's right, left)."""
    return self._arrays.eye_centres

  def default_parameters(self, batch_size: int) -> Dict[str, tf.Tensor]:
    """Neutral face, brown short hair, no beard (see the module table)."""
    params = super().default_parameters(batch_size)
    ones = tf.ones([batch_size, 1], tf.float32)
    params["hair_color"] = ones * tf.constant([[0.22, 0.14, 0.08]])
    params["hair_style"] = ones * tf.constant([[0.9, 0.5, 0.15]])
    params["beard_color"] = ones * tf.constant([[0.22, 0.14, 0.08]])
    params["beard_style"] = ones * tf.constant([[0.0, 0.8, 0.2]])
    return params

  def region_weights(self) -> Dict[str, np.ndarray]:
    """Regions `[V]` in [0, 1] for the default hair/beard parameters.

    Names: `skin` (head skin not covered by hair/beard, lips included),
    `face` (front-facing skin below the hairline), `lips`, `brows`, `hair`,
    `beard`, `eyes` (both eyeballs), `iris_left`, `iris_right` (iris and
    pupil of the subject's left/right eye), `mouth` (mouth interior incl.
    teeth), `teeth`. Hair and beard depend on parameters; see
    `parametric_region_weights`.
    """
    # Eager even when called while a tf.function traces (the expression
    # flow of DiscoFaceGAN's stage-2 step asks for its region there).
    with tf.init_scope():
      dynamic = self.parametric_region_weights(self.default_parameters(1))
      out = {k: np.array(v, np.float32) for k, v in
             self._arrays.static_regions.items()}
      for name in ("skin", "hair", "beard"):
        out[name] = dynamic[name][0].numpy()
    return out

  def parametric_region_weights(self, params) -> Dict[str, tf.Tensor]:
    """Regions as `[B, V]` float32 tensors for the given parameters.

    Same names as `region_weights`; `skin`, `hair`, `beard` follow
    `hair_style`/`beard_style`.
    """
    hair = self._hair_weight(params)
    beard = self._beard_weight(params)
    is_skin = self._is_skin
    batch = tf.shape(hair)[0]
    out = {}
    for name, value in self._arrays.static_regions.items():
      out[name] = tf.tile(tf.constant(value)[None], [batch, 1])
    out["hair"] = hair
    out["beard"] = beard
    out["skin"] = is_skin[None] * (1.0 - hair) * (1.0 - beard)
    return out

  def vertices(self, params) -> tf.Tensor:
    """Model-space vertices `[B, V, 3]` float32 (decimetres)."""
    self.validate(params)
    identity = tf.convert_to_tensor(params["identity"], tf.float32)
    expression = tf.convert_to_tensor(params["expression"], tf.float32)
    linear = (self._mean[None] +
              tf.einsum("bk,kvc->bvc", identity, self._identity) +
              tf.einsum("bk,kvc->bvc", expression, self._expression))
    shell = (self._hair_weight(params) *
             (0.015 + 0.1 * self._hair_style(params, 1)[:, None] *
              self._hair_thickness[None]) +
             self._beard_weight(params) *
             (0.004 + 0.07 * self._beard_style(params, 2)[:, None]))
    linear += shell[..., None] * self._normals[None]
    # Eyeballs: rotate the local offsets about the (moving) centres.
    gaze = tf.convert_to_tensor(params["gaze"], tf.float32)
    rotation = _rotation_yx(gaze[:, 0], gaze[:, 1])  # [B, 3, 3]
    local = tf.reshape(self._eye_local, [-1, 3])  # [2 * Ne, 3]
    correction = tf.einsum("bij,nj->bni", rotation, local) - local[None]
    batch = tf.shape(linear)[0]
    zeros = tf.zeros([batch, self._eye_start, 3], tf.float32)
    return linear + tf.concat([zeros, correction], axis=1)

  def albedo(self, params) -> tf.Tensor:
    """Per-vertex albedo `[B, V, 3]` float32 in [0, 1]."""
    self.validate(params)
    coeffs = tf.convert_to_tensor(params["albedo"], tf.float32)
    logits = self._albedo_logits[None] + tf.einsum("bk,kvc->bvc", coeffs,
                                                   self._albedo_basis)
    rgb = tf.sigmoid(logits)
    hair_color = tf.clip_by_value(
        tf.convert_to_tensor(params["hair_color"], tf.float32), 0.0, 1.0)
    beard_color = tf.clip_by_value(
        tf.convert_to_tensor(params["beard_color"], tf.float32), 0.0, 1.0)
    brow_rgb = 0.75 * hair_color + 0.02
    brows = 0.85 * self._brows[None, :, None]
    rgb = rgb * (1.0 - brows) + brows * brow_rgb[:, None, :]
    beard = self._beard_weight(params)[..., None]
    rgb = rgb * (1.0 - beard) + beard * beard_color[:, None, :]
    hair = self._hair_weight(params)[..., None]
    hair_rgb = tf.clip_by_value(
        hair_color[:, None, :] * self._hair_texture[None, :, None], 0.0, 1.0)
    return rgb * (1.0 - hair) + hair * hair_rgb

  # -------------------------------------------------------------------------
  # Hair and beard.

  def _hair_style(self, params, k: int) -> tf.Tensor:
    return tf.convert_to_tensor(params["hair_style"], tf.float32)[:, k]

  def _beard_style(self, params, k: int) -> tf.Tensor:
    return tf.convert_to_tensor(params["beard_style"], tf.float32)[:, k]

  def _hair_weight(self, params) -> tf.Tensor:
    """`[B, V]` hair coverage in [0, 1]."""
    coverage = self._hair_style(params, 0)[:, None]
    length = self._hair_style(params, 2)[:, None]
    hairline = -length * self._hair_extend[None]
    bald_radius = (1.0 - coverage) * _BALD_RADIUS - 5.0
    return self._is_skin[None] * tf.sigmoid(
        (self._hair_height[None] - hairline) / _HAIR_SOFTNESS) * tf.sigmoid(
            (self._hair_recede[None] - bald_radius) / _HAIR_SOFTNESS)

  def _beard_weight(self, params) -> tf.Tensor:
    """`[B, V]` beard coverage in [0, 1]."""
    coverage = self._beard_style(params, 0)[:, None]
    density = self._beard_style(params, 1)[:, None]
    grow = tf.sigmoid(
        (self._beard_field[None] - (1.12 - 1.15 * coverage)) / _BEARD_SOFTNESS)
    return tf.clip_by_value(density, 0.0, 1.0) * grow * self._beard_support[
        None]
