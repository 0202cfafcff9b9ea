"""Euler head pose and the Deep3DFaceRecon perspective camera.

Pose: Euler angles `(pitch, yaw, roll)` in radians about the fixed x, y, z
axes, `R = Rz(roll) · Ry(yaw) · Rx(pitch)` (Deep3DFaceRecon's
`Compute_rotation_matrix`, TF Graphics' `rotation_matrix_3d.from_euler`).
A model-space point `s` (column vector) is posed as `R s + t`; Deep3DFaceRecon
writes the same thing with row vectors, `S · Rᵀ + t`.

Camera (Deep3DFaceRecon): it sits at `(0, 0, distance)` (10 dm) looking at the
origin, +y up. Its depth of a posed point `p` is `z_cam = distance - p_z`, and
its pinhole projection is, in pixels with +y *down* (image rows):

    x_pix = cx + f · p_x / z_cam,      y_pix = cy - f · p_y / z_cam.

Pixel coordinates are continuous: pixel (row r, column c) covers
`[c, c + 1) × [r, r + 1)`, so its centre is `(c + 0.5, r + 0.5)`; with the
principal point at the image centre `(W / 2, H / 2)` this is Deep3DFaceRecon's
`u = f x / z + 112, row = 224 - v` at 224 px.

`Camera.view_projection_matrix` gives the OpenGL clip-space matrix (world →
clip) the rasterizer takes; it maps every point to exactly the pixel that
`Camera.project` returns, so rasterized pixels and projected landmarks agree.

Presets: `deep3d_camera(size)` (focal 1015 px at 224 px) and
`discofacegan_camera(size)` (focal 1015 · 1.22 px at 256 px, DiscoFaceGAN's
GAN space), both scaled to any image size.
"""

import dataclasses
import math
from typing import Optional, Sequence, Tuple, Union

import tensorflow as tf

from tfface.rendering.image_size import parse_image_size

DEEP3D_FOCAL = 1015.0
DEEP3D_IMAGE_SIZE = 224
DISCOFACEGAN_FOCAL = 1015.0 * 1.22
DISCOFACEGAN_IMAGE_SIZE = 256
CAMERA_DISTANCE = 10.0


def rotation_matrix(angles: tf.Tensor) -> tf.Tensor:
  """Rotation matrices from Euler angles, `R = Rz · Ry · Rx`.

  Args:
    angles: `[..., 3]` float32 `(pitch, yaw, roll)` radians (rotations about
      x, y, z).

  Returns:
    `[..., 3, 3]` float32 rotation matrices, acting on column vectors.
  """
  angles = tf.convert_to_tensor(angles, tf.float32)
  if angles.shape.rank is not None and (
      angles.shape.rank < 1 or angles.shape[-1] not in (None, 3)):
    raise ValueError(
        "angles must be [..., 3] (pitch, yaw, roll), got shape "
        f"{angles.shape}.")
  sin, cos = tf.sin(angles), tf.cos(angles)
  sx, sy, sz = tf.unstack(sin, axis=-1)
  cx, cy, cz = tf.unstack(cos, axis=-1)
  # Rz·Ry·Rx written out.
  rows = [
      cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx,
      sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx,
      -sy, cy * sx, cy * cx,
  ]
  matrix = tf.stack(rows, axis=-1)
  return tf.reshape(matrix, tf.concat([tf.shape(angles)[:-1], [3, 3]], 0))


def transform_points(points: tf.Tensor, angles: tf.Tensor,
                     translation: Optional[tf.Tensor] = None) -> tf.Tensor:
  """Poses points: `R(angles) · p + translation`.

  Args:
    points: `[B, N, 3]` float32.
    angles: `[B, 3]` float32 (pitch, yaw, roll) radians.
    translation: `[B, 3]` float32, or None for zero.

  Returns:
    `[B, N, 3]` float32.
  """
  rotation = rotation_matrix(angles)
  posed = tf.einsum("bij,bnj->bni", rotation,
                    tf.convert_to_tensor(points, tf.float32))
  if translation is not None:
    posed += tf.convert_to_tensor(translation, tf.float32)[:, None, :]
  return posed


def rotate_vectors(vectors: tf.Tensor, angles: tf.Tensor) -> tf.Tensor:
  """Rotates direction vectors (e.g. normals) by `R(angles)`: `[B, N, 3]`."""
  return transform_points(vectors, angles, None)


