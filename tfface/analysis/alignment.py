"""Face alignment for a user's own photos: five points, crops, presets.

A model trained on aligned faces expects a photo cropped the way its training
faces were. This module finds the face and its five points (MTCNN, the
optional ``mtcnn`` package: ``pip install 'tfface[align]'``), fits the crop
of a named convention (:data:`PRESETS`) and warps the photo into it:

* ``ffhq`` -- the FFHQ recipe (NVlabs ``ffhq-dataset``, ``download_ffhq.py``
  ``recreate_aligned_images``), for the StyleGAN-based methods;
* ``deep3d`` -- Deep3DFaceRecon's 224 px crop (scale and shift, no rotation,
  from a weak-perspective fit to its 3D five-point template);
* ``discofacegan`` -- DiscoFaceGAN's 256 px crop (the ``deep3d`` fit at 1.22
  times the scale);
* ``confignet`` -- the framing of tfface's own synthetic renders, which a
  tfface ConfigNet model is trained on.

**Five points.** `[5, 2]` float (x right, y down) in *continuous* image
pixels, as :mod:`tfface.rendering.camera` projects them: pixel (row r,
column c) covers `[c, c + 1) × [r, r + 1)`, so its centre is
`(c + 0.5, r + 0.5)`. The order is :data:`FIVE_POINT_NAMES`; "left" is the
*image* left (the subject's right eye), as in iBUG-68 (points 36-41), MTCNN
and FFHQ. :func:`five_points_from_landmarks68` reduces 68 landmarks (e.g. the
face renderer's) to these five.

**Crops.** Every crop is an affine map `q = A p + b` from source pixels `p` to
crop pixels `q`, a `[2, 3]` matrix `[A | b]` (a similarity: rotation, uniform
scale and shift). :func:`warp_image` resamples with it (bilinear, shrinking
large photos by area averaging first, FFHQ's blur padding where the crop
leaves the photo); :func:`align_image` detects, fits and warps one image;
:func:`align_folder` does a folder, resumably.
"""

import dataclasses
import math
import os
from typing import Callable, List, Optional, Sequence, Tuple, Union

from absl import logging
import numpy as np

FIVE_POINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left",
                    "mouth_right")
PADDING_MODES = ("reflect", "edge", "constant", "blur")
INSTALL_HINT = "pip install 'tfface[align]'"
# Smallest crop size accepted (pixels).
MIN_SIZE = 8

# Deep3DFaceRecon's 3D five-point template: the BFM mean face's landmarks
# (similarity_Lm3D_all.mat rows 36+39, 42+45 averaged; 30; 48; 54), in
# decimetres, x to the subject's left (image right), y up, in FIVE_POINT_NAMES
# order. Its crop puts this face at 102 pixels per unit in 224 px.
DEEP3D_TEMPLATE_3D = np.array([
    [-0.311487, 0.290361, 0.133780],
    [0.309799, 0.289720, 0.131795],
    [0.003253, -0.046179, 0.552442],
    [-0.252169, -0.381339, 0.224057],
    [0.248466, -0.381282, 0.222358]])
DEEP3D_PIXELS_PER_UNIT = 102.0
DEEP3D_SIZE = 224
# DiscoFaceGAN rescales the Deep3DFaceRecon alignment by 1.22 into 256 px
# (its GAN camera's focal is 1015 * 1.22).
DISCOFACEGAN_SCALE = 1.22
DISCOFACEGAN_SIZE = 256

# Where tfface's synthetic renders put the five points of the procedural face
# model's neutral face (frontal pose, zero translation), as fractions of the
# image size, with the dataset camera at zoom 1
# (tfface.data.synthetic.dataset_camera(size, zoom=1)). The points scale about
# the image centre with the zoom. A test recomputes them with the renderer.
SYNTHETIC_TEMPLATE_ZOOM1 = np.array([
    [0.343150, 0.362120],
    [0.656850, 0.362120],
    [0.500000, 0.525193],
    [0.379506, 0.641334],
    [0.620494, 0.641334]])
# tfface.data.synthetic's default framing (the whole head in view).
SYNTHETIC_DEFAULT_ZOOM = 0.75

Points = np.ndarray
Matrix = np.ndarray


class NoFaceError(ValueError):
  """No face was found in an image; the message names the image."""


class NotAnImageError(ValueError):
  """A file is missing or cannot be decoded as an image."""


class MissingDetectorError(ImportError, ValueError):
  """The optional face detector (the ``mtcnn`` package) is not installed.

  An ``ImportError`` (what it is) and a ``ValueError`` (so that the binaries'
  :func:`tfface.cli.guard` reports it as one line).
  """


# -----------------------------------------------------------------------------
# Points and transforms.


def five_points_from_landmarks68(landmarks) -> Points:
  """The five points of iBUG-68 landmarks.

  Eye centres are the means of points 36-41 and 42-47 (the eye contours),
  the nose is the tip (30), the mouth corners are 48 and 54 (0-based).

  Args:
    landmarks: `[..., 68, 2]` float (x, y) pixels.

  Returns:
    `[..., 5, 2]` float64 in :data:`FIVE_POINT_NAMES` order, same units.

  Raises:
    ValueError: the landmarks are not `[..., 68, 2]`.
  """
  landmarks = np.asarray(landmarks, np.float64)
  if landmarks.ndim < 2 or landmarks.shape[-2:] != (68, 2):
    raise ValueError(f"landmarks have shape {landmarks.shape}; expected "
                     "[..., 68, 2] iBUG-68 (x, y) points")
  return np.stack([landmarks[..., 36:42, :].mean(axis=-2),
                   landmarks[..., 42:48, :].mean(axis=-2),
                   landmarks[..., 30, :], landmarks[..., 48, :],
                   landmarks[..., 54, :]], axis=-2)


