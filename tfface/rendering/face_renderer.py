"""Differentiable face renderer: model parameters -> image, masks, geometry.

`FaceRenderer` draws any :class:`~tfface.rendering.face_model.FaceModel`
(contract 3 of the rendering package), following Deep3DFaceRecon's image
formation:

1. `vertices = model.vertices(params)`, `albedo = model.albedo(params)`,
   vertex normals on the canonical (unposed) shape;
2. pose `R = Rz·Ry·Rx` from `params["pose"]` (pitch, yaw, roll radians),
   `posed = R · v + translation`, normals rotated by `R`;
3. per-vertex Lambertian SH shading `albedo · E(R n)` with the 27 `sh`
   coefficients (+0.8 on each DC term, :mod:`tfface.rendering.lighting`);
4. rasterization with :func:`tfface.rendering.rasterizer.rasterize` through
   the camera's view-projection matrix (default: the Deep3DFaceRecon camera
   scaled to the image size), interpolating colour, normals, depth and region
   weights;
5. composition over a background colour or image.

Gradients flow to every float parameter (through shading, attribute
interpolation and the differentiable barycentrics), not through visibility.

The rendering methods hold no tensor-dependent Python control flow and are
marked `do_not_convert`, so `tf.function` traces them directly instead of
spending seconds on AutoGraph conversion of the rasterizer.
"""

import collections
from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from tfface.rendering import camera as camera_lib
from tfface.rendering import face_model
from tfface.rendering import lighting
from tfface.rendering import rasterizer

# Scene groups, in Deep3DFaceRecon's order (angles | gamma | trans).
SCENE_SIZES = collections.OrderedDict([
    ("pose", 3), ("sh", lighting.NUM_SH_COEFFICIENTS), ("translation", 3)])


