"""The 2-D expression flow between two posed faces (DiscoFaceGAN stage 2).

DiscoFaceGAN's expression-warp loss (``Exp_warp_loss`` of the reference,
§3.4 of the notes) compares face 2 with face 1 warped into face 2's
expression. The flow comes from the 3-D face model, not from the images:
project both posed shapes, take each vertex's 2-D displacement, render shape
2 with that displacement as its per-vertex "colour", zero off the face.

Sign convention. The reference renders ``F = (-(v1 - v2), u1 - u2)`` (its
projected ``v`` grows upward, so ``F`` is ``(row1 - row2, col1 - col2)``)
and warps with ``dense_image_warp(fake1, -F)``. :func:`render_expression_flow`
returns the flow already negated::

    flow[b, y, x] = P2(vertex) - P1(vertex)   as (row, column) pixels,

for the vertex of face 2 visible at pixel ``(y, x)``, so that
``tfface.layers.image_warp.dense_image_warp(fake_1, flow)`` samples
``fake_1`` at ``(y, x) - flow = P1(vertex)``: fake 1 moved into face 2's
expression, exactly the reference's ``dense_image_warp(fake1, -F)``.

The outputs are training targets: like the reference (whose shapes come
from ``tf.stop_gradient``-ed VAE decoders) no gradient flows through them.
"""

from typing import Mapping, Optional, Tuple, Union

import numpy as np
import tensorflow as tf

from tfface.rendering import face_renderer as face_renderer_lib
from tfface.rendering import rasterizer

Coefficients = Union[Mapping[str, tf.Tensor], tf.Tensor]


def _params(renderer, coefficients: Coefficients, what: str):
  """Renderer params from a dict of groups or a flat `[B, N]` vector."""
  if isinstance(coefficients, Mapping):
    return coefficients
  coefficients = tf.convert_to_tensor(coefficients, tf.float32)
  layout = renderer.coefficient_layout
  if coefficients.shape.rank != 2 or coefficients.shape[-1] != layout.size:
    raise ValueError(
        f"render_expression_flow: {what} has shape {coefficients.shape}; "
        f"expected a dict of groups or a flat [B, {layout.size}] vector "
        f"({layout.describe()}).")
  return layout.split(coefficients)


def region_triangles(model, region: Optional[str],
                     threshold: float = 0.5) -> np.ndarray:
  """The model's triangles whose three vertices all lie in a region.

  DiscoFaceGAN draws only the ``gan_mask`` face region (``gan_tl`` is
  ``tri`` restricted to it, §1.1 of the notes); ``region`` plays that part.

  Args:
    model: a `FaceModel`.
    region: a name of `model.region_weights()` (e.g. ``"face"`` for the
      procedural model), or None for every triangle.
    threshold: a vertex is in the region when its weight exceeds this.

  Returns:
    `[T', 3]` int32 triangles.

  Raises:
    ValueError: on an unknown region, or one that keeps no triangle.
  """
  triangles = np.asarray(model.triangles, np.int32)
  if region is None:
    return triangles
  regions = model.region_weights()
  if region not in regions:
    raise ValueError(f"render_expression_flow: region {region!r} is not a "
                     f"region of {type(model).__name__}; expected one of "
                     f"{sorted(regions)} or None.")
  inside = np.asarray(regions[region]) > threshold
  kept = triangles[np.all(inside[triangles], axis=1)]
  if not len(kept):
    raise ValueError(f"render_expression_flow: region {region!r} holds no "
                     "whole triangle.")
  return kept


@tf.autograph.experimental.do_not_convert
def render_expression_flow(
    renderer: face_renderer_lib.FaceRenderer,
    coefficients_1: Coefficients,
    coefficients_2: Coefficients,
    region: Optional[str] = None,
) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Renders the flow that moves face 1 onto face 2, and both face masks.

  Args:
    renderer: a `FaceRenderer`; its model, camera, image size, backend and
      culling are used (the procedural model, or BFM).
    coefficients_1: face 1, what `renderer.render` takes: a dict of `[B, n]`
      groups (the model's, `pose` radians, `sh`, `translation`) or a flat
      `[B, N]` vector in `renderer.coefficient_layout`.
    coefficients_2: face 2, the same structure and batch size (DiscoFaceGAN:
      the same identity, pose and light, another expression).
    region: restrict the rendered mesh to this region of
      `renderer.model.region_weights()` (the reference draws only its
      ``gan_mask`` face region); None draws every triangle.

  Returns:
    `(flow, mask_1, mask_2)`:
      flow: `[B, H, W, 2]` float32 `(dy, dx)` pixels, `P2 − P1` of the vertex
        of face 2 seen at each pixel, 0 where face 2 is not drawn; use it as
        `dense_image_warp(fake_1, flow)` (see the module docstring).
      mask_1, mask_2: `[B, H, W, 1]` float32 in {0, 1}, where face 1 / face 2
        is drawn.
    No gradient flows to the coefficients.

  Raises:
    ValueError: on bad coefficients or region.
  """
  params_1 = _params(renderer, coefficients_1, "coefficients_1")
  params_2 = _params(renderer, coefficients_2, "coefficients_2")
  posed_1 = renderer.posed_vertices(params_1)
  posed_2 = renderer.posed_vertices(params_2)
  # camera.project gives (x, y) pixels, y down; the flow is (row, column).
  displacement = (renderer.camera.project(posed_2) -
                  renderer.camera.project(posed_1))
  displacement = tf.reverse(displacement, axis=[-1])
  triangles = region_triangles(renderer.model, region)
  batch = tf.shape(posed_1)[0]
  matrix = renderer.camera.view_projection_matrix(batch)

  def draw(posed, attributes):
    return rasterizer.rasterize(
        posed, triangles, attributes, matrix, renderer.image_size,
        backend=renderer.backend, enable_cull_face=renderer.enable_cull_face)

  raster_2 = draw(posed_2, {"flow": displacement})
  raster_1 = draw(posed_1, None)
  flow = raster_2["flow"] * raster_2["mask"]
  return (tf.stop_gradient(flow), tf.stop_gradient(raster_1["mask"]),
          tf.stop_gradient(raster_2["mask"]))