def as_five_points(points, source: str = "the landmarks") -> Points:
  """`[5, 2]` five points or `[68, 2]` landmarks -> `[5, 2]` float64.

  Raises:
    ValueError: another shape, or NaN / Inf values.
  """
  points = np.asarray(points, np.float64)
  if points.shape == (68, 2):
    points = five_points_from_landmarks68(points)
  if points.shape != (5, 2):
    raise ValueError(f"{source} have shape {points.shape}; expected [5, 2] "
                     "five points or [68, 2] landmarks")
  if not np.all(np.isfinite(points)):
    raise ValueError(f"{source} hold NaN or Inf values")
  return points


def estimate_similarity(source, target, rotation: bool = True) -> Matrix:
  """Least-squares similarity from ``source`` to ``target`` points (Umeyama).

  Minimises `sum_i |s R p_i + t - q_i|²` over scale `s > 0`, a rotation `R`
  (no reflection) and `t` (Umeyama 1991, "Least-squares estimation of
  transformation parameters between two point patterns").

  Args:
    source: `[N, 2]` points `p` (N >= 2).
    target: `[N, 2]` points `q`.
    rotation: False fits scale and shift only (`R = I`).

  Returns:
    `[2, 3]` float64 matrix `[s R | t]`: `q ≈ M @ [p; 1]`.

  Raises:
    ValueError: mismatched shapes, or all source points at one place.
  """
  source = np.asarray(source, np.float64)
  target = np.asarray(target, np.float64)
  if (source.ndim != 2 or source.shape[-1] != 2 or source.shape != target.shape
      or len(source) < 2):
    raise ValueError(f"estimate_similarity needs two [N, 2] point sets with "
                     f"N >= 2, got {source.shape} and {target.shape}")
  mean_source, mean_target = source.mean(axis=0), target.mean(axis=0)
  centred_source = source - mean_source
  centred_target = target - mean_target
  variance = float(np.sum(centred_source ** 2))
  if variance <= 1e-12 * max(1.0, float(np.abs(source).max()) ** 2):
    raise ValueError("the source points are all at one place; cannot fit a "
                     "similarity")
  if rotation:
    covariance = centred_target.T @ centred_source
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ sign @ vt
    scale = float(np.sum(singular * np.diag(sign))) / variance
  else:
    rot = np.eye(2)
    scale = float(np.sum(centred_source * centred_target)) / variance
  linear = scale * rot
  return np.concatenate([linear, (mean_target - linear @ mean_source)[:, None]],
                        axis=1)


def apply_transform(matrix: Matrix, points) -> Points:
  """`[..., 2]` points mapped by a `[2, 3]` matrix: `A p + b`."""
  matrix = np.asarray(matrix, np.float64)
  points = np.asarray(points, np.float64)
  return points @ matrix[:, :2].T + matrix[:, 2]


def invert_transform(matrix: Matrix) -> Matrix:
  """The inverse of a `[2, 3]` affine matrix (crop -> source)."""
  matrix = np.asarray(matrix, np.float64)
  linear = np.linalg.inv(matrix[:, :2])
  return np.concatenate([linear, (-linear @ matrix[:, 2])[:, None]], axis=1)


def _compose(outer: Matrix, inner: Matrix) -> Matrix:
  """`outer ∘ inner` of two `[2, 3]` matrices."""
  full = lambda m: np.vstack([m, [0.0, 0.0, 1.0]])
  return (full(outer) @ full(inner))[:2]


def _translation(dx: float, dy: float) -> Matrix:
  return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])


def transform_scale(matrix: Matrix) -> float:
  """The linear scale of a similarity (crop pixels per source pixel)."""
  return math.sqrt(abs(float(np.linalg.det(np.asarray(matrix)[:, :2]))))


# -----------------------------------------------------------------------------
# Crop conventions.


class CropPreset:
  """A crop convention: five points -> the `[2, 3]` source-to-crop matrix.

  Attributes:
    name: the preset's name (:data:`PRESETS`).
    default_size: the convention's usual crop size in pixels.
    padding: the default padding where the crop leaves the photo
      (:data:`PADDING_MODES`).
  """

  name = ""
  default_size = 256
  padding = "reflect"

  def transform(self, points, size: int) -> Matrix:
    """The `[2, 3]` matrix from source pixels to a `size` px crop.

    Args:
      points: `[5, 2]` five points (or `[68, 2]` landmarks) in source pixels.
      size: crop height and width in pixels.
    """
    raise NotImplementedError

  def template(self, size: int) -> Optional[Points]:
    """`[5, 2]` crop pixels where the convention's reference face's five
    points land, or None when the convention has no fixed template."""
    del size
    return None

  def __repr__(self):
    return f"{type(self).__name__}({self.name!r})"