@dataclasses.dataclass(frozen=True)
class Camera:
  """A pinhole camera on +z looking at the origin (Deep3DFaceRecon style).

  Attributes:
    image_size: `(height, width)` in pixels.
    focal: focal length in pixels (square pixels).
    principal_point: `(cx, cy)` in pixels (x right, y down); None for the
      image centre `(W / 2, H / 2)`.
    distance: camera position on the z axis (decimetres).
    near, far: clip planes, as distances in front of the camera.
  """
  image_size: Tuple[int, int]
  focal: float
  principal_point: Optional[Tuple[float, float]] = None
  distance: float = CAMERA_DISTANCE
  near: float = 1.0
  far: float = 30.0

  def __post_init__(self):
    height, width = parse_image_size(self.image_size)
    object.__setattr__(self, "image_size", (height, width))
    if not self.focal > 0:
      raise ValueError(f"Camera focal must be > 0 pixels, got {self.focal}.")
    if not 0 < self.near < self.far:
      raise ValueError(
          f"Camera needs 0 < near < far, got near={self.near}, "
          f"far={self.far}.")
    if self.principal_point is None:
      object.__setattr__(self, "principal_point", (width / 2.0, height / 2.0))

  @property
  def height(self) -> int:
    return self.image_size[0]

  @property
  def width(self) -> int:
    return self.image_size[1]

  @property
  def fov_y(self) -> float:
    """Vertical field of view in radians (centred principal point)."""
    return 2.0 * math.atan(0.5 * self.height / self.focal)

  def resized(self, image_size: Union[int, Sequence[int]]) -> "Camera":
    """The same view at another resolution (focal and principal point scaled
    by the height ratio and width ratio respectively)."""
    height, width = parse_image_size(image_size)
    sy, sx = height / self.height, width / self.width
    cx, cy = self.principal_point
    return dataclasses.replace(self, image_size=(height, width),
                               focal=self.focal * sy,
                               principal_point=(cx * sx, cy * sy))

  def depth(self, points: tf.Tensor) -> tf.Tensor:
    """Depth along the viewing axis `distance - z`: `[..., 3]` -> `[...]`."""
    return self.distance - tf.convert_to_tensor(points, tf.float32)[..., 2]

  def project(self, points: tf.Tensor) -> tf.Tensor:
    """Projects posed (world-space) points to pixel coordinates.

    Args:
      points: `[..., 3]` float32 world-space points (after pose).

    Returns:
      `[..., 2]` float32 `(x, y)` continuous pixel coordinates, x right,
      y down (rows), pixel centres at `+0.5`.
    """
    points = tf.convert_to_tensor(points, tf.float32)
    z_cam = self.distance - points[..., 2]
    cx, cy = self.principal_point
    x = cx + self.focal * points[..., 0] / z_cam
    y = cy - self.focal * points[..., 1] / z_cam
    return tf.stack([x, y], axis=-1)

  def projection_matrix(self) -> tf.Tensor:
    """`[4, 4]` OpenGL projection (eye space → clip space) of the intrinsics.

    Eye space is the camera frame (x right, y up, looking down -z); NDC y is
    up and maps row 0 of the image to NDC y = +1, as the rasterizer expects.
    """
    height, width = self.image_size
    cx, cy = self.principal_point
    f, n = self.far, self.near
    return tf.constant([
        [2.0 * self.focal / width, 0.0, 1.0 - 2.0 * cx / width, 0.0],
        [0.0, 2.0 * self.focal / height, 2.0 * cy / height - 1.0, 0.0],
        [0.0, 0.0, -(f + n) / (f - n), -2.0 * f * n / (f - n)],
        [0.0, 0.0, -1.0, 0.0],
    ], tf.float32)

  def view_matrix(self) -> tf.Tensor:
    """`[4, 4]` world → eye: a translation by `(0, 0, -distance)`."""
    return tf.constant([
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, -self.distance],
        [0.0, 0.0, 0.0, 1.0],
    ], tf.float32)

  def view_projection_matrix(self, batch_size: Union[int, tf.Tensor] = 1
                             ) -> tf.Tensor:
    """World → clip matrices for the rasterizer.

    Args:
      batch_size: B (Python int or scalar tensor).

    Returns:
      `[B, 4, 4]` float32, the same matrix for every batch element.
    """
    matrix = tf.matmul(self.projection_matrix(), self.view_matrix())
    return tf.tile(matrix[None], tf.stack([batch_size, 1, 1]))


def deep3d_camera(image_size: Union[int, Sequence[int]] = DEEP3D_IMAGE_SIZE,
                  **kwargs) -> Camera:
  """Deep3DFaceRecon's R-Net camera (f = 1015 px at 224 px), scaled.

  Args:
    image_size: `(height, width)` or an int for square images; focal scales
      with the height.
    **kwargs: other `Camera` fields (near, far, distance).

  Returns:
    A `Camera`.
  """
  height, width = parse_image_size(image_size)
  return Camera((height, width), DEEP3D_FOCAL * height / DEEP3D_IMAGE_SIZE,
                **kwargs)


def discofacegan_camera(
    image_size: Union[int, Sequence[int]] = DISCOFACEGAN_IMAGE_SIZE,
    **kwargs) -> Camera:
  """DiscoFaceGAN's GAN-space camera (f = 1015 · 1.22 px at 256 px), scaled.

  Args:
    image_size: `(height, width)` or an int; focal scales with the height.
    **kwargs: other `Camera` fields.

  Returns:
    A `Camera`.
  """
  height, width = parse_image_size(image_size)
  return Camera((height, width),
                DISCOFACEGAN_FOCAL * height / DISCOFACEGAN_IMAGE_SIZE, **kwargs)
