"""LiftedGAN's depth-map renderer (Shi et al., CVPR 2021).

A canonical (frontal) depth map is lifted to a grid mesh with one vertex per
pixel, shaded with an ambient + directional Lambert model in the canonical
frame, moved by a rigid view transform about the point (0, 0, 1) — blended
per vertex with the untransformed mesh by the transformation map T — and
rasterized again with a 10° field-of-view camera at the origin.

Coordinates follow LiftedGAN (camera space of the canonical view): x to image
right, y to image down, z forward (away from the camera); depth is z. The
pixel (row v, column u) with depth d lifts to d · K⁻¹ [u, v, 1]ᵀ with
fx = fy = ((S − 1) / 2) / tan(fov / 2), cx = (W − 1) / 2, cy = (H − 1) / 2.
Rendering uses an OpenGL perspective with the same fov and pixel centres at
NDC (2i + 1) / S − 1, i.e. focal S / 2 / tan(fov / 2) — the same 256/255 zoom
of a frontal render that LiftedGAN's Pytorch3D renderer has. Barycentric
interpolation is perspective-correct (Pytorch3D 0.2.5 used screen-space
barycentrics; the difference inside a grid cell is second order).

Also here: LiftedGAN's post-processing of its networks' raw outputs into the
renderer's inputs (`depth_from_network`, `transformation_map_from_network`,
`gaussian_blur`) and its `contour_gradient_clip`.
"""

from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from tfface.rendering import camera
from tfface.rendering import image_size as image_size_lib
from tfface.rendering import rasterizer