class FfhqCrop(CropPreset):
  """The FFHQ crop (``download_ffhq.py`` ``recreate_aligned_images``).

  From the eye centres and the mouth centre (the nose is not used):
  `eye_to_eye = right_eye - left_eye`, `eye_to_mouth = mouth_avg - eye_avg`;
  the crop's x axis points along `eye_to_eye + (eye_to_mouth.y,
  -eye_to_mouth.x)` (the eye line averaged with the perpendicular of the
  eye-mouth line), its centre is `eye_avg + 0.1 · eye_to_mouth` and its side
  `2 · max(2 |eye_to_eye|, 1.8 |eye_to_mouth|)` source pixels. FFHQ pads
  outside the photo with reflected, progressively blurred content fading to
  the median colour (``padding="blur"``). Faces come out at the same place
  whatever the photo's rotation, scale or position; there is no fixed
  five-point template.
  """

  name = "ffhq"
  default_size = 1024
  padding = "blur"

  def transform(self, points, size: int) -> Matrix:
    left_eye, right_eye, _, mouth_left, mouth_right = as_five_points(points)
    eye_avg = (left_eye + right_eye) * 0.5
    eye_to_eye = right_eye - left_eye
    eye_to_mouth = (mouth_left + mouth_right) * 0.5 - eye_avg
    axis = eye_to_eye + np.array([eye_to_mouth[1], -eye_to_mouth[0]])
    norm = float(np.hypot(*axis))
    if norm < 1e-9:
      raise ValueError("the five points are degenerate (eyes and mouth at one "
                       "place); cannot fit the FFHQ crop")
    ux, uy = axis / norm
    half_side = max(float(np.hypot(*eye_to_eye)) * 2.0,
                    float(np.hypot(*eye_to_mouth)) * 1.8)
    centre = eye_avg + eye_to_mouth * 0.1
    scale = size / (2.0 * half_side)
    linear = scale * np.array([[ux, uy], [-uy, ux]])
    offset = size / 2.0 - linear @ centre
    return np.concatenate([linear, offset[:, None]], axis=1)


class WeakPerspectiveCrop(CropPreset):
  """Deep3DFaceRecon's crop: scale and shift from a weak-perspective fit.

  Deep3DFaceRecon (``preprocess_img.py`` / ``util/preprocess.py``
  ``align_img``, ``POS``) fits an affine camera from its 3D five-point
  template (:data:`DEEP3D_TEMPLATE_3D`) to the five points (y up), takes the
  scale `s` as the mean norm of the camera's two rows and the shift `t` (where
  the template's origin lands), scales the photo by `102 / s` and crops 224 px
  around `t`. The crop is not rotated (the reconstruction network estimates
  the roll) and is only placed to within the pixel its integer crop box
  rounds to. DiscoFaceGAN's crop is the same fit at `1.22 · 102` pixels per
  template unit in 256 px (DiscoFaceGAN further recentres each face by
  R-Net's translation estimate, which this preset, without R-Net, leaves
  out). Deep3DFaceRecon fills outside the photo with black
  (``padding="constant"``).

  Args:
    name: the preset's name.
    reference_size: the crop size the scale is given at (224 or 256).
    pixels_per_unit: crop pixels per template unit at ``reference_size``.
    template_3d: `[5, 3]` the 3D five-point template (x right, y up).
  """

  padding = "constant"

  def __init__(self, name: str, reference_size: int, pixels_per_unit: float,
               template_3d: np.ndarray = DEEP3D_TEMPLATE_3D):
    self.name = name
    self.default_size = int(reference_size)
    self.reference_size = int(reference_size)
    self.pixels_per_unit = float(pixels_per_unit)
    self.template_3d = np.asarray(template_3d, np.float64)

  def fit(self, points) -> Tuple[float, np.ndarray]:
    """``(s, t)`` of Deep3DFaceRecon's ``POS``: pixels per template unit and
    where the template origin lands, `[2]` (x, y up, i.e. `-y`)."""
    points = as_five_points(points)
    up = points * np.array([1.0, -1.0])
    count = len(points)
    system = np.zeros([2 * count, 8])
    system[0::2, 0:3] = self.template_3d
    system[0::2, 3] = 1.0
    system[1::2, 4:7] = self.template_3d
    system[1::2, 7] = 1.0
    solution = np.linalg.lstsq(system, up.reshape(-1), rcond=None)[0]
    scale = 0.5 * (np.linalg.norm(solution[0:3]) +
                   np.linalg.norm(solution[4:7]))
    if not scale > 1e-9:
      raise ValueError("the five points are degenerate; cannot fit the "
                       f"{self.name} crop")
    return float(scale), np.array([solution[3], solution[7]])

  def transform(self, points, size: int) -> Matrix:
    scale, (tx, ty_up) = self.fit(points)
    k = self.pixels_per_unit * (size / self.reference_size) / scale
    return np.array([[k, 0.0, size / 2.0 - k * tx],
                     [0.0, k, size / 2.0 + k * ty_up]])

  def template(self, size: int) -> Points:
    k = self.pixels_per_unit * size / self.reference_size
    return size / 2.0 + k * self.template_3d[:, :2] * np.array([1.0, -1.0])


class TemplateCrop(CropPreset):
  """A least-squares similarity that puts the five points on a template.

  Attributes:
    normalized_template: `[5, 2]` template points as fractions of the crop
      size (x right, y down).
    zoom: the synthetic camera zoom the template was made at, if any.
  """

  def __init__(self, name: str, normalized_template, default_size: int = 256,
               padding: str = "reflect", zoom: Optional[float] = None):
    self.name = name
    self.normalized_template = np.asarray(normalized_template, np.float64)
    self.default_size = int(default_size)
    self.padding = padding
    self.zoom = zoom

  def template(self, size: int) -> Points:
    return self.normalized_template * float(size)

  def transform(self, points, size: int) -> Matrix:
    return estimate_similarity(as_five_points(points), self.template(size))


def synthetic_template(zoom: float = SYNTHETIC_DEFAULT_ZOOM) -> Points:
  """`[5, 2]` fractions of the image size where tfface's synthetic renders put
  the neutral face's five points (frontal pose) at camera ``zoom``
  (:func:`tfface.data.synthetic.dataset_camera`)."""
  if not 0.2 <= zoom <= 5.0:
    raise ValueError(f"zoom must be in [0.2, 5], got {zoom}")
  return 0.5 + (SYNTHETIC_TEMPLATE_ZOOM1 - 0.5) * float(zoom)


