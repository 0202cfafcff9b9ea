"""Triangle rasterization with two interchangeable backends.

``rasterize`` turns a batch of triangle meshes into per-pixel triangle ids, a
foreground mask, perspective-correct barycentric coordinates and interpolated
vertex attributes. Visibility is not differentiable; barycentrics (and so
every interpolated attribute) are, w.r.t. vertex positions, the projection
matrix and the attributes — TF Graphics' scheme: pick the visible triangle per
pixel without gradients, then recompute its barycentrics from the clip-space
vertices in differentiable TensorFlow.

Backends:

* ``"tf"``: pure TensorFlow, stock ops only (SavedModel- and GPU-friendly,
  dynamic batch size). It enumerates, per triangle, the pixels inside the
  triangle's screen bounding box, in fixed-size chunks of (triangle, pixel)
  candidates inside a ``tf.while_loop`` so memory stays bounded for any mesh,
  and resolves visibility with segment minima (a z-buffer). The inside test
  reproduces TF Graphics' CPU kernel exactly (16.16 fixed-point homogeneous
  edge functions, watertight on shared edges; nearest NDC z wins, ties go to
  the lower triangle id), so both backends pick the same triangles. The
  64-bit fixed-point edge functions need clip coordinates below about 70 in
  magnitude (w is the distance from the camera; the face cameras have w of
  about 10; the kernel's own int64 determinant overflows and drops triangles
  from about 30).
* ``"tfg_cpu"``: TF Graphics' own ``triangle_rasterizer.rasterize`` with its
  C++ CPU kernel, rebuilt from the wheel's sources by
  :mod:`tfface.rendering.kernel_build`. Needs a static batch size; runs on the
  host only.

Image convention for both: row 0 is the top of the picture, column 0 the left
(TF Graphics' kernel writes rows bottom-up; they are flipped here).

The public functions hold no tensor-dependent Python control flow (the loop is
an explicit `tf.while_loop`) and are marked `do_not_convert`, so `tf.function`
traces them without AutoGraph conversion.
"""

from typing import Dict, Optional, Sequence, Tuple

import tensorflow as tf

from tfface.rendering import image_size as image_size_lib

BACKENDS = ("tf", "tfg_cpu")

# (triangle, pixel) candidates handled per while-loop iteration of the "tf"
# backend; bounds its transient memory (about 350 bytes per candidate).
DEFAULT_CHUNK_SIZE = 1 << 19

_FIXED_ONE = 65536.0  # 16 fractional bits, as in rasterize_triangles_impl.cc.
_BBOX_EPS = 0.05  # pixels; fixed-point rounding may admit centres just outside.