class DepthMapRenderer:
  """Renders depth + albedo + light + view (+ transformation map) to images.

  Defaults are LiftedGAN's FFHQ configuration (`config/ffhq_256.py`):
  fov 10°, rotation centre depth 1.0, view ranges ±60° rotation, ±0.1 x/y and
  ±0.01 z translation, depth range (0.9, 1.1).

  Example:
    renderer = DepthMapRenderer(64)
    out = renderer.render(depth, albedo, view, light)
    out["image"]  # [B, 64, 64, 3] in about [-1, 1]
  """

  def __init__(self,
               image_size: Union[int, Sequence[int]],
               fov_degrees: float = 10.0,
               rot_center_depth: float = 1.0,
               xyz_rotation_range_degrees: float = 60.0,
               xy_translation_range: float = 0.1,
               z_translation_range: float = 0.01,
               min_depth: float = 0.9,
               max_depth: float = 1.1,
               near: float = 0.1,
               far: float = 10.0,
               background: float = 1.0,
               clip_render_grad: bool = False,
               backend: str = "tf", min_diffuse: float = 0.0):
    """Creates the renderer.

    Args:
      image_size: `S` or `(H, W)` Python ints, at least 2 each.
      fov_degrees: field of view of the camera (vertical; equal to the
        horizontal one for square images).
      rot_center_depth: depth of the point the view rotates about.
      xyz_rotation_range_degrees: rotation for a view value of 1.
      xy_translation_range: x/y translation for a view value of 1.
      z_translation_range: z translation for a view value of 1.
      min_depth: smallest depth of the depth maps.
      max_depth: largest depth of the depth maps.
      near: near clipping distance of the render camera.
      far: far clipping distance of the render camera.
      background: image value where no triangle is visible (LiftedGAN: 1,
        white).
      clip_render_grad: pass the depth given to the rasterizer through
        `contour_gradient_clip` (LiftedGAN's `clip_render_grad=True`);
        shading always sees the unclipped depth.
      backend: rasterizer backend, `"tf"` or `"tfg_cpu"`.
      min_diffuse: smallest diffuse strength, in [0, 1) (LiftedGAN: 0; see
        `parse_light`).

    Raises:
      ValueError: on a bad image size, fov, depth range, backend or
        min_diffuse.
    """
    height, width = image_size_lib.parse_image_size(image_size, minimum=2)
    if not 0.0 < fov_degrees < 180.0:
      raise ValueError(f"fov_degrees must be in (0, 180), got {fov_degrees}.")
    if not 0.0 < near < min_depth < max_depth < far:
      raise ValueError(
          "expected 0 < near < min_depth < max_depth < far, got "
          f"{near}, {min_depth}, {max_depth}, {far}.")
    if backend not in rasterizer.BACKENDS:
      raise ValueError(
          f"backend must be one of {rasterizer.BACKENDS}, got {backend!r}.")
    if not 0.0 <= min_diffuse < 1.0:
      raise ValueError(f"min_diffuse must be in [0, 1), got {min_diffuse!r}")
    self.min_diffuse = float(min_diffuse)
    self.image_size = (height, width)
    self.fov = np.deg2rad(fov_degrees)
    self.rot_center_depth = float(rot_center_depth)
    self.rotation_range = np.deg2rad(xyz_rotation_range_degrees)
    self.xy_translation_range = float(xy_translation_range)
    self.z_translation_range = float(z_translation_range)
    self.min_depth = float(min_depth)
    self.max_depth = float(max_depth)
    self.background = float(background)
    self.backend = backend
    self.clip_render_grad = bool(clip_render_grad)
    # Depth written where nothing is visible (LiftedGAN: 1.2 for 0.9..1.1).
    self.background_depth = max_depth + 0.5 * (max_depth - min_depth)

    tan_half = np.tan(self.fov / 2.0)
    aspect = width / height
    self.focal_y = ((height - 1) / 2.0) / tan_half
    self.focal_x = ((width - 1) / 2.0) / (tan_half * aspect)
    self.triangles = grid_triangles(height, width)
    rays_x = (np.arange(width) - (width - 1) / 2.0) / self.focal_x
    rays_y = (np.arange(height) - (height - 1) / 2.0) / self.focal_y
    gx, gy = np.meshgrid(rays_x, rays_y)
    # K^-1 [u, v, 1] per pixel: [H, W, 3].
    self._rays = np.stack([gx, gy, np.ones_like(gx)], -1).astype(np.float32)
    # World (x right, y down, z forward) -> OpenGL eye (y up, looking -z),
    # then the perspective projection.
    f = 1.0 / tan_half
    projection = np.array(
        [[f / aspect, 0, 0, 0], [0, f, 0, 0],
         [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
         [0, 0, -1, 0]], np.float64)
    flip = np.diag([1.0, -1.0, -1.0, 1.0])
    self.view_projection = (projection @ flip).astype(np.float32)

  # --- Parameters -----------------------------------------------------------

  def parse_view(self, view: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """Converts LiftedGAN's normalized view to rotation and translation.

    Args:
      view: `[B, 6]` float32 `(rx, ry, rz, tx, ty, tz)` in [-1, 1] (the tanh
        output of D_V).

    Returns:
      `rotation` `[B, 3]` radians (about x, y, z; R = Rz·Ry·Rx) and
      `translation` `[B, 3]` world units.
    """
    view = _check_last_dim(view, 6, "view")
    rotation = view[:, :3] * self.rotation_range
    translation = tf.concat([
        view[:, 3:5] * self.xy_translation_range,
        view[:, 5:6] * self.z_translation_range
    ], axis=-1)
    return rotation, translation

  def parse_light(self, light: tf.Tensor
                  ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Converts LiftedGAN's normalized light to ambient, diffuse, direction.

    Args:
      light: `[B, 4]` float32 `(l0, l1, dx, dy)` in [-1, 1] (tanh of D_L).

    Returns:
      `ambient` `[B, 1]` = l0 / 2 + 0.5, `diffuse` `[B, 1]` = m + (1 − m) ·
      (l1 / 2 + 0.5) with m = ``min_diffuse`` (0 in LiftedGAN) and unit
      `direction` `[B, 3]` = normalize(dx, dy, 1) (towards the light; +z is
      frontal).
    """
    light = _check_last_dim(light, 4, "light")
    ambient = light[:, 0:1] / 2.0 + 0.5
    diffuse = self.min_diffuse + (1.0 - self.min_diffuse) * (
        light[:, 1:2] / 2.0 + 0.5)
    direction = tf.concat([light[:, 2:4], tf.ones_like(light[:, :1])], -1)
    direction = direction / tf.norm(direction, axis=-1, keepdims=True)
    return ambient, diffuse, direction

  # --- Geometry and shading -------------------------------------------------

  def unproject(self, depth: tf.Tensor) -> tf.Tensor:
    """Lifts `[B, H, W, 1]` depth to `[B, H, W, 3]` points d · K⁻¹ [u, v, 1]."""
    depth = self._check_map(depth, 1, "depth")
    return depth * self._rays

  @tf.autograph.experimental.do_not_convert
  def normals(self, depth: tf.Tensor) -> tf.Tensor:
    """Unit normals of the lifted depth map, `[B, H, W, 3]`.

    Sum of the cross products of the four neighbour differences (replicate
    padding at the border), as LiftedGAN's `get_normal_from_depth`. A frontal
    plane has normal +z (pointing away from the camera, towards the frontal
    light direction (0, 0, 1)).
    """
    # Scaled by the focal length so neighbour differences are O(1) at any
    # resolution: LiftedGAN's |n| + 1e-7 on raw world units shortens its
    # normals by ~5% at 256 px; here they are unit length.
    points = self.unproject(depth) * self.focal_y
    padded = tf.pad(points, [[0, 0], [1, 1], [1, 1], [0, 0]], "SYMMETRIC")
    center = padded[:, 1:-1, 1:-1]
    right = padded[:, 1:-1, 2:] - center
    left = padded[:, 1:-1, :-2] - center
    down = padded[:, 2:, 1:-1] - center
    up = padded[:, :-2, 1:-1] - center
    normal = (tf.linalg.cross(right, down) + tf.linalg.cross(down, left) +
              tf.linalg.cross(left, up) + tf.linalg.cross(up, right))
    return normal / (tf.norm(normal, axis=-1, keepdims=True) + 1e-7)

  @tf.autograph.experimental.do_not_convert
  def shade(self, depth: tf.Tensor, albedo: tf.Tensor,
            light: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Lights the canonical albedo: ambient + diffuse · max(0, n · l).

    Args:
      depth: `[B, H, W, 1]` float32 canonical depth in (min_depth, max_depth).
      albedo: `[B, H, W, 3]` float32 in about [-1, 1].
      light: `[B, 4]` float32 normalized light (see `parse_light`).

    Returns:
      `canonical_image` `[B, H, W, 3]` = ((albedo / 2 + 0.5) · shading) · 2 − 1,
      `shading` `[B, H, W, 1]`, `normals` `[B, H, W, 3]`.
    """
    albedo = self._check_map(albedo, 3, "albedo")
    ambient, diffuse, direction = self.parse_light(light)
    normal = self.normals(depth)
    cosine = tf.nn.relu(
        tf.reduce_sum(normal * direction[:, None, None, :], -1, keepdims=True))
    shading = ambient[:, None, None] + diffuse[:, None, None] * cosine
    image = ((albedo / 2.0 + 0.5) * shading) * 2.0 - 1.0
    return {"canonical_image": image, "shading": shading, "normals": normal}

  @tf.autograph.experimental.do_not_convert
  def posed_vertices(self, depth: tf.Tensor, view: tf.Tensor,
                     transformation_map: Optional[tf.Tensor] = None
                    ) -> tf.Tensor:
    """Grid vertices after the view transform and the T blend.

    p' = R (p − c) + c + t with c = (0, 0, rot_center_depth), then
    V = T · p' + (1 − T) · p per vertex.

    Args:
      depth: `[B, H, W, 1]` canonical depth.
      view: `[B, 6]` normalized view (see `parse_view`).
      transformation_map: `[B, H, W, 1]` in [0, 1]; None means all ones.

    Returns:
      `[B, H * W, 3]` float32 vertices, row-major over pixels.
    """
    points = tf.reshape(self.unproject(depth), [tf.shape(depth)[0], -1, 3])
    rotation, translation = self.parse_view(view)
    matrix = camera.rotation_matrix(rotation)  # [B, 3, 3], Rz·Ry·Rx
    center = tf.constant([0.0, 0.0, self.rot_center_depth])
    moved = tf.einsum("bij,bvj->bvi", matrix, points - center)
    moved = moved + center + translation[:, None, :]
    if transformation_map is None:
      return moved
    blend = tf.reshape(
        self._check_map(transformation_map, 1, "transformation_map"),
        [tf.shape(depth)[0], -1, 1])
    return blend * moved + (1.0 - blend) * points

  # --- Rendering ------------------------------------------------------------

  @tf.autograph.experimental.do_not_convert
  def warp(self, image: tf.Tensor, depth: tf.Tensor, view: tf.Tensor,
           transformation_map: Optional[tf.Tensor] = None
          ) -> Dict[str, tf.Tensor]:
    """Renders a canonical per-pixel image on the posed depth mesh.

    Args:
      image: `[B, H, W, C]` float32 canonical colours (vertex attributes).
      depth: `[B, H, W, 1]` canonical depth.
      view: `[B, 6]` normalized view.
      transformation_map: `[B, H, W, 1]` in [0, 1] or None (all ones).

    Returns:
      `image` `[B, H, W, C]` (background value where the mask is 0),
      `mask` `[B, H, W, 1]` in {0, 1}, `depth` `[B, H, W, 1]` rendered
      camera-space z (background_depth where the mask is 0).
    """
    height, width = self.image_size
    image = tf.convert_to_tensor(image, tf.float32)
    if image.shape.rank != 4 or tuple(image.shape[1:3]) != (height, width):
      raise ValueError(f"image must be [B, {height}, {width}, C], got shape "
                       f"{image.shape}.")
    if self.clip_render_grad:
      depth = contour_gradient_clip(self._check_map(depth, 1, "depth"))
    vertices = self.posed_vertices(depth, view, transformation_map)
    batch = tf.shape(vertices)[0]
    colors = tf.reshape(image, [batch, height * width, image.shape[-1]])
    view_projection = tf.tile(
        tf.constant(self.view_projection)[None], [batch, 1, 1])
    out = rasterizer.rasterize(
        vertices, self.triangles, {"color": colors, "z": vertices[..., 2:]},
        view_projection, self.image_size, backend=self.backend)
    mask = out["mask"]
    return {
        "image": out["color"] + (1.0 - mask) * self.background,
        "mask": mask,
        "depth": out["z"] + (1.0 - mask) * self.background_depth,
    }

  @tf.autograph.experimental.do_not_convert
  def render(self, depth: tf.Tensor, albedo: tf.Tensor, view: tf.Tensor,
             light: tf.Tensor,
             transformation_map: Optional[tf.Tensor] = None
            ) -> Dict[str, tf.Tensor]:
    """Shades the canonical face and renders it in the given view.

    Args:
      depth: `[B, H, W, 1]` float32 canonical depth in (min_depth, max_depth).
      albedo: `[B, H, W, 3]` float32 canonical albedo, about [-1, 1].
      view: `[B, 6]` float32 normalized view (rx, ry, rz, tx, ty, tz) in
        [-1, 1].
      light: `[B, 4]` float32 normalized light (l0, l1, dx, dy) in [-1, 1].
      transformation_map: `[B, H, W, 1]` float32 in [0, 1] (T in the paper)
        or None (all ones: every vertex follows the view).

    Returns:
      `image` `[B, H, W, 3]` about [-1, 1] (not clamped), `mask`
      `[B, H, W, 1]`, `depth` `[B, H, W, 1]` (`background_depth` outside the
      mask), and the canonical `canonical_image` `[B, H, W, 3]`, `shading`
      `[B, H, W, 1]`, `normals` `[B, H, W, 3]`.
    """
    shaded = self.shade(depth, albedo, light)
    out = self.warp(shaded["canonical_image"], depth, view,
                    transformation_map)
    out.update(shaded)
    return out

  def _check_map(self, value, channels: int, name: str) -> tf.Tensor:
    value = tf.convert_to_tensor(value, tf.float32)
    height, width = self.image_size
    if value.shape.rank == 3 and channels == 1:
      value = value[..., None]
    if (value.shape.rank != 4 or tuple(value.shape[1:3]) != (height, width) or
        value.shape[-1] != channels):
      raise ValueError(f"{name} must be [B, {height}, {width}, {channels}], "
                       f"got shape {value.shape}.")
    return value


def depth_from_network(raw: tf.Tensor, min_depth: float = 0.9,
                       max_depth: float = 1.1, border_depth: float = 1.05,
                       clamp_border: bool = True) -> tf.Tensor:
  """LiftedGAN's depth post-processing of D_S's raw output.

  d = tanh(raw − mean over the image), depth = (1 + d) / 2 · max_depth +
  (1 − d) / 2 · min_depth; with `clamp_border` the two leftmost and two
  rightmost columns are set to `border_depth` (rows are left alone).

  Args:
    raw: `[B, H, W, 1]` float32 network output (W >= 4).
    min_depth: depth for d = −1.
    max_depth: depth for d = +1.
    border_depth: depth of the clamped border columns.
    clamp_border: clamp the border columns.

  Returns:
    `[B, H, W, 1]` float32 depth in (min_depth, max_depth) (border columns
    `border_depth`).
  """
  raw = tf.convert_to_tensor(raw, tf.float32)
  if raw.shape.rank != 4 or raw.shape[-1] != 1:
    raise ValueError(f"raw depth must be [B, H, W, 1], got shape {raw.shape}.")
  d = tf.tanh(raw - tf.reduce_mean(raw, axis=[1, 2, 3], keepdims=True))
  depth = (1.0 + d) / 2.0 * max_depth + (1.0 - d) / 2.0 * min_depth
  if clamp_border:
    width = tf.shape(depth)[2]
    column = tf.range(width)
    border = tf.logical_or(column < 2, column >= width - 2)
    depth = tf.where(border[None, None, :, None], border_depth, depth)
  return depth


def gaussian_blur(image: tf.Tensor, size: int = 10,
                  sigma: float = 4.0) -> tf.Tensor:
  """LiftedGAN's `Blur`: a (2·size + 1)² Gaussian, reflect padding.

  The kernel is exp(−((x − size) / (2σ))²) per axis, normalized to sum 1
  (so its standard deviation is σ√2 before truncation), applied per channel.

  Args:
    image: `[B, H, W, C]` float32, H and W > size.
    size: kernel radius in pixels.
    sigma: the σ of the formula above.

  Returns:
    `[B, H, W, C]` float32.
  """
  image = tf.convert_to_tensor(image, tf.float32)
  x = np.arange(2 * size + 1, dtype=np.float64)
  kernel = np.exp(-((x - size) / (2.0 * sigma))**2)
  kernel = (kernel / kernel.sum()).astype(np.float32)
  channels = image.shape[-1]
  padded = tf.pad(image, [[0, 0], [size, size], [size, size], [0, 0]],
                  "REFLECT")
  horizontal = np.tile(kernel[None, :, None, None], [1, 1, channels, 1])
  vertical = np.tile(kernel[:, None, None, None], [1, 1, channels, 1])
  out = tf.nn.depthwise_conv2d(padded, horizontal, [1, 1, 1, 1], "VALID")
  return tf.nn.depthwise_conv2d(out, vertical, [1, 1, 1, 1], "VALID")


def transformation_map_from_network(raw: tf.Tensor, depth: tf.Tensor,
                                    border_depth: float = 1.05,
                                    blur_size: int = 10,
                                    blur_sigma: float = 4.0) -> tf.Tensor:
  """LiftedGAN's post-processing of D_T's raw output into the map T.

  T = sigmoid(raw + 5); T = 1 where depth <= border_depth − 0.01 (the face);
  Gaussian blur (`gaussian_blur`); then rows 0 and H − 1 and columns 0, 1,
  W − 2, W − 1 are set to 0, so the image frame never moves.

  Args:
    raw: `[B, H, W, 1]` float32 network output.
    depth: `[B, H, W, 1]` float32 depth from `depth_from_network`.
    border_depth: LiftedGAN's border depth (1.05).
    blur_size: blur radius (10).
    blur_sigma: blur σ (4).

  Returns:
    `[B, H, W, 1]` float32 in [0, 1].
  """
  raw = tf.convert_to_tensor(raw, tf.float32)
  depth = tf.convert_to_tensor(depth, tf.float32)
  if raw.shape.rank != 4 or raw.shape[-1] != 1:
    raise ValueError(
        f"raw transformation map must be [B, H, W, 1], got shape {raw.shape}.")
  if depth.shape != raw.shape:
    raise ValueError(f"depth shape {depth.shape} must match the raw "
                     f"transformation map shape {raw.shape}.")
  t = tf.sigmoid(raw + 5.0)
  t = tf.where(depth <= border_depth - 0.01, 1.0, t)
  t = gaussian_blur(t, blur_size, blur_sigma)
  height, width = tf.shape(t)[1], tf.shape(t)[2]
  rows = tf.range(height)
  columns = tf.range(width)
  keep_rows = tf.logical_and(rows >= 1, rows < height - 1)
  keep_columns = tf.logical_and(columns >= 2, columns < width - 2)
  keep = tf.logical_and(keep_rows[:, None], keep_columns[None, :])
  return t * tf.cast(keep, tf.float32)[None, :, :, None]


@tf.custom_gradient
def contour_gradient_clip(depth: tf.Tensor):
  """Identity whose gradient is zeroed on the contour of its support.

  LiftedGAN's `ContourGradientClip`: with m = [|grad| > 0] per pixel, the
  gradient is kept only where the 3x3 Laplacian
  [[0, −1, 0], [−1, 4, −1], [0, −1, 0]] / 4 of m (reflect padding) is zero,
  i.e. it is dropped on the ring of pixels bordering the region that receives
  gradient (the silhouette, where the hard rasterizer's gradients are wrong).

  Args:
    depth: `[B, H, W, C]` float32.

  Returns:
    `depth` unchanged.
  """
  def grad(upstream):
    m = tf.cast(tf.abs(upstream) > 0, tf.float32)
    channels = upstream.shape[-1]
    kernel = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], np.float32) / 4
    kernel = np.tile(kernel[:, :, None, None], [1, 1, channels, 1])
    padded = tf.pad(m, [[0, 0], [1, 1], [1, 1], [0, 0]], "REFLECT")
    laplacian = tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")
    return upstream * tf.cast(tf.abs(laplacian) < 1e-5, upstream.dtype)
  return tf.identity(depth), grad


def grid_triangles(height: int, width: int) -> np.ndarray:
  """Two triangles per pixel quad of an `H x W` vertex grid.

  Vertex (row i, column j) has index i · W + j; the quad's triangles are
  [(i, j), (i + 1, j), (i, j + 1)] and [(i, j + 1), (i + 1, j), (i + 1, j + 1)]
  as in LiftedGAN's `get_face_idx`.

  Returns:
    `[2 (H − 1)(W − 1), 3]` int32.
  """
  index = np.arange(height * width).reshape(height, width)
  a = index[:-1, :-1].ravel()
  b = index[1:, :-1].ravel()
  c = index[:-1, 1:].ravel()
  d = index[1:, 1:].ravel()
  return np.concatenate([np.stack([a, b, c], 1),
                         np.stack([c, b, d], 1)]).astype(np.int32)


def _check_last_dim(value, size: int, name: str) -> tf.Tensor:
  value = tf.convert_to_tensor(value, tf.float32)
  if value.shape.rank != 2 or value.shape[-1] != size:
    raise ValueError(f"{name} must be [B, {size}], got shape {value.shape}.")
  return value