def confignet_preset(zoom: float = SYNTHETIC_DEFAULT_ZOOM) -> TemplateCrop:
  """The ``confignet`` crop: the framing of tfface's own synthetic faces.

  A tfface ConfigNet model learns from tfface's synthetic renders (and a real
  domain framed like them), so a photo is aligned by the similarity that puts
  its five points where the renders put the procedural face model's neutral
  five points: the model's 68 landmarks projected with the dataset camera
  (:func:`tfface.data.synthetic.dataset_camera` at ``zoom``, frontal pose,
  zero translation; :data:`SYNTHETIC_TEMPLATE_ZOOM1`). Use the ``zoom`` the
  model's training data was rendered with: 0.75 is the dataset default
  (whole head), ``make demo`` uses 1 (forehead to chin).

  The reference ConfigNet (``FaceImageNormalizer``) aligns with OpenFace's 3D
  landmarks instead: scale from the frontalised interocular and eye-to-mouth
  distances (0.45 W, 0.34 H), roll from the eye corners, the head centre at
  (0.5, 0.42) of the image. That needs 3D landmarks; with five points the
  synthetic framing above is what a tfface model needs.
  """
  return TemplateCrop("confignet", synthetic_template(zoom), 256, "reflect",
                      float(zoom))


PRESETS = ("ffhq", "deep3d", "discofacegan", "confignet")
# The crop each tfface method's models are trained with.
METHOD_PRESETS = {"confignet": "confignet", "stylegan2": "ffhq",
                  "stylerig": "ffhq", "liftedgan": "ffhq", "latent": "ffhq",
                  "discofacegan": "discofacegan"}


def get_preset(preset: Union[str, CropPreset],
               zoom: Optional[float] = None) -> CropPreset:
  """A :class:`CropPreset` by name (:data:`PRESETS`), or ``preset`` itself.

  Args:
    preset: a name or a preset.
    zoom: for ``confignet`` only, the training data's camera zoom (default
      :data:`SYNTHETIC_DEFAULT_ZOOM`).

  Raises:
    ValueError: an unknown name, or ``zoom`` for another preset.
  """
  if isinstance(preset, CropPreset):
    return preset
  if zoom is not None and preset != "confignet":
    raise ValueError(f"zoom applies to the confignet preset only, not "
                     f"{preset!r}")
  if preset == "ffhq":
    return FfhqCrop()
  if preset == "deep3d":
    return WeakPerspectiveCrop("deep3d", DEEP3D_SIZE, DEEP3D_PIXELS_PER_UNIT)
  if preset == "discofacegan":
    return WeakPerspectiveCrop(
        "discofacegan", DISCOFACEGAN_SIZE,
        DEEP3D_PIXELS_PER_UNIT * DISCOFACEGAN_SCALE)
  if preset == "confignet":
    return confignet_preset(SYNTHETIC_DEFAULT_ZOOM if zoom is None else zoom)
  raise ValueError(f"unknown alignment preset {preset!r}; expected one of "
                   f"{', '.join(PRESETS)}")


def preset_for_method(method: str, zoom: Optional[float] = None
                      ) -> CropPreset:
  """The crop a tfface method's models are trained with.

  See :data:`METHOD_PRESETS`; ``zoom`` is passed on for ``confignet``.
  """
  if method not in METHOD_PRESETS:
    raise ValueError(f"no alignment preset for method {method!r}; expected "
                     f"one of {', '.join(sorted(METHOD_PRESETS))}")
  name = METHOD_PRESETS[method]
  return get_preset(name, zoom if name == "confignet" else None)


def check_size(size, preset: CropPreset) -> int:
  """``size`` as an int (None: the preset's default); ValueError if bad."""
  if size is None:
    return preset.default_size
  if int(size) != size or int(size) < MIN_SIZE:
    raise ValueError(f"crop size must be an integer >= {MIN_SIZE} pixels, "
                     f"got {size}")
  return int(size)


# -----------------------------------------------------------------------------
# Warping.


def _block_mean(image: np.ndarray, factor: int) -> np.ndarray:
  """Area-averaged `[ceil(H/f), ceil(W/f), C]` (edge-padded to a multiple)."""
  height, width = image.shape[:2]
  pad_h, pad_w = (-height) % factor, (-width) % factor
  if pad_h or pad_w:
    image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
  h, w = image.shape[0] // factor, image.shape[1] // factor
  return image.reshape(h, factor, w, factor, -1).mean(axis=(1, 3))


def _blur_pad(image: np.ndarray, pads: Sequence[int], quad_size: float
              ) -> np.ndarray:
  """FFHQ's padding: reflect, blur towards the border, fade to the median.

  Args:
    image: `[H, W, C]` float32.
    pads: (left, top, right, bottom) pixels.
    quad_size: the crop's side in source pixels (sets the blur width).
  """
  import scipy.ndimage  # pylint: disable=g-import-not-at-top
  left, top, right, bottom = (max(int(p), 1) for p in pads)
  image = np.pad(image, ((top, bottom), (left, right), (0, 0)), mode="reflect")
  height, width = image.shape[:2]
  ys = np.arange(height, dtype=np.float32)[:, None]
  xs = np.arange(width, dtype=np.float32)[None, :]
  # 0 inside the photo, rising to 1 at the padded image's edge.
  inside_x = np.minimum(xs / left, (width - 1 - xs) / right)
  inside_y = np.minimum(ys / top, (height - 1 - ys) / bottom)
  mask = np.maximum(1.0 - inside_x, 1.0 - inside_y)[..., None]
  blur = quad_size * 0.02
  blurred = scipy.ndimage.gaussian_filter(image, [blur, blur, 0])
  image = image + (blurred - image) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
  median = np.median(image, axis=(0, 1))
  return image + (median - image) * np.clip(mask, 0.0, 1.0)