@tf.autograph.experimental.do_not_convert
def rasterize(vertices: tf.Tensor,
              triangles: tf.Tensor,
              attributes: Optional[Dict[str, tf.Tensor]],
              view_projection_matrix: tf.Tensor,
              image_size: Sequence[int],
              backend: str = "tf",
              enable_cull_face: bool = False,
              chunk_size: int = DEFAULT_CHUNK_SIZE) -> Dict[str, tf.Tensor]:
  """Rasterizes a batch of triangle meshes.

  Args:
    vertices: `[B, V, 3]` float32 vertex positions (world/camera space).
    triangles: `[T, 3]` int32 0-based vertex indices, shared by the batch;
      counter-clockwise seen from the front (matters only for culling).
    attributes: dict name -> `[B, V, K]` float32 per-vertex attributes (K may
      differ per name), or None.
    view_projection_matrix: `[B, 4, 4]` float32, world to OpenGL clip space
      (points in view have -w <= z <= w; x/w, y/w in [-1, 1] with +y up).
    image_size: `(height, width)` Python ints.
    backend: `"tf"` (pure TensorFlow) or `"tfg_cpu"` (TF Graphics' kernel).
    enable_cull_face: drop back-facing (clockwise on screen) triangles.
    chunk_size: candidates per loop iteration of the `"tf"` backend.

  Returns:
    A dict with
      `mask`: `[B, H, W, 1]` float32 in {0, 1}, 1 where a triangle is visible;
      `triangle_indices`: `[B, H, W, 1]` int32 visible triangle (0 where the
        mask is 0);
      `barycentrics`: `[B, H, W, 3]` float32 perspective-correct barycentric
        coordinates of the pixel centre in the visible triangle (0 where the
        mask is 0), differentiable w.r.t. `vertices` and
        `view_projection_matrix`;
      and, for every attribute name, `[B, H, W, K]` float32 perspective-
      correctly interpolated values (0 where the mask is 0).
    Row 0 is the top of the image.

  Raises:
    ValueError: on a bad backend, image size or tensor shape.
  """
  if backend not in BACKENDS:
    raise ValueError(
        f"backend must be one of {BACKENDS}, got {backend!r}.")
  height, width = image_size_lib.parse_image_size(image_size)
  if int(chunk_size) < 1:
    raise ValueError(f"chunk_size must be a positive int, got {chunk_size}.")
  vertices = tf.convert_to_tensor(vertices, tf.float32)
  triangles = tf.convert_to_tensor(triangles, tf.int32)
  view_projection_matrix = tf.convert_to_tensor(
      view_projection_matrix, tf.float32)
  attributes = {
      name: tf.convert_to_tensor(value, tf.float32)
      for name, value in (attributes or {}).items()
  }
  _check_shapes(vertices, triangles, attributes, view_projection_matrix)
  for reserved in ("mask", "triangle_indices", "barycentrics"):
    if reserved in attributes:
      raise ValueError(
          f"attribute name {reserved!r} is reserved for an output of "
          "rasterize(); rename the attribute.")

  if backend == "tfg_cpu":
    return _rasterize_tfg_cpu(vertices, triangles, attributes,
                              view_projection_matrix, (height, width),
                              enable_cull_face)

  clip = to_clip_space(vertices, view_projection_matrix)
  triangle_ids, mask = rasterize_triangle_ids(
      tf.stop_gradient(clip), triangles, (height, width), enable_cull_face,
      chunk_size)
  return _shade_outputs(clip, triangles, triangle_ids, mask, attributes,
                        (height, width))


def to_clip_space(vertices: tf.Tensor,
                  view_projection_matrix: tf.Tensor) -> tf.Tensor:
  """Applies `[B, 4, 4]` matrices to `[B, V, 3]` points; returns `[B, V, 4]`."""
  ones = tf.ones_like(vertices[..., :1])
  homogeneous = tf.concat([vertices, ones], axis=-1)
  return tf.einsum("bij,bvj->bvi", view_projection_matrix, homogeneous)