class FaceRenderer:
  """Renders a `FaceModel` with pose, SH lighting and a pinhole camera.

  Example:
    renderer = FaceRenderer(model, 64)
    params = renderer.default_parameters(batch_size=4)
    out = renderer.render(params)
    out["image"]  # [4, 64, 64, 3] in [-1, 1]
  """

  def __init__(self,
               model: face_model.FaceModel,
               image_size: Union[int, Sequence[int]],
               camera: Optional[camera_lib.Camera] = None,
               backend: str = "tf",
               background: Union[float, Sequence[float]] = (-1.0, -1.0, -1.0),
               ambient_offset: float = lighting.DEFAULT_AMBIENT_OFFSET,
               enable_cull_face: bool = False):
    """Creates the renderer.

    Args:
      model: the face model.
      image_size: `(height, width)` or an int for square images.
      camera: a `Camera`; None for `deep3d_camera(image_size)`. A camera made
        for another resolution is rescaled to `image_size` (same field of
        view).
      backend: rasterizer backend, `"tf"` or `"tfg_cpu"` (see
        `tfface.rendering.rasterizer.rasterize`).
      background: default background RGB in [-1, 1] (a scalar is used for all
        three channels); `render` can override it per call.
      ambient_offset: added to each channel's SH DC coefficient (0.8).
      enable_cull_face: drop triangles facing away from the camera.

    Raises:
      ValueError: on a bad image size, backend or background.
    """
    if not isinstance(model, face_model.FaceModel):
      raise ValueError(
          f"model must be a FaceModel, got {type(model).__name__}.")
    if backend not in rasterizer.BACKENDS:
      raise ValueError(
          f"backend must be one of {rasterizer.BACKENDS}, got {backend!r}.")
    height, width = camera_lib.parse_image_size(image_size)
    if camera is None:
      camera = camera_lib.deep3d_camera((height, width))
    elif camera.image_size != (height, width):
      camera = camera.resized((height, width))
    background = np.asarray(background, np.float32).reshape(-1)
    if background.size not in (1, 3):
      raise ValueError(
          "background must be a scalar or 3 RGB values in [-1, 1], got "
          f"{background.size} values.")
    background = np.broadcast_to(background, [3])
    self.model = model
    self.image_size = (height, width)
    self.camera = camera
    self.backend = backend
    self.background = tuple(float(c) for c in background)
    self.ambient_offset = float(ambient_offset)
    self.enable_cull_face = bool(enable_cull_face)
    self._triangles = tf.constant(model.triangles, tf.int32)
    self._landmarks = tf.constant(model.landmark_indices, tf.int32)
    regions = model.region_weights()
    self.region_names = tuple(regions)

  @property
  def parameter_sizes(self) -> "collections.OrderedDict[str, int]":
    """The model's groups, then `pose` 3, `sh` 27 and `translation` 3."""
    sizes = collections.OrderedDict(self.model.parameter_sizes)
    sizes.update(SCENE_SIZES)
    return sizes

  @property
  def coefficient_layout(self) -> face_model.CoefficientLayout:
    """Flat-vector layout of `parameter_sizes` (model groups, then scene).

    For `BfmFaceModel` this is Deep3DFaceRecon's 257 layout
    (`bfm.DEEP3D_LAYOUT`); `coefficient_layout.split(flat)` gives `render`'s
    `params`.
    """
    return face_model.CoefficientLayout(list(self.parameter_sizes.items()))

  def default_parameters(self, batch_size: int) -> Dict[str, tf.Tensor]:
    """Neutral face, frontal pose, zero translation, ambient light (sh = 0)."""
    params = dict(self.model.default_parameters(batch_size))
    for name, size in SCENE_SIZES.items():
      params[name] = tf.zeros([batch_size, size], tf.float32)
    return params

  def validate(self, params: Mapping[str, tf.Tensor]) -> None:
    """Raises ValueError naming a missing or mis-shaped group."""
    face_model.validate_groups(params, self.parameter_sizes,
                               f"FaceRenderer({type(self.model).__name__})")

  @tf.autograph.experimental.do_not_convert
  def posed_vertices(self, params: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """World-space vertices `R · v + t`: `[B, V, 3]` float32."""
    self.validate(params)
    return camera_lib.transform_points(self.model.vertices(params),
                                       params["pose"], params["translation"])

  @tf.autograph.experimental.do_not_convert
  def landmarks(self, params: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """2D landmarks without rasterizing: `[B, 68, 2]` (x, y) pixels."""
    posed = self.posed_vertices(params)
    return self.camera.project(tf.gather(posed, self._landmarks, axis=1))

  @tf.autograph.experimental.do_not_convert
  def render(self, params: Mapping[str, tf.Tensor],
             background: Optional[tf.Tensor] = None) -> Dict[str, tf.Tensor]:
    """Renders a batch of faces.

    Args:
      params: dict with every group of `model.parameter_sizes` (`[B, n]`),
        `pose` `[B, 3]` (pitch, yaw, roll radians), `translation` `[B, 3]`
        (decimetres, model space) and `sh` `[B, 27]` (Deep3DFaceRecon SH
        lighting). It may also hold `background` (see below).
      background: `[B, H, W, 3]` image or `[B, 3]` colour in [-1, 1]; else
        `params["background"]` if present; else the constructor's colour.

    Returns:
      dict with
        `image`: `[B, H, W, 3]` float32 in [-1, 1] (shaded colour clipped to
          [0, 1], mapped to [-1, 1], over the background);
        `mask`: `[B, H, W, 1]` float32 in {0, 1}, the face foreground;
        `depth`: `[B, H, W, 1]` float32 camera depth `distance - z` of the
          visible surface (decimetres, ~10), 0 on the background;
        `normals`: `[B, H, W, 3]` float32 unit normals of the posed face in the
          camera frame (+z toward the camera), 0 on the background;
        `albedo`: `[B, H, W, 3]` float32 in [0, 1], unshaded albedo, 0 on the
          background;
        `triangle_indices`: `[B, H, W, 1]` int32 visible triangle (an index
          into `model.triangles`; 0 on the background, see `mask`);
        `landmarks`: `[B, 68, 2]` float32 (x, y) continuous pixel coordinates
          (x right, y down, pixel centres at +0.5) of the model's landmark
          vertices, whether visible or not;
        `regions`: dict name -> `[B, H, W, 1]` float32 in [0, 1] for every
          `model.region_weights()` entry, 0 on the background.

    Raises:
      ValueError: on a missing or mis-shaped parameter group or background.
    """
    self.validate(params)
    height, width = self.image_size
    pose = tf.convert_to_tensor(params["pose"], tf.float32)
    translation = tf.convert_to_tensor(params["translation"], tf.float32)
    sh = tf.convert_to_tensor(params["sh"], tf.float32)

    vertices = self.model.vertices(params)
    albedo = self.model.albedo(params)
    normals = self.model.vertex_normals(vertices)
    posed = camera_lib.transform_points(vertices, pose, translation)
    posed_normals = camera_lib.rotate_vectors(normals, pose)
    color = albedo * lighting.sh_irradiance(posed_normals, sh,
                                            self.ambient_offset)
    depth = self.camera.depth(posed)[..., None]
    batch = tf.shape(posed)[0]
    # One packed attribute: a single gather/interpolation for all channels.
    channels = [("color", color, 3), ("normal", posed_normals, 3),
                ("depth", depth, 1), ("albedo", albedo, 3)]
    if self.region_names:
      # Per-face regions: the procedural model's hair/beard follow its params.
      regions = self.model.parametric_region_weights(params)
      channels.append(("regions", tf.stack(
          [tf.cast(regions[n], tf.float32) for n in self.region_names], -1),
                       len(self.region_names)))
    sizes = [size for _, _, size in channels]
    packed = tf.concat([value for _, value, _ in channels], axis=-1)
    raster = rasterizer.rasterize(
        posed, self._triangles, {"packed": packed},
        self.camera.view_projection_matrix(batch), (height, width),
        backend=self.backend, enable_cull_face=self.enable_cull_face)
    mask = raster["mask"]
    raster.update(zip([name for name, _, _ in channels],
                      tf.split(raster["packed"], sizes, axis=-1)))

    face = 2.0 * tf.clip_by_value(raster["color"], 0.0, 1.0) - 1.0
    if background is None:
      background = params.get("background")
    background = self._background(background, batch)
    image = mask * face + (1.0 - mask) * background

    outputs = {
        "image": image,
        "mask": mask,
        "depth": raster["depth"],
        "normals": face_model.safe_normalize(raster["normal"]) * mask,
        "albedo": raster["albedo"],
        "triangle_indices": raster["triangle_indices"],
        "landmarks": self.camera.project(
            tf.gather(posed, self._landmarks, axis=1)),
        "regions": {},
    }
    for i, name in enumerate(self.region_names):
      outputs["regions"][name] = raster["regions"][..., i:i + 1]
    return outputs

  def _background(self, background, batch) -> tf.Tensor:
    """Background as something broadcastable to `[B, H, W, 3]`."""
    if background is None:
      return tf.constant(self.background, tf.float32)[None, None, None]
    background = tf.convert_to_tensor(background, tf.float32)
    height, width = self.image_size
    if background.shape.rank == 2 and background.shape[-1] == 3:
      return background[:, None, None, :]
    if background.shape.rank == 4 and background.shape[1:] == (height, width,
                                                                3):
      return background
    raise ValueError(
        f"background has shape {background.shape}; expected [B, 3] or "
        f"[B, {height}, {width}, 3] in [-1, 1].")