def warp_image(image, matrix: Matrix, size: int, padding: str = "reflect"
               ) -> np.ndarray:
  """Resamples ``image`` into a `size` px crop through ``matrix``.

  Output pixel centres are mapped back to the source and sampled bilinearly.
  A crop much smaller than its source region is first shrunk by area
  averaging (to under 2 source pixels per crop pixel, then 2x2 supersampled),
  so large photos do not alias.

  Args:
    image: `[H, W, C]` (uint8 or float) source image.
    matrix: `[2, 3]` source-to-crop affine matrix (continuous pixels).
    size: crop height and width.
    padding: outside the source: ``"reflect"`` (mirror), ``"edge"`` (repeat
      the border), ``"constant"`` (zeros: black for uint8 images) or
      ``"blur"`` (FFHQ: reflected, blurred towards the outside, fading to the
      image's median colour).

  Returns:
    `[size, size, C]` float32 in the image's value units.
  """
  import scipy.ndimage  # pylint: disable=g-import-not-at-top
  if padding not in PADDING_MODES:
    raise ValueError(f"padding must be one of {PADDING_MODES}, got "
                     f"{padding!r}")
  image = np.asarray(image, np.float32)
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3 or min(image.shape[:2]) < 1:
    raise ValueError(f"image has shape {image.shape}; expected [H, W, C]")
  matrix = np.asarray(matrix, np.float64)
  size = int(size)
  # The crop's square in source pixels, and its side.
  corners = np.array([[0.0, 0.0], [size, 0.0], [size, size], [0.0, size]])
  quad = apply_transform(invert_transform(matrix), corners)
  quad_size = size / transform_scale(matrix)
  # Cut the region the crop needs (plus a border) out of the source.
  height, width = image.shape[:2]
  border = max(int(round(quad_size * 0.1)), 3)
  x0 = max(int(math.floor(quad[:, 0].min())) - border, 0)
  y0 = max(int(math.floor(quad[:, 1].min())) - border, 0)
  x1 = min(int(math.ceil(quad[:, 0].max())) + border, width)
  y1 = min(int(math.ceil(quad[:, 1].max())) + border, height)
  if x1 <= x0 or y1 <= y0:  # the crop lies outside the image entirely
    x0, y0, x1, y1 = 0, 0, width, height
  image = image[y0:y1, x0:x1]
  matrix = _compose(matrix, _translation(x0, y0))
  quad = quad - [x0, y0]
  # Shrink by area averaging.
  shrink = int(math.floor(quad_size / size))
  if shrink > 1:
    image = _block_mean(image, shrink)
    matrix = _compose(matrix, np.array([[shrink, 0.0, 0.0],
                                        [0.0, shrink, 0.0]]))
    quad, quad_size = quad / shrink, quad_size / shrink
  mode = {"reflect": "reflect", "edge": "nearest",
          "constant": "grid-constant", "blur": "reflect"}[padding]
  if padding == "blur":
    height, width = image.shape[:2]
    border = max(int(round(quad_size * 0.1)), 3)
    pads = (max(-int(math.floor(quad[:, 0].min())) + border, 0),
            max(-int(math.floor(quad[:, 1].min())) + border, 0),
            max(int(math.ceil(quad[:, 0].max())) - width + border, 0),
            max(int(math.ceil(quad[:, 1].max())) - height + border, 0))
    if max(pads) > border - 4:
      pads = tuple(max(p, int(round(quad_size * 0.3))) for p in pads)
      image = _blur_pad(image, pads, quad_size)
      matrix = _compose(matrix, _translation(-pads[0], -pads[1]))
  # Supersample 2x2 when shrinking at all.
  factor = 2 if quad_size > size * 1.001 else 1
  samples = size * factor
  grid = (np.arange(samples, dtype=np.float64) + 0.5) / factor
  qx, qy = np.meshgrid(grid, grid)
  inverse = invert_transform(matrix)
  px = inverse[0, 0] * qx + inverse[0, 1] * qy + inverse[0, 2]
  py = inverse[1, 0] * qx + inverse[1, 1] * qy + inverse[1, 2]
  coordinates = np.stack([py - 0.5, px - 0.5])
  channels = [scipy.ndimage.map_coordinates(image[..., c], coordinates,
                                            order=1, mode=mode, cval=0.0)
              for c in range(image.shape[-1])]
  out = np.stack(channels, axis=-1).astype(np.float32)
  if factor > 1:
    out = _block_mean(out, factor)
  return out


# -----------------------------------------------------------------------------
# Detection.


@dataclasses.dataclass(frozen=True)
class Detection:
  """One detected face.

  Attributes:
    box: `[4]` float64 `(x0, y0, x1, y1)` continuous pixels.
    score: the detector's confidence in [0, 1].
    points: `[5, 2]` float64 five points (:data:`FIVE_POINT_NAMES`),
      continuous pixels.
  """
  box: np.ndarray
  score: float
  points: np.ndarray