@tf.autograph.experimental.do_not_convert
def rasterize_triangle_ids(
    clip_vertices: tf.Tensor,
    triangles: tf.Tensor,
    image_size: Tuple[int, int],
    enable_cull_face: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE) -> Tuple[tf.Tensor, tf.Tensor]:
  """Visible triangle per pixel, in pure TensorFlow (no gradients).

  Mirrors TF Graphics' `RasterizeTriangles` kernel (one layer): pixel centres
  at NDC ((2i + 1) / W - 1, (2j + 1) / H - 1); a pixel belongs to a triangle
  when all its fixed-point homogeneous edge functions are >= 0 (one > 0) and
  its NDC depth is in [-1, 1); the smallest depth wins, ties go to the lower
  triangle id.

  Args:
    clip_vertices: `[B, V, 4]` float32 clip-space vertices.
    triangles: `[T, 3]` int32 vertex indices.
    image_size: `(height, width)` Python ints.
    enable_cull_face: drop triangles that are clockwise on screen.
    chunk_size: (triangle, pixel) candidates per loop iteration.

  Returns:
    `triangle_ids` `[B, H, W]` int32 and `mask` `[B, H, W]` float32, rows in
    the kernel's bottom-up order (row 0 at NDC y = -1).
  """
  height, width = image_size
  clip_vertices = tf.convert_to_tensor(clip_vertices, tf.float32)
  triangles = tf.convert_to_tensor(triangles, tf.int32)
  batch = tf.shape(clip_vertices)[0]
  num_triangles = tf.shape(triangles)[0]
  num_pixels = batch * height * width

  left, right, bottom, top = _pixel_bounds(clip_vertices, triangles, height,
                                           width)  # each [B * T]
  span_x = tf.maximum(right - left + 1, 0)
  span_y = tf.maximum(top - bottom + 1, 0)
  # Keep only triangles whose box holds a pixel centre; `flat` indexes B * T.
  flat = tf.cast(tf.where(span_x * span_y > 0)[:, 0], tf.int32)
  left, bottom, span_x, span_y = (
      tf.gather(c, flat) for c in (left, bottom, span_x, span_y))
  num_vertices = tf.shape(clip_vertices)[1]
  corner_ids = (tf.gather(triangles, flat % num_triangles) +
                (flat // num_triangles * num_vertices)[:, None])  # [N, 3]
  corners = tf.gather(tf.reshape(clip_vertices, [-1, 4]), corner_ids)
  x, y, z, w = tf.unstack(corners, axis=-1)  # each [N, 3]

  # Fixed-point unnormalized inverse of [[x0 x1 x2], [y0 y1 y2], [w0 w1 w2]]
  # (rasterize_triangles_impl.cc: ComputeUnnormalizedMatrixInverse).
  # Kept as lists of [N] columns: no int64 pack/unpack (slow on CPU, and
  # without GPU kernels).
  fixed = lambda c: tf.cast(c * _FIXED_ONE, tf.int64)
  a11, a12, a13 = (fixed(c) for c in tf.unstack(x, axis=-1))
  a21, a22, a23 = (fixed(c) for c in tf.unstack(y, axis=-1))
  a31, a32, a33 = (fixed(c) for c in tf.unstack(w, axis=-1))
  m = [
      a22 * a33 - a32 * a23, a13 * a32 - a33 * a12, a12 * a23 - a22 * a13,
      a23 * a31 - a33 * a21, a11 * a33 - a31 * a13, a13 * a21 - a23 * a11,
      a21 * a32 - a31 * a22, a12 * a31 - a32 * a11, a11 * a22 - a21 * a12
  ]  # row-major 3x3, each [N]
  if not enable_cull_face:
    # Only the sign matters; float64 keeps it without int64 overflow (the
    # kernel's int64 determinant overflows once |clip coordinates| > ~30).
    as_f64 = lambda t: tf.cast(t, tf.float64)
    det = (as_f64(a11) * as_f64(m[0]) + as_f64(a12) * as_f64(m[3]) +
           as_f64(a13) * as_f64(m[6]))
    sign = tf.where(det < 0, tf.constant(-1, tf.int64),
                    tf.constant(1, tf.int64))
    m = [entry * sign for entry in m]
  # Fold the constant term's 16-bit shift into the matrix.
  for j in (2, 5, 8):
    m[j] = m[j] * (1 << 16)

  counts = tf.cast(span_x, tf.int64) * tf.cast(span_y, tf.int64)  # [N]
  ends = tf.cumsum(counts)
  starts = ends - counts
  total = tf.reduce_sum(counts)
  chunk = tf.constant(chunk_size, tf.int64)
  num_chunks = (total + chunk - 1) // chunk
  # First pixel of the box and its width packed in one int64 column.
  origin = tf.cast(bottom * width + left, tf.int64)  # < 2^32
  packed = origin + tf.bitwise.left_shift(tf.cast(span_x, tf.int64), 32)
  # Per-triangle columns, each gathered once per candidate.
  columns = m + [starts, packed, tf.cast(flat, tf.int64)]
  float_rows = tf.concat([z, w], axis=1)  # [N, 6]
  # Fixed-point pixel-centre coordinates per pixel, computed as the kernel.
  px_fixed = tf.cast(
      ((tf.range(width, dtype=tf.float32) + 0.5) / (0.5 * width) - 1.0) *
      _FIXED_ONE, tf.int64)
  py_fixed = tf.cast(
      ((tf.range(height, dtype=tf.float32) + 0.5) / (0.5 * height) - 1.0) *
      _FIXED_ONE, tf.int64)
  px_table = tf.reshape(tf.tile(px_fixed[None, :], [height, 1]), [-1])
  py_table = tf.reshape(tf.tile(py_fixed[:, None], [1, width]), [-1])
  big_id = tf.int32.max

  def body(i, zbuf, idbuf):
    first = i * chunk
    size = tf.minimum(chunk, total - first)
    # Triangle of each candidate: the one holding `first`, then +1 at every
    # later triangle start inside the chunk (no per-candidate binary search).
    bounds = tf.searchsorted(ends, tf.stack([first, first + size - 1]),
                             side="right", out_type=tf.int32)
    later = tf.range(bounds[0] + 1, bounds[1] + 1)
    marks = tf.math.unsorted_segment_sum(
        tf.ones_like(later), tf.cast(tf.gather(starts, later) - first,
                                     tf.int32), tf.cast(size, tf.int32))
    n = bounds[0] + tf.cumsum(marks)  # [C]
    m0, m1, m2, m3, m4, m5, m6, m7, m8, start, fields, flat_n = (
        tf.gather(column, n) for column in columns)
    origin_n = tf.cast(tf.bitwise.bitwise_and(fields, (1 << 32) - 1),
                       tf.int32)
    span_n = tf.cast(tf.bitwise.right_shift(fields, 32), tf.int32)
    offset = (tf.cast(first - start, tf.int32) +
              tf.range(tf.cast(size, tf.int32)))
    dy = offset // span_n
    local = origin_n + offset + dy * (width - span_n)  # pixel in the image
    px_i = tf.gather(px_table, local)
    py_i = tf.gather(py_table, local)
    e0 = m0 * px_i + m1 * py_i + m2
    e1 = m3 * px_i + m4 * py_i + m5
    e2 = m6 * px_i + m7 * py_i + m8
    # All >= 0 and one > 0 <=> the OR of the three is > 0 (sign bit clear).
    inside = tf.bitwise.bitwise_or(tf.bitwise.bitwise_or(e0, e1), e2) > 0
    sel = tf.where(inside)[:, 0]
    e0, e1, e2 = (tf.gather(e, sel) for e in (e0, e1, e2))
    flat_n = tf.cast(tf.gather(flat_n, sel), tf.int32)
    image = flat_n // num_triangles
    pixel = image * (height * width) + tf.gather(local, sel)
    triangle = flat_n - image * num_triangles

    one_over_w = tf.cast(e0 + e1 + e2, tf.float32)
    zw = tf.gather(float_rows, tf.gather(n, sel))  # [C', 6]: z0..2, w0..2
    b0, b1, b2 = (tf.cast(e, tf.float32) / one_over_w for e in (e0, e1, e2))
    z0, z1, z2, w0, w1, w2 = tf.unstack(zw, axis=1)
    clip_z = b0 * z0 + b1 * z1 + b2 * z2
    clip_w = b0 * w0 + b1 * w1 + b2 * w2
    ndc_z = clip_z / tf.where(tf.equal(clip_w, 0.0), 1.0, clip_w)
    keep = tf.logical_and(ndc_z >= -1.0, ndc_z < 1.0)

    cand_z = tf.where(keep, ndc_z, tf.constant(float("inf")))
    chunk_z = tf.math.unsorted_segment_min(cand_z, pixel, num_pixels)
    winner = tf.logical_and(keep, tf.equal(cand_z, tf.gather(chunk_z, pixel)))
    cand_id = tf.where(winner, triangle, big_id)
    chunk_id = tf.math.unsorted_segment_min(cand_id, pixel, num_pixels)
    improved = chunk_z < zbuf
    return (i + 1, tf.where(improved, chunk_z, zbuf),
            tf.where(improved, chunk_id, idbuf))

  zbuf0 = tf.ones([num_pixels], tf.float32)
  idbuf0 = tf.zeros([num_pixels], tf.int32)
  _, zbuf, idbuf = tf.while_loop(
      lambda i, *_: i < num_chunks, body,
      (tf.constant(0, tf.int64), zbuf0, idbuf0),
      parallel_iterations=1)
  mask = tf.cast(zbuf < 1.0, tf.float32)
  ids = tf.where(zbuf < 1.0, idbuf, 0)
  shape = tf.stack([batch, height, width])
  return tf.reshape(ids, shape), tf.reshape(mask, shape)


@tf.autograph.experimental.do_not_convert
def differentiable_barycentrics(clip_vertices: tf.Tensor, triangles: tf.Tensor,
                                triangle_ids: tf.Tensor,
                                image_size: Tuple[int, int]) -> tf.Tensor:
  """Perspective-correct barycentrics of pixel centres, differentiable.

  The same construction as TF Graphics' `barycentrics.
  differentiable_barycentrics` (homogeneous 2D edge functions of the clip-space
  x, y, w, normalized to sum 1), evaluated only for each pixel's triangle.

  Args:
    clip_vertices: `[B, V, 4]` float32 clip-space vertices.
    triangles: `[T, 3]` int32.
    triangle_ids: `[B, H, W]` int32, rows bottom-up (kernel order).
    image_size: `(height, width)`.

  Returns:
    `[B, H, W, 3]` float32 barycentrics (not masked).
  """
  height, width = image_size
  xyw = tf.gather(clip_vertices, [0, 1, 3], axis=-1)  # [B, V, 3]
  vertex_ids = tf.gather(triangles, triangle_ids)  # [B, H, W, 3]
  corners = tf.gather(xyw, vertex_ids, batch_dims=1)  # [B, H, W, 3, 3]
  v0, v1, v2 = tf.unstack(corners, axis=-2)
  px = (2.0 * tf.range(width, dtype=tf.float32) + 1.0) / width - 1.0
  py = (2.0 * tf.range(height, dtype=tf.float32) + 1.0) / height - 1.0
  gx, gy = tf.meshgrid(px, py)
  point = tf.stack([gx, gy, tf.ones_like(gx)], axis=-1)  # [H, W, 3]
  point = tf.broadcast_to(point, tf.shape(v0))
  edges = tf.stack([
      tf.reduce_sum(tf.linalg.cross(v1, v2) * point, axis=-1),
      tf.reduce_sum(tf.linalg.cross(v2, v0) * point, axis=-1),
      tf.reduce_sum(tf.linalg.cross(v0, v1) * point, axis=-1),
  ], axis=-1)
  return tf.math.divide_no_nan(edges, tf.reduce_sum(edges, -1, keepdims=True))


@tf.autograph.experimental.do_not_convert
def interpolate_attribute(attribute: tf.Tensor, triangles: tf.Tensor,
                          triangle_ids: tf.Tensor,
                          barycentrics: tf.Tensor) -> tf.Tensor:
  """Interpolates `[B, V, K]` vertex values to `[B, H, W, K]` pixels.

  Args:
    attribute: `[B, V, K]` float32.
    triangles: `[T, 3]` int32.
    triangle_ids: `[B, H, W]` int32.
    barycentrics: `[B, H, W, 3]` float32 (already masked if needed).

  Returns:
    `[B, H, W, K]` float32, `sum_i barycentrics_i * attribute[vertex_i]`.
  """
  vertex_ids = tf.gather(triangles, triangle_ids)  # [B, H, W, 3]
  corners = tf.gather(attribute, vertex_ids, batch_dims=1)  # [B,H,W,3,K]
  return tf.reduce_sum(corners * barycentrics[..., None], axis=-2)


def _shade_outputs(clip, triangles, triangle_ids, mask, attributes,
                   image_size) -> Dict[str, tf.Tensor]:
  """Barycentrics and attributes from bottom-up ids; returns top-down dict."""
  mask = mask[..., None]
  barycentrics = differentiable_barycentrics(clip, triangles, triangle_ids,
                                             image_size) * mask
  outputs = {
      "mask": mask,
      "triangle_indices": triangle_ids[..., None],
      "barycentrics": barycentrics,
  }
  for name, attribute in attributes.items():
    outputs[name] = interpolate_attribute(attribute, triangles, triangle_ids,
                                          barycentrics) * mask
  return {name: tf.reverse(value, axis=[1]) for name, value in outputs.items()}


def _rasterize_tfg_cpu(vertices, triangles, attributes, view_projection_matrix,
                       image_size, enable_cull_face) -> Dict[str, tf.Tensor]:
  """TF Graphics' `triangle_rasterizer.rasterize` on the rebuilt CPU kernel."""
  if vertices.shape[0] is None:
    raise ValueError(
        "backend='tfg_cpu' needs a static batch size (TF Graphics loops over "
        "the batch in Python); use backend='tf' for a dynamic batch.")
  from tfface.rendering import kernel_build  # pylint: disable=g-import-not-at-top
  kernel_build.ensure_rasterizer_kernel()
  # Imported only after the kernel is registered in sys.modules.
  from tensorflow_graphics.rendering import rasterization_backend  # pylint: disable=g-import-not-at-top
  from tensorflow_graphics.rendering import triangle_rasterizer  # pylint: disable=g-import-not-at-top
  with tf.device("/cpu:0"):
    outputs = triangle_rasterizer.rasterize(
        vertices, triangles, attributes, view_projection_matrix, image_size,
        enable_cull_face=enable_cull_face,
        backend=rasterization_backend.RasterizationBackends.CPU)
  outputs = dict(outputs)
  outputs["triangle_indices"] = tf.cast(outputs["triangle_indices"], tf.int32)
  return {name: tf.reverse(value, axis=[1]) for name, value in outputs.items()}


def _pixel_bounds(clip_vertices, triangles, height, width):
  """Inclusive pixel ranges whose centres may lie in each triangle.

  Uses the visible corners (w > 0, z >= -w) and, for edges crossing the near
  plane, the crossing points, as the kernel does.

  Args:
    clip_vertices: `[B, V, 4]` clip-space vertices.
    triangles: `[T, 3]` int32.
    height, width: image size.

  Returns:
    `left, right, bottom, top`: `[B * T]` int32, inclusive; empty when
    right < left or top < bottom.
  """
  x, y, z, w = tf.unstack(clip_vertices, axis=-1)  # [B, V]
  visible = tf.logical_and(w > 0, z >= -w)

  def to_pixels(px, py, pw):
    return (0.5 * (px / pw + 1.0) * width, 0.5 * (py / pw + 1.0) * height)

  def all_visible():
    # Project each vertex once, then take extremes per triangle.
    sx, sy = to_pixels(x, y, w)
    corners = tf.gather(tf.stack([sx, sy], axis=-1), triangles, axis=1)
    corners = tf.reshape(corners, [-1, 3, 2])
    return (tf.reduce_min(corners, axis=1), tf.reduce_max(corners, axis=1))

  def with_near_plane():
    corners = tf.reshape(tf.gather(clip_vertices, triangles, axis=1),
                         [-1, 3, 4])
    cx, cy, cz, cw = tf.unstack(corners, axis=-1)  # [N, 3]
    vis = tf.logical_and(cw > 0, cz >= -cw)
    points_x, points_y, points_w, valid = [cx], [cy], [cw], [vis]
    for i, j in ((0, 1), (0, 2), (1, 2)):
      denom = cz[:, i] - cz[:, j] + cw[:, i] - cw[:, j]
      t = (cz[:, i] + cw[:, i]) / tf.where(tf.equal(denom, 0.0), 1.0, denom)
      crosses = tf.logical_and(
          tf.not_equal(vis[:, i], vis[:, j]), tf.not_equal(denom, 0.0))
      points_x.append((cx[:, i] + t * (cx[:, j] - cx[:, i]))[:, None])
      points_y.append((cy[:, i] + t * (cy[:, j] - cy[:, i]))[:, None])
      points_w.append((cw[:, i] + t * (cw[:, j] - cw[:, i]))[:, None])
      valid.append(crosses[:, None])
    px, py, pw, ok = (tf.concat(c, axis=1)
                      for c in (points_x, points_y, points_w, valid))
    ok = tf.logical_and(ok, pw > 0)
    sx, sy = to_pixels(px, py, tf.where(ok, pw, 1.0))
    big = tf.constant(1e9, tf.float32)
    lo = tf.stack([tf.reduce_min(tf.where(ok, sx, big), axis=1),
                   tf.reduce_min(tf.where(ok, sy, big), axis=1)], axis=-1)
    hi = tf.stack([tf.reduce_max(tf.where(ok, sx, -big), axis=1),
                   tf.reduce_max(tf.where(ok, sy, -big), axis=1)], axis=-1)
    return lo, hi

  # Most meshes lie wholly in front of the near plane: skip the crossings.
  lo, hi = tf.cond(tf.reduce_all(visible), all_visible, with_near_plane)
  # Pixel units: pixel i has its centre at i + 0.5.
  size = tf.constant([width, height], tf.float32)
  first = tf.math.ceil(tf.clip_by_value(lo - 0.5 - _BBOX_EPS, -1.0, size))
  last = tf.floor(tf.clip_by_value(hi - 0.5 + _BBOX_EPS, -1.0, size))
  first = tf.maximum(tf.cast(first, tf.int32), 0)
  last = tf.minimum(tf.cast(last, tf.int32), tf.constant([width - 1,
                                                          height - 1]))
  return first[:, 0], last[:, 0], first[:, 1], last[:, 1]


def _check_shapes(vertices, triangles, attributes, view_projection_matrix):
  if vertices.shape.rank != 3 or vertices.shape[-1] != 3:
    raise ValueError(
        f"vertices must be [B, V, 3], got shape {vertices.shape}.")
  if triangles.shape.rank != 2 or triangles.shape[-1] != 3:
    raise ValueError(
        f"triangles must be [T, 3] int32, got shape {triangles.shape}.")
  if triangles.shape[0] == 0:
    raise ValueError("triangles is empty; expected at least one [T, 3] row.")
  if (view_projection_matrix.shape.rank != 3 or
      view_projection_matrix.shape[1:] != (4, 4)):
    raise ValueError("view_projection_matrix must be [B, 4, 4], got shape "
                     f"{view_projection_matrix.shape}.")
  batch = vertices.shape[0]
  if not _compatible(batch, view_projection_matrix.shape[0]):
    raise ValueError(
        f"view_projection_matrix batch {view_projection_matrix.shape[0]} does "
        f"not match vertices batch {batch}.")
  for name, value in attributes.items():
    if value.shape.rank != 3:
      raise ValueError(
          f"attribute {name!r} must be [B, V, K], got shape {value.shape}.")
    if not (_compatible(value.shape[0], batch) and
            _compatible(value.shape[1], vertices.shape[1])):
      raise ValueError(
          f"attribute {name!r} has shape {value.shape}; expected "
          f"[{batch}, {vertices.shape[1]}, K] to match vertices.")


def _compatible(a, b) -> bool:
  return a is None or b is None or a == b