class Detector:
  """MTCNN face detection with five points (the optional ``mtcnn`` package).

  MTCNN (Zhang et al. 2016, "Joint face detection and alignment using
  multi-task cascaded convolutional networks") in the ``mtcnn`` package,
  whose trained weights ship in its wheel (nothing is downloaded); it runs on
  TensorFlow 2.21 / Keras 3. Photos larger than ``max_side`` are searched at
  that size (faster; the points are mapped back).

  Args:
    min_confidence: faces scored below this are ignored.
    min_face_size: smallest face searched for, in pixels of the searched
      image.
    max_side: the searched image's longest side at most (pixels).
    device: the TensorFlow device MTCNN runs on.

  Raises:
    MissingDetectorError: ``mtcnn`` is not installed.
  """

  def __init__(self, min_confidence: float = 0.9, min_face_size: int = 20,
               max_side: int = 1280, device: str = "CPU:0"):
    try:
      import mtcnn  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise MissingDetectorError(
          "face detection needs the mtcnn package, which is not installed: "
          f"{INSTALL_HINT} (or pass the face's landmarks)") from None
    self.min_confidence = float(min_confidence)
    self.min_face_size = int(min_face_size)
    self.max_side = int(max_side)
    self._mtcnn = mtcnn.MTCNN(device=device)

  def detect(self, image) -> Optional[Detection]:
    """The most confident face in ``image`` `[H, W, 3]` uint8 RGB, or None."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
      raise ValueError(f"image has shape {image.shape}; expected [H, W, 3]")
    height, width = image.shape[:2]
    if min(height, width) < 12:  # MTCNN's smallest window
      return None
    scale = min(1.0, self.max_side / max(height, width))
    pixels = image.astype(np.float32)
    if scale < 1.0:
      pixels = tf.image.resize(pixels, [max(1, round(height * scale)),
                                        max(1, round(width * scale))],
                               antialias=True).numpy()
    faces = self._mtcnn.detect_faces(np.clip(pixels, 0.0, 255.0),
                                     min_face_size=self.min_face_size)
    faces = [f for f in faces or () if "keypoints" in f
             and float(f["confidence"]) >= self.min_confidence]
    if not faces:
      return None
    best = max(faces, key=lambda f: float(f["confidence"]))
    keypoints = best["keypoints"]
    # mtcnn's coordinates index pixels (centre at the integer): + 0.5.
    points = (np.array([keypoints[name] for name in FIVE_POINT_NAMES],
                       np.float64) + 0.5) / scale
    x, y, w, h = (float(v) for v in best["box"])
    box = np.array([x, y, x + w, y + h]) / scale
    return Detection(box, float(best["confidence"]), points)

  __call__ = detect


_DEFAULT_DETECTOR: List[Detector] = []


def default_detector() -> Detector:
  """One :class:`Detector` per process (built on first use)."""
  if not _DEFAULT_DETECTOR:
    _DEFAULT_DETECTOR.append(Detector())
  return _DEFAULT_DETECTOR[0]


def detector_available() -> bool:
  """Whether the ``mtcnn`` package can be imported (without importing it)."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  if "mtcnn" in sys.modules:
    return sys.modules["mtcnn"] is not None
  return importlib.util.find_spec("mtcnn") is not None


# -----------------------------------------------------------------------------
# Aligning images.


@dataclasses.dataclass
class AlignedFace:
  """An aligned crop.

  Attributes:
    image: `[S, S, 3]` uint8 RGB crop.
    matrix: `[2, 3]` source-to-crop matrix (continuous pixels).
    points: `[5, 2]` the five points in the source image.
    score: the detector's confidence, or None for given landmarks.
    preset: the preset's name.
  """
  image: np.ndarray
  matrix: np.ndarray
  points: np.ndarray
  score: Optional[float]
  preset: str

  @property
  def aligned_points(self) -> Points:
    """`[5, 2]` the five points in the crop."""
    return apply_transform(self.matrix, self.points)


def _check_image(image, source: str) -> np.ndarray:
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[-1] != 3 or min(image.shape[:2]) < 1:
    raise ValueError(f"{source} has shape {image.shape}; expected [H, W, 3] "
                     "RGB")
  return image


def align_image(image, preset: Union[str, CropPreset] = "ffhq",
                size: Optional[int] = None, detector=None, landmarks=None,
                padding: Optional[str] = None, source: str = "the image"
                ) -> AlignedFace:
  """Detects the face in ``image`` and crops it to ``preset``'s convention.

  Args:
    image: `[H, W, 3]` uint8 RGB.
    preset: a :data:`PRESETS` name or a :class:`CropPreset`.
    size: crop size in pixels; None for the preset's default.
    detector: a callable image -> :class:`Detection` or None (e.g. a
      :class:`Detector`); None for :func:`default_detector`. Not used when
      ``landmarks`` are given.
    landmarks: the face's `[5, 2]` five points or `[68, 2]` landmarks in
      source pixels, instead of detecting them.
    padding: outside the photo (:func:`warp_image`); None for the preset's.
    source: how messages name the image (its path).

  Returns:
    the :class:`AlignedFace`.

  Raises:
    NoFaceError: the detector found no face.
    MissingDetectorError: no landmarks, and ``mtcnn`` is not installed.
    ValueError: a bad preset, size, image or landmarks.
  """
  preset = get_preset(preset)
  size = check_size(size, preset)
  image = _check_image(image, source)
  score = None
  if landmarks is not None:
    points = as_five_points(landmarks, f"the landmarks of {source}")
  else:
    detection = (detector or default_detector())(
        np.clip(image, 0, 255).astype(np.uint8))
    if detection is None:
      raise NoFaceError(f"no face found in {source}")
    points, score = as_five_points(detection.points), detection.score
  matrix = preset.transform(points, size)
  pixels = warp_image(image, matrix, size, padding or preset.padding)
  pixels = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
  return AlignedFace(pixels, matrix, points, score, preset.name)


def align_for_model(image, resolution: int, preset: Union[str, CropPreset],
                    mode: str = "auto", source: str = "the image",
                    detector=None) -> np.ndarray:
  """Aligns a photo for a model of ``resolution`` px, or leaves it as it is.

  ``mode``:

  * ``"no"``: ``image`` is returned as it is.
  * ``"yes"``: detect and align; no face or no ``mtcnn`` is an error.
  * ``"auto"``: an image that is square at the model's resolution is taken to
    be an aligned crop and returned as it is; any other is detected and
    aligned. When the detector finds no face, or ``mtcnn`` is not installed,
    one warning line says so and the image is returned as it is (the caller
    then resizes it).

  Each alignment is logged in one line (preset, size, zoom, the face's score).

  Args:
    image: `[H, W, 3]` float32 in [-1, 1].
    resolution: the model's image size R.
    preset: the model's crop (:func:`preset_for_method`).
    mode: ``"auto"``, ``"yes"`` or ``"no"``.
    source: how messages name the image.
    detector: see :func:`align_image`.

  Returns:
    `[R, R, 3]` float32 in [-1, 1] when aligned, else ``image``.

  Raises:
    NoFaceError, MissingDetectorError: only with ``mode="yes"``.
  """
  if mode not in ("auto", "yes", "no"):
    raise ValueError(f"align mode must be auto, yes or no, got {mode!r}")
  image = np.asarray(image, np.float32)
  if mode == "no":
    return image
  height, width = int(image.shape[0]), int(image.shape[1])
  if mode == "auto" and (height, width) == (resolution, resolution):
    return image
  preset = get_preset(preset)
  pixels = np.clip(np.rint((image + 1.0) * 127.5), 0, 255).astype(np.uint8)
  try:
    if detector is None:
      detector = default_detector()
    aligned = align_image(pixels, preset, resolution, detector=detector,
                          source=source)
  except (NoFaceError, MissingDetectorError) as e:
    if mode == "yes":
      raise
    why = ("the face detector found no face" if isinstance(e, NoFaceError)
           else f"the face detector is not installed ({INSTALL_HINT})")
    logging.warning("not aligning %s: %s; using the image as it is", source,
                    why)
    return image
  zoom = getattr(preset, "zoom", None)
  logging.info("aligned %s (%dx%d) to the %s crop at %dx%d%s (face score "
               "%.2f)", source, width, height, preset.name, resolution,
               resolution, "" if zoom is None else f", zoom {zoom:g}",
               aligned.score if aligned.score is not None else float("nan"))
  return aligned.image.astype(np.float32) / 127.5 - 1.0


def export_framing(export_dir: str) -> Tuple[str, int, Optional[float]]:
  """``(method, resolution, zoom)`` of a tfface SavedModel export.

  Read from ``assets.extra/tfface.json`` (``zoom``, the training data's
  camera zoom, is None when the export does not record it); an export
  without that file is taken to be a ConfigNet export and its
  ``factor_table`` signature gives the resolution.
  """
  import json  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  path = os.path.join(export_dir, "assets.extra", "tfface.json")
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      meta = json.load(f)
    zoom = meta.get("zoom")
    return (str(meta["method"]), int(meta["resolution"]),
            None if zoom is None else float(zoom))
  if not tf.io.gfile.exists(os.path.join(export_dir, "saved_model.pb")):
    raise ValueError(f"{export_dir!r} is not a SavedModel directory; "
                     "expected e.g. demo_out/export/1")
  table = json.loads(tf.saved_model.load(export_dir).signatures[
      "factor_table"]()["json"].numpy())
  return "confignet", int(table["resolution"]), None


def align_for_export(image, export_dir: str, mode: str = "auto",
                     zoom: Optional[float] = None, source: str = "the image",
                     detector=None) -> np.ndarray:
  """:func:`align_for_model` with the crop and size of a tfface export.

  Args:
    image: `[H, W, 3]` float32 in [-1, 1].
    export_dir: the SavedModel version directory.
    zoom: the ``confignet`` crop's zoom; None for the export's recorded one,
      else :data:`SYNTHETIC_DEFAULT_ZOOM`.
  """
  if mode == "no":
    return np.asarray(image, np.float32)
  method, resolution, recorded_zoom = export_framing(export_dir)
  preset = preset_for_method(method, zoom if zoom is not None
                             else recorded_zoom)
  return align_for_model(image, resolution, preset, mode, source, detector)


# -----------------------------------------------------------------------------
# Files and folders.


def read_image_file(path: str) -> np.ndarray:
  """The image at ``path`` as `[H, W, 3]` uint8 RGB.

  Raises:
    NotAnImageError: missing, or not a PNG/JPEG/BMP/GIF/WebP image.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:
    data = tf.io.read_file(path)
    image = tf.image.decode_image(data, channels=3, expand_animations=False)
  except (tf.errors.OpError, ValueError) as e:
    reason = " ".join(str(getattr(e, "message", e)).split())
    raise NotAnImageError(f"{path} is not an image ({reason})") from None
  return image.numpy()


def write_png(path: str, image: np.ndarray) -> None:
  """Writes `[H, W, 3]` uint8 as a PNG: a temporary name, then renamed."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  temporary = f"{path}.tmp"
  tf.io.write_file(temporary, tf.io.encode_png(np.asarray(image, np.uint8)))
  os.replace(temporary, path)


@dataclasses.dataclass
class AlignmentReport:
  """What :func:`align_folder` / :func:`align_path` did.

  Attributes:
    written: output paths written.
    skipped: output paths already there (kept, not redone).
    no_face: input paths without a detected face.
    not_images: (input path, reason) of files that are not images.
    output: the output file or folder.
  """
  written: List[str] = dataclasses.field(default_factory=list)
  skipped: List[str] = dataclasses.field(default_factory=list)
  no_face: List[str] = dataclasses.field(default_factory=list)
  not_images: List[Tuple[str, str]] = dataclasses.field(default_factory=list)
  output: str = ""

  def summary(self) -> str:
    """One line: counts and where the crops are."""
    return (f"aligned {len(self.written)}, already done {len(self.skipped)}, "
            f"no face {len(self.no_face)}, not an image "
            f"{len(self.not_images)}: {self.output}")


def _output_names(names: Sequence[str]) -> List[str]:
  """``a.jpg`` -> ``a.png``; names whose stems collide keep their suffix."""
  stems = [os.path.splitext(n)[0] for n in names]
  return [f"{stem}.png" if stems.count(stem) == 1 else
          f"{stem}_{os.path.splitext(name)[1].lstrip('.')}.png"
          for name, stem in zip(names, stems)]


def _same_path(a: str, b: str) -> bool:
  return os.path.realpath(a) == os.path.realpath(b)


def align_folder(input_dir: str, output_dir: str,
                 preset: Union[str, CropPreset] = "ffhq",
                 size: Optional[int] = None, detector=None,
                 padding: Optional[str] = None,
                 on_problem: Callable[[str], None] = logging.warning
                 ) -> AlignmentReport:
  """Aligns every image in ``input_dir`` into ``output_dir`` as PNGs.

  Each file ``name.ext`` (not in subfolders; dot files are ignored) becomes
  ``output_dir/name.png`` (``name_ext.png`` where two inputs share a name),
  written to a temporary name and renamed, so an interrupted run leaves no
  half-written file; a rerun skips the outputs already there. Each file
  without a face, or that is not an image, is one line through
  ``on_problem`` (a warning by default) and is skipped. Inputs are never
  written to: ``output_dir`` must be another folder.

  Args:
    input_dir: folder of photos.
    output_dir: folder for the crops (created).
    preset, size, detector, padding: see :func:`align_image`.
    on_problem: called with each problem line.

  Returns:
    the :class:`AlignmentReport`.

  Raises:
    ValueError: a bad preset or size, a missing or empty input folder, or
      ``output_dir`` that is ``input_dir`` or a file.
    MissingDetectorError: ``mtcnn`` is not installed and no detector given.
  """
  preset = get_preset(preset)
  size = check_size(size, preset)
  if not os.path.isdir(input_dir):
    raise ValueError(f"input folder {input_dir} does not exist; expected a "
                     "folder of images")
  if _same_path(input_dir, output_dir):
    raise ValueError(f"output folder {output_dir} is the input folder; choose "
                     "another so the photos are not overwritten")
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise ValueError(f"output {output_dir} is a file; expected a folder")
  names = sorted(n for n in os.listdir(input_dir) if not n.startswith(".")
                 and os.path.isfile(os.path.join(input_dir, n)))
  if not names:
    raise ValueError(f"input folder {input_dir} holds no files")
  if detector is None:
    detector = default_detector()
  os.makedirs(output_dir, exist_ok=True)
  report = AlignmentReport(output=output_dir)
  for name, out_name in zip(names, _output_names(names)):
    path = os.path.join(input_dir, name)
    out = os.path.join(output_dir, out_name)
    if os.path.exists(out):
      report.skipped.append(out)
      continue
    try:
      image = read_image_file(path)
    except NotAnImageError as e:
      report.not_images.append((path, str(e)))
      on_problem(f"{e}; skipped")
      continue
    try:
      aligned = align_image(image, preset, size, detector=detector,
                            padding=padding, source=path)
    except NoFaceError as e:
      report.no_face.append(path)
      on_problem(f"{e}; skipped")
      continue
    write_png(out, aligned.image)
    report.written.append(out)
  return report


def align_path(input_path: str, output_path: str,
               preset: Union[str, CropPreset] = "ffhq",
               size: Optional[int] = None, detector=None,
               padding: Optional[str] = None,
               on_problem: Callable[[str], None] = logging.warning
               ) -> AlignmentReport:
  """Aligns one photo or a folder of photos (``tools/align_faces.py``).

  A folder goes to :func:`align_folder`. A file is written to
  ``output_path`` when that ends in ``.png``, else into the folder
  ``output_path`` as ``name.png``; no face in it is a :class:`NoFaceError`.

  Raises:
    ValueError: a bad preset, size or path (checked before any work), no face
      in a single file, or an output that would overwrite the input.
  """
  preset = get_preset(preset)
  size = check_size(size, preset)
  if padding is not None and padding not in PADDING_MODES:
    raise ValueError(f"padding must be one of {', '.join(PADDING_MODES)}, "
                     f"got {padding!r}")
  if not os.path.exists(input_path):
    raise ValueError(f"input {input_path} does not exist; expected an image "
                     "file or a folder of images")
  if os.path.isdir(input_path):
    return align_folder(input_path, output_path, preset, size, detector,
                        padding, on_problem)
  if output_path.lower().endswith(".png"):
    out = output_path
  else:
    if os.path.exists(output_path) and not os.path.isdir(output_path):
      raise ValueError(f"output {output_path} is a file that is not a .png; "
                       "expected a .png path or a folder")
    out = os.path.join(output_path, _output_names(
        [os.path.basename(input_path)])[0])
  if _same_path(out, input_path):
    raise ValueError(f"output {out} is the input; choose another path so the "
                     "photo is not overwritten")
  image = read_image_file(input_path)
  aligned = align_image(image, preset, size, detector=detector,
                        padding=padding, source=input_path)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  write_png(out, aligned.image)
  return AlignmentReport(written=[out], output=out)
